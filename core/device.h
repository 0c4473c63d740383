// Device selection from config strings, with plain errors when a GPU is asked for but absent.
#pragma once
#include <c10/core/Device.h>

#include <string>

namespace smlab {

/// "auto" -> cuda:0 when a GPU is present, else cpu; "cpu"; "cuda" / "cuda:N".
/// Throws UserError when CUDA is requested on a machine without a GPU, or N is out of range.
c10::Device resolve_device(const std::string& spec);

}  // namespace smlab
