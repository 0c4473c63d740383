// smlab's augmentation ops, registered with the dispatcher as `torch.ops.smlab.*`.
//
// Each op has a CPU implementation (`*_cpu.cpp`, the reference) and a CUDA one
// (`*_cuda.cu`). The schema is declared once in ops_schema.cpp.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

namespace smlab::ops {

/// Makes sure the `smlab` op library is linked in and registered. Called by register_all().
/// Returns the number of ops in the schema.
int ensure_registered();

/// uint8 NHWC images -> float32 NCHW, normalised per channel:
///   out[n,c,h,w] = (in[n,h,w,c] / 255 - mean[c]) / std[c]
/// Dispatches to the CPU or CUDA kernel by the input's device.
///
/// Example:
///   auto x = torch::randint(0, 256, {8, 32, 32, 3}, torch::kUInt8);
///   auto y = smlab::ops::normalize_u8(x, {0.49, 0.48, 0.45}, {0.25, 0.24, 0.26});
at::Tensor normalize_u8(const at::Tensor& images_nhwc, const std::vector<double>& mean,
                        const std::vector<double>& std);

}  // namespace smlab::ops
