// CPU reference for normalize_u8. Formula: out[n,c,h,w] = (in[n,h,w,c]/255 - mean[c]) / std[c],
// computed as in[...] * scale[c] + shift[c] with scale = 1/(255 std), shift = -mean/std (float32).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "cuda/normalize_common.h"

namespace smlab::ops {
namespace {

at::Tensor normalize_u8_cpu(const at::Tensor& input, c10::ArrayRef<double> mean, c10::ArrayRef<double> std) {
  detail::check_normalize_args(input, mean, std);
  const at::Tensor x = input.contiguous();
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  at::Tensor out = at::empty({N, C, H, W}, x.options().dtype(at::kFloat));
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = static_cast<float>(1.0 / (255.0 * std[c]));
    shift[c] = static_cast<float>(-mean[c] / std[c]);
  }
  const uint8_t* src = x.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  const int64_t HW = H * W;
  at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / C, c = nc % C;
      const uint8_t* s = src + n * HW * C + c;
      float* d = dst + nc * HW;
      for (int64_t i = 0; i < HW; ++i) d[i] = static_cast<float>(s[i * C]) * scale[c] + shift[c];
    }
  });
  return out;
}

}  // namespace
}  // namespace smlab::ops

TORCH_LIBRARY_IMPL(smlab, CPU, m) { m.impl("normalize_u8", &smlab::ops::normalize_u8_cpu); }
