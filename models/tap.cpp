#include "models/tap.h"

namespace smlab::models {
namespace {
thread_local TapFn current_tap;
}

torch::Tensor tap(const std::string& name, const torch::Tensor& t) {
  if (!current_tap) return t;
  return current_tap(name, t);
}

TapScope::TapScope(TapFn fn) : previous_(std::move(current_tap)) { current_tap = std::move(fn); }

TapScope::~TapScope() { current_tap = std::move(previous_); }

TapPrefix::TapPrefix(const std::string& prefix) {
  if (!current_tap) return;
  scope_.emplace([outer = current_tap, prefix](const std::string& name, const torch::Tensor& t) {
    return outer(prefix + name, t);
  });
}

}  // namespace smlab::models
