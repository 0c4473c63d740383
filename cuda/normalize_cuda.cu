// CUDA kernel for normalize_u8 (CPU reference: normalize_cpu.cpp, same formula and float32 arithmetic):
//   out[n,c,h,w] = in[n,h,w,c] * scale[c] + shift[c],  scale = 1/(255 std), shift = -mean/std.
// One thread per output element; writes are coalesced along w, reads stride by C.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "cuda/normalize_common.h"

namespace smlab::ops {
namespace {

constexpr int kMaxChannels = 8;
struct Affine {
  float scale[kMaxChannels];
  float shift[kMaxChannels];
};

__global__ void normalize_u8_kernel(const uint8_t* __restrict__ src, float* __restrict__ dst, int64_t total,
                                    int64_t C, int64_t HW, Affine aff) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t hw = i % HW;
    const int64_t nc = i / HW;
    const int64_t c = nc % C, n = nc / C;
    dst[i] = static_cast<float>(src[(n * HW + hw) * C + c]) * aff.scale[c] + aff.shift[c];
  }
}

at::Tensor normalize_u8_cuda(const at::Tensor& input, c10::ArrayRef<double> mean, c10::ArrayRef<double> std) {
  detail::check_normalize_args(input, mean, std);
  TORCH_CHECK(input.size(3) <= kMaxChannels, "normalize_u8 (CUDA): at most ", kMaxChannels, " channels");
  const c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor x = input.contiguous();
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  at::Tensor out = at::empty({N, C, H, W}, x.options().dtype(at::kFloat));
  Affine aff{};
  for (int64_t c = 0; c < C; ++c) {
    aff.scale[c] = static_cast<float>(1.0 / (255.0 * std[c]));
    aff.shift[c] = static_cast<float>(-mean[c] / std[c]);
  }
  const int64_t total = out.numel();
  if (total == 0) return out;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535LL * 8);
  normalize_u8_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
      x.data_ptr<uint8_t>(), out.data_ptr<float>(), total, C, H * W, aff);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace
}  // namespace smlab::ops

TORCH_LIBRARY_IMPL(smlab, CUDA, m) { m.impl("normalize_u8", &smlab::ops::normalize_u8_cuda); }
