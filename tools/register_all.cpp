#include "tools/register_all.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>

#include "core/components.h"
#include "cuda/ops.h"
#include "datasets/augment.h"
#include "datasets/dataset.h"
#include "datasets/image_limits.h"
#include "inference/readers.h"
#include "inference/writers.h"
#include "models/model.h"
#include "trainers/optim.h"

namespace smlab {

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    // OpenCV's own decode limit, for formats whose header smlab does not read (datasets/image_limits.h).
    ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(datasets::max_image_pixels()).c_str(), /*overwrite=*/0);
    ops::ensure_registered();
    models::register_builtin();
    datasets::register_builtin();
    datasets::register_augmentations();
    trainers::register_builtin();
    inference::register_readers();
    inference::register_writers();
  });
}

std::map<std::string, std::vector<std::string>> registry_catalog() {
  register_all();
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [kind, view] : registry_views()) out[kind + (kind.back() == 's' ? "es" : "s")] = view.names();
  // The custom ops, as the dispatcher knows them (cuda/ops_schema.cpp declares them).
  auto& ops = out["ops"];
  for (const auto& op : c10::Dispatcher::singleton().getAllOpNames())
    if (op.name.rfind("smlab::", 0) == 0) ops.push_back(op.name);
  std::sort(ops.begin(), ops.end());
  return out;
}

}  // namespace smlab
