// Mixed-precision autocast for a scope (training forward passes, scoring).
#pragma once
#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

#include <string>

namespace smlab {

/// Enables autocast on `device`'s type for the scope when `precision` is "bf16" or "fp16";
/// "none" and "fp32" leave it off.
struct AutocastScope {
  bool on = false;
  c10::DeviceType type;
  AutocastScope(const c10::Device& device, const std::string& precision) : type(device.type()) {
    if (precision == "none" || precision == "fp32") return;
    on = true;
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, precision == "fp16" ? at::kHalf : at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!on) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(type, false);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;
};

}  // namespace smlab
