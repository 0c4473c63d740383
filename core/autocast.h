// Mixed-precision autocast for a scope (training forward passes, scoring).
#pragma once
#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>

#include <string>

#include "core/error.h"

namespace smlab {

/// Mixed precision of forward passes (train.amp): none, bf16 autocast, or fp16 autocast (with the
/// trainer's loss scaler).
enum class Amp { None, BF16, FP16 };

/// "none" (or "fp32"), "bf16", "fp16". Anything else is a UserError naming `what` (the setting).
inline Amp parse_amp(const std::string& precision, const std::string& what = "precision") {
  if (precision == "none" || precision == "fp32") return Amp::None;
  if (precision == "bf16") return Amp::BF16;
  if (precision == "fp16") return Amp::FP16;
  throw UserError(what + " '" + precision + "' is not a precision: use none, bf16 or fp16");
}

inline const char* amp_name(Amp amp) { return amp == Amp::None ? "none" : amp == Amp::BF16 ? "bf16" : "fp16"; }

/// Enables autocast on `device`'s type for the scope when `amp` is BF16 or FP16.
struct AutocastScope {
  bool on = false;
  c10::DeviceType type;
  AutocastScope(const c10::Device& device, Amp amp) : type(device.type()) {
    if (amp == Amp::None) return;
    on = true;
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, amp == Amp::FP16 ? at::kHalf : at::kBFloat16);
    at::autocast::increment_nesting();
  }
  /// The same from a precision name ("none", "fp32", "bf16", "fp16"), for callers that hold one.
  AutocastScope(const c10::Device& device, const std::string& precision) : AutocastScope(device, parse_amp(precision)) {}
  ~AutocastScope() {
    if (!on) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(type, false);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;
};

}  // namespace smlab
