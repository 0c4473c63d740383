#include "core/register_all.h"

#include <mutex>

#include "cuda/ops.h"

namespace smlab {

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] { ops::ensure_registered(); });
}

}  // namespace smlab

namespace smlab {

std::map<std::string, std::vector<std::string>> registry_catalog() {
  register_all();
  std::map<std::string, std::vector<std::string>> out;
  out["ops"] = {"smlab::normalize_u8"};
  return out;
}

}  // namespace smlab
