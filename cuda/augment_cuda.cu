// CUDA kernels of the augmentation ops. CPU reference: augment_cpu.cpp; the per-pixel formulas are
// the shared host/device functions of augment_common.h, so both backends run the same float32
// arithmetic. One launch covers the whole batch; per-sample parameters travel as descriptors
// (DALI style). Kernels run on at::cuda::getCurrentCUDAStream().
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/BFloat16.h>
#include <torch/library.h>

#include <cstring>

#include "cuda/augment_common.h"

namespace smlab::ops {
namespace {

using detail::NormAffine;
using detail::SampleDesc;

constexpr int kThreads = 256;

int64_t grid_for(int64_t total) { return std::max<int64_t>(1, std::min<int64_t>((total + kThreads - 1) / kThreads, 65535LL * 8)); }

/// Descriptors to the device (one small synchronous copy per call).
at::Tensor descs_to_device(const std::vector<SampleDesc>& d, const at::Device& dev) {
  const int64_t bytes = static_cast<int64_t>(d.size() * sizeof(SampleDesc));
  at::Tensor host = at::empty({std::max<int64_t>(bytes, 1)}, at::TensorOptions().dtype(at::kByte));
  if (bytes > 0) std::memcpy(host.data_ptr<uint8_t>(), d.data(), bytes);
  return host.to(dev);
}

/// Pass 1 (only for samples with contrast != 1): sum of the luma of the cropped/resized/flipped/
/// brightness-adjusted image, per sample. blockIdx.y = sample; float64 partial sums, one atomicAdd per block.
__global__ void contrast_sum_kernel(const uint8_t* __restrict__ src, int32_t H, int32_t W,
                                    const SampleDesc* __restrict__ descs, int32_t oh, int32_t ow,
                                    double* __restrict__ sums) {
  const int n = blockIdx.y;
  const SampleDesc d = descs[n];
  if (d.contrast == 1.f) return;  // uniform over the block
  const uint8_t* img = src + static_cast<int64_t>(n) * H * W * 3;
  const int64_t P = static_cast<int64_t>(oh) * ow;
  double acc = 0;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < P;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float rgb[3];
    detail::pixel_pre_contrast(img, W, d, static_cast<int32_t>(p / ow), static_cast<int32_t>(p % ow), ow, rgb);
    acc += detail::luma(rgb);
  }
  __shared__ double buf[kThreads];
  buf[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(sums + n, buf[0]);
}

/// Pass 2: one thread per output pixel, all 3 channels; writes through the output strides
/// (NCHW or channels_last), float32 or bfloat16 (round to nearest even).
template <typename T>
__global__ void image_kernel(const uint8_t* __restrict__ src, int32_t H, int32_t W,
                             const SampleDesc* __restrict__ descs, const double* __restrict__ sums, int64_t N,
                             int32_t oh, int32_t ow, NormAffine aff, T* __restrict__ dst, int64_t sN, int64_t sC,
                             int64_t sH, int64_t sW) {
  const int64_t P = static_cast<int64_t>(oh) * ow;
  const int64_t total = N * P;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / P, p = idx % P;
    const int32_t i = static_cast<int32_t>(p / ow), j = static_cast<int32_t>(p % ow);
    const SampleDesc d = descs[n];
    const uint8_t* img = src + n * H * W * 3;
    float rgb[3];
    detail::pixel_pre_contrast(img, W, d, i, j, ow, rgb);
    // mean luma = sum / (out_h out_w), rounded to float as on the CPU
    const float mean = d.contrast == 1.f ? 0.f : static_cast<float>(sums[n] / static_cast<double>(P));
    detail::pixel_post_contrast(d, mean, rgb);
    T* o = dst + n * sN + i * sH + j * sW;
    o[0] = static_cast<T>(rgb[0] * aff.scale[0] + aff.shift[0]);
    o[sC] = static_cast<T>(rgb[1] * aff.scale[1] + aff.shift[1]);
    o[2 * sC] = static_cast<T>(rgb[2] * aff.scale[2] + aff.shift[2]);
  }
}

at::Tensor run_image(const at::Tensor& images, const std::vector<SampleDesc>& d, int64_t out_h, int64_t out_w,
                     c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                     std::optional<at::ScalarType> dtype, const char* op) {
  const NormAffine aff = detail::make_affine(mean, std, op);
  const c10::cuda::CUDAGuard guard(images.device());
  const at::Tensor x = images.contiguous();
  const int64_t N = x.size(0);
  at::Tensor out = detail::make_image_output(x, N, out_h, out_w, channels_last, dtype, op);
  if (out.numel() == 0) return out;
  TORCH_CHECK(N <= 65535, op, " (CUDA): at most 65535 images per call");
  const at::Tensor dd = descs_to_device(d, x.device());
  const auto* descs = reinterpret_cast<const SampleDesc*>(dd.data_ptr<uint8_t>());
  at::Tensor sums = at::zeros({N}, x.options().dtype(at::kDouble));
  auto stream = at::cuda::getCurrentCUDAStream();
  const int32_t H = static_cast<int32_t>(x.size(1)), W = static_cast<int32_t>(x.size(2));
  const int32_t oh = static_cast<int32_t>(out_h), ow = static_cast<int32_t>(out_w);
  bool any_contrast = false;
  for (const auto& s : d) any_contrast |= s.contrast != 1.f;
  if (any_contrast) {
    const int64_t bx = std::min<int64_t>((static_cast<int64_t>(oh) * ow + kThreads - 1) / kThreads, 64);
    contrast_sum_kernel<<<dim3(static_cast<unsigned>(bx), static_cast<unsigned>(N)), kThreads, 0, stream>>>(
        x.data_ptr<uint8_t>(), H, W, descs, oh, ow, sums.data_ptr<double>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  const int64_t blocks = grid_for(out.numel() / 3);
  if (out.scalar_type() == at::kFloat) {
    image_kernel<float><<<blocks, kThreads, 0, stream>>>(x.data_ptr<uint8_t>(), H, W, descs, sums.data_ptr<double>(),
                                                         N, oh, ow, aff, out.data_ptr<float>(), out.stride(0),
                                                         out.stride(1), out.stride(2), out.stride(3));
  } else {
    image_kernel<c10::BFloat16><<<blocks, kThreads, 0, stream>>>(
        x.data_ptr<uint8_t>(), H, W, descs, sums.data_ptr<double>(), N, oh, ow, aff,
        out.data_ptr<c10::BFloat16>(), out.stride(0), out.stride(1), out.stride(2), out.stride(3));
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor augment_image_cuda(const at::Tensor& images, const at::Tensor& params, int64_t out_h, int64_t out_w,
                              c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                              std::optional<at::ScalarType> dtype) {
  const auto d = detail::descs_from_params(images, params, out_h, out_w);
  return run_image(images, d, out_h, out_w, mean, std, channels_last, dtype, "augment_image");
}

at::Tensor augment_eval_cuda(const at::Tensor& images, int64_t resize, int64_t out_h, int64_t out_w,
                             c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                             std::optional<at::ScalarType> dtype) {
  const auto d = detail::descs_for_eval(images, resize, out_h, out_w);
  return run_image(images, d, out_h, out_w, mean, std, channels_last, dtype, "augment_eval");
}

// grayscale: g = 0.2989 R + 0.587 G + 0.114 B, copied to every output channel.
__global__ void grayscale_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t N, int64_t HW,
                                 int64_t oc) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < N * HW;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, p = idx % HW;
    const float* r = src + n * 3 * HW;
    const float rgb[3] = {r[p], r[HW + p], r[2 * HW + p]};
    const float g = detail::luma(rgb);
    for (int64_t c = 0; c < oc; ++c) dst[(n * oc + c) * HW + p] = g;
  }
}

at::Tensor grayscale_cuda(const at::Tensor& images, int64_t num_output_channels) {
  detail::check_float_images(images, "grayscale");
  TORCH_CHECK(images.size(1) == 3, "grayscale: expected 3 channels, got ", images.size(1));
  TORCH_CHECK(num_output_channels == 1 || num_output_channels == 3, "grayscale: num_output_channels must be 1 or 3");
  const c10::cuda::CUDAGuard guard(images.device());
  const at::Tensor x = images.contiguous();
  const int64_t N = x.size(0), HW = x.size(2) * x.size(3);
  at::Tensor out = at::empty({N, num_output_channels, x.size(2), x.size(3)}, x.options());
  if (out.numel() == 0) return out;
  grayscale_kernel<<<grid_for(N * HW), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      x.data_ptr<float>(), out.data_ptr<float>(), N, HW, num_output_channels);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

// One pass of the separable blur along rows (horizontal = true) or columns, reflect padding:
//   out[y,x] = sum_k w[n,k] in[y, reflect(x + k - K/2)]   (resp. in[reflect(y + k - K/2), x])
__global__ void blur_pass_kernel(const float* __restrict__ src, float* __restrict__ dst, const float* __restrict__ w,
                                 int64_t total, int64_t C, int32_t H, int32_t W, int32_t K, bool horizontal) {
  const int32_t R = K / 2;
  const int64_t HW = static_cast<int64_t>(H) * W;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = idx / HW;
    const int32_t y = static_cast<int32_t>((idx % HW) / W), x = static_cast<int32_t>(idx % W);
    const float* wk = w + (plane / C) * K;
    const float* in = src + plane * HW;
    float acc = 0.f;
    if (horizontal) {
      for (int32_t k = 0; k < K; ++k) acc += wk[k] * in[static_cast<int64_t>(y) * W + detail::reflect_index(x + k - R, W)];
    } else {
      for (int32_t k = 0; k < K; ++k) acc += wk[k] * in[static_cast<int64_t>(detail::reflect_index(y + k - R, H)) * W + x];
    }
    dst[idx] = acc;
  }
}

at::Tensor gaussian_blur_cuda(const at::Tensor& images, const at::Tensor& sigma, int64_t kernel_size) {
  detail::check_float_images(images, "gaussian_blur");
  TORCH_CHECK(sigma.dim() == 1 && sigma.size(0) == images.size(0), "gaussian_blur: sigma must be [N], got ",
              sigma.sizes());
  const c10::cuda::CUDAGuard guard(images.device());
  const at::Tensor wts = detail::gaussian_weights(sigma, kernel_size).to(images.device());
  const at::Tensor x = images.contiguous();
  at::Tensor tmp = at::empty_like(x), out = at::empty_like(x);
  const int64_t total = x.numel();
  if (total == 0) return out;
  auto stream = at::cuda::getCurrentCUDAStream();
  const int32_t H = static_cast<int32_t>(x.size(2)), W = static_cast<int32_t>(x.size(3));
  blur_pass_kernel<<<grid_for(total), kThreads, 0, stream>>>(x.data_ptr<float>(), tmp.data_ptr<float>(),
                                                             wts.data_ptr<float>(), total, x.size(1), H, W,
                                                             static_cast<int32_t>(kernel_size), true);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  blur_pass_kernel<<<grid_for(total), kThreads, 0, stream>>>(tmp.data_ptr<float>(), out.data_ptr<float>(),
                                                             wts.data_ptr<float>(), total, x.size(1), H, W,
                                                             static_cast<int32_t>(kernel_size), false);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

// Per-element box ops: random erasing (inside -> value) and cutmix (inside -> x[perm[n]]).
// boxes: int64 [N, 4] (y0, x0, h, w), already clipped for cutmix.
__global__ void box_kernel(const float* __restrict__ src, float* __restrict__ dst, const int64_t* __restrict__ boxes,
                           const int64_t* __restrict__ perm, float value, int64_t total, int64_t C, int64_t H,
                           int64_t W) {
  const int64_t CHW = C * H * W;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / CHW, r = idx % CHW;
    const int64_t y = (r / W) % H, x = r % W;
    const int64_t* b = boxes + n * 4;
    const bool inside = y >= b[0] && y < b[0] + b[2] && x >= b[1] && x < b[1] + b[3];
    float v = src[idx];
    if (inside) v = perm ? src[perm[n] * CHW + r] : value;
    dst[idx] = v;
  }
}

at::Tensor random_erasing_cuda(const at::Tensor& images, const at::Tensor& boxes, double value) {
  detail::check_float_images(images, "random_erasing");
  const int64_t N = images.size(0);
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == N && boxes.size(1) == 4, "random_erasing: boxes must be [N, 4]");
  const c10::cuda::CUDAGuard guard(images.device());
  const at::Tensor x = images.contiguous();
  const at::Tensor b = boxes.to(x.device(), at::kLong).contiguous();
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  box_kernel<<<grid_for(x.numel()), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      x.data_ptr<float>(), out.data_ptr<float>(), b.data_ptr<int64_t>(), nullptr, static_cast<float>(value),
      x.numel(), x.size(1), x.size(2), x.size(3));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

// mixup: out[n] = lam[n] x[n] + (1 - lam[n]) x[perm[n]]
__global__ void mixup_kernel(const float* __restrict__ src, float* __restrict__ dst, const int64_t* __restrict__ perm,
                             const float* __restrict__ lam, int64_t total, int64_t S) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / S, i = idx % S;
    const float a = lam[n], c = 1.f - lam[n];
    dst[idx] = a * src[idx] + c * src[perm[n] * S + i];
  }
}

std::tuple<at::Tensor, at::Tensor> mixup_cuda(const at::Tensor& images, const at::Tensor& targets,
                                              const at::Tensor& perm, const at::Tensor& lam) {
  detail::check_mix_args(images, targets, perm, "mixup");
  const int64_t N = images.size(0);
  TORCH_CHECK(lam.dim() == 1 && lam.size(0) == N, "mixup: lam must be [N], got ", lam.sizes());
  const c10::cuda::CUDAGuard guard(images.device());
  const at::Tensor x = images.contiguous();
  const at::Tensor p = perm.to(x.device(), at::kLong).contiguous();
  const at::Tensor l = lam.to(x.device(), at::kFloat).contiguous();
  at::Tensor out = at::empty_like(x);
  if (x.numel() > 0) {
    mixup_kernel<<<grid_for(x.numel()), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), out.data_ptr<float>(), p.data_ptr<int64_t>(), l.data_ptr<float>(), x.numel(),
        x.numel() / N);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {out, detail::mix_targets(targets, perm, lam)};
}

std::tuple<at::Tensor, at::Tensor> cutmix_cuda(const at::Tensor& images, const at::Tensor& targets,
                                               const at::Tensor& perm, const at::Tensor& boxes) {
  detail::check_mix_args(images, targets, perm, "cutmix");
  const int64_t N = images.size(0), H = images.size(2), W = images.size(3);
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == N && boxes.size(1) == 4, "cutmix: boxes must be [N, 4]");
  const c10::cuda::CUDAGuard guard(images.device());
  const at::Tensor x = images.contiguous();
  const at::Tensor bx = detail::clip_boxes(boxes, H, W);
  const at::Tensor b = bx.to(x.device());
  const at::Tensor p = perm.to(x.device(), at::kLong).contiguous();
  at::Tensor out = at::empty_like(x);
  if (x.numel() > 0) {
    box_kernel<<<grid_for(x.numel()), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), out.data_ptr<float>(), b.data_ptr<int64_t>(), p.data_ptr<int64_t>(), 0.f, x.numel(),
        x.size(1), H, W);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {out, detail::mix_targets(targets, perm, detail::cutmix_lambda(bx, H, W))};
}

}  // namespace
}  // namespace smlab::ops

TORCH_LIBRARY_IMPL(smlab, CUDA, m) {
  m.impl("augment_image", &smlab::ops::augment_image_cuda);
  m.impl("augment_eval", &smlab::ops::augment_eval_cuda);
  m.impl("grayscale", &smlab::ops::grayscale_cuda);
  m.impl("gaussian_blur", &smlab::ops::gaussian_blur_cuda);
  m.impl("random_erasing", &smlab::ops::random_erasing_cuda);
  m.impl("mixup", &smlab::ops::mixup_cuda);
  m.impl("cutmix", &smlab::ops::cutmix_cuda);
}
