// Argument checks shared by the CPU and CUDA normalize_u8 kernels.
#pragma once
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace smlab::ops::detail {

inline void check_normalize_args(const at::Tensor& x, c10::ArrayRef<double> mean, c10::ArrayRef<double> std) {
  TORCH_CHECK(x.dim() == 4, "normalize_u8: expected uint8 NHWC images of rank 4, got rank ", x.dim());
  TORCH_CHECK(x.scalar_type() == at::kByte, "normalize_u8: expected uint8 input, got ", x.scalar_type());
  const int64_t c = x.size(3);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c,
              "normalize_u8: mean and std need one value per channel (", c, "), got ", mean.size(), " and ",
              std.size());
  for (double s : std) TORCH_CHECK(s > 0, "normalize_u8: std values must be > 0, got ", s);
}

}  // namespace smlab::ops::detail
