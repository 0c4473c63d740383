// CPU reference of the augmentation ops (formulas in augment_common.h, shared with augment_cuda.cu).
// Parallel over output rows with at::parallel_for (torch's intra-op thread pool).
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/library.h>

#include "cuda/augment_common.h"

namespace smlab::ops {
namespace {

using detail::NormAffine;
using detail::SampleDesc;

template <typename T>
inline T to_out(float v) {
  return static_cast<T>(v);
}

/// Horizontal taps of every sample, flip folded in: taps[n * ow + j] = axis_tap(x map, flip ? ow-1-j : j).
/// (The same function the per-pixel path uses, evaluated once per column instead of once per pixel.)
std::vector<detail::Tap> column_taps(const std::vector<SampleDesc>& d, int64_t ow) {
  std::vector<detail::Tap> t(d.size() * ow);
  for (size_t n = 0; n < d.size(); ++n)
    for (int64_t j = 0; j < ow; ++j)
      t[n * ow + j] = detail::axis_tap(d[n].x, static_cast<int32_t>(d[n].flip ? ow - 1 - j : j));
  return t;
}

/// Mean luma of every sample whose contrast factor is not 1 (the "first cheap pass"): the image after
/// crop/resize/flip/brightness, reduced in float64 per row, then per sample.
std::vector<float> contrast_means(const uint8_t* src, int64_t H, int64_t W, const std::vector<SampleDesc>& d,
                                  const std::vector<detail::Tap>& xt, int64_t oh, int64_t ow) {
  const int64_t N = static_cast<int64_t>(d.size());
  std::vector<double> rows(N * oh, 0.0);
  at::parallel_for(0, N * oh, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t n = r / oh, i = r % oh;
      if (d[n].contrast == 1.f) continue;
      const uint8_t* img = src + n * H * W * 3;
      const detail::Tap ty = detail::axis_tap(d[n].y, static_cast<int32_t>(i));
      const detail::Tap* tx = xt.data() + n * ow;
      double acc = 0;
      float rgb[3];
      for (int64_t j = 0; j < ow; ++j) {
        // = pixel_pre_contrast(img, W, d[n], i, j, ow, rgb)
        detail::sample_rgb(img, static_cast<int32_t>(W), ty, tx[j], rgb);
        detail::apply_brightness(rgb, d[n].brightness);
        acc += detail::luma(rgb);
      }
      rows[r] = acc;
    }
  });
  std::vector<float> means(N, 0.f);
  for (int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (int64_t i = 0; i < oh; ++i) s += rows[n * oh + i];
    means[n] = static_cast<float>(s / static_cast<double>(oh * ow));  // mean = sum luma / (out_h out_w)
  }
  return means;
}

template <typename T>
void image_kernel_cpu(const at::Tensor& x, const std::vector<SampleDesc>& d, const NormAffine& aff, at::Tensor& out) {
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2);
  const int64_t oh = out.size(2), ow = out.size(3);
  const int64_t sN = out.stride(0), sC = out.stride(1), sH = out.stride(2), sW = out.stride(3);
  const uint8_t* src = x.data_ptr<uint8_t>();
  T* dst = out.data_ptr<T>();
  const std::vector<detail::Tap> xt = column_taps(d, ow);
  const std::vector<float> means = contrast_means(src, H, W, d, xt, oh, ow);
  at::parallel_for(0, N * oh, 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t n = r / oh, i = r % oh;
      const SampleDesc& s = d[n];
      const uint8_t* img = src + n * H * W * 3;
      const detail::Tap ty = detail::axis_tap(s.y, static_cast<int32_t>(i));
      const detail::Tap* tx = xt.data() + n * ow;
      T* o0 = dst + n * sN + i * sH;
      T* o1 = o0 + sC;
      T* o2 = o1 + sC;
      float rgb[3];
      for (int64_t j = 0; j < ow; ++j) {
        // = pixel_pre_contrast(img, W, s, i, j, ow, rgb), with the taps hoisted out of the loop
        detail::sample_rgb(img, static_cast<int32_t>(W), ty, tx[j], rgb);
        detail::apply_brightness(rgb, s.brightness);
        detail::pixel_post_contrast(s, means[n], rgb);
        o0[j * sW] = to_out<T>(rgb[0] * aff.scale[0] + aff.shift[0]);
        o1[j * sW] = to_out<T>(rgb[1] * aff.scale[1] + aff.shift[1]);
        o2[j * sW] = to_out<T>(rgb[2] * aff.scale[2] + aff.shift[2]);
      }
    }
  });
}

at::Tensor run_image(const at::Tensor& images, const std::vector<SampleDesc>& d, int64_t out_h, int64_t out_w,
                     c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                     std::optional<at::ScalarType> dtype, const char* op) {
  const NormAffine aff = detail::make_affine(mean, std, op);
  const at::Tensor x = images.contiguous();
  at::Tensor out = detail::make_image_output(x, x.size(0), out_h, out_w, channels_last, dtype, op);
  if (out.numel() == 0) return out;
  if (out.scalar_type() == at::kFloat) {
    image_kernel_cpu<float>(x, d, aff, out);
  } else {
    image_kernel_cpu<c10::BFloat16>(x, d, aff, out);
  }
  return out;
}

at::Tensor augment_image_cpu(const at::Tensor& images, const at::Tensor& params, int64_t out_h, int64_t out_w,
                             c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                             std::optional<at::ScalarType> dtype) {
  const auto d = detail::descs_from_params(images, params, out_h, out_w);
  return run_image(images, d, out_h, out_w, mean, std, channels_last, dtype, "augment_image");
}

at::Tensor augment_eval_cpu(const at::Tensor& images, int64_t resize, int64_t out_h, int64_t out_w,
                            c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                            std::optional<at::ScalarType> dtype) {
  const auto d = detail::descs_for_eval(images, resize, out_h, out_w);
  return run_image(images, d, out_h, out_w, mean, std, channels_last, dtype, "augment_eval");
}

// grayscale: g = 0.2989 R + 0.587 G + 0.114 B, copied to every output channel.
at::Tensor grayscale_cpu(const at::Tensor& images, int64_t num_output_channels) {
  detail::check_float_images(images, "grayscale");
  TORCH_CHECK(images.size(1) == 3, "grayscale: expected 3 channels, got ", images.size(1));
  TORCH_CHECK(num_output_channels == 1 || num_output_channels == 3, "grayscale: num_output_channels must be 1 or 3");
  const at::Tensor x = images.contiguous();
  const int64_t N = x.size(0), HW = x.size(2) * x.size(3);
  at::Tensor out = at::empty({N, num_output_channels, x.size(2), x.size(3)}, x.options());
  const float* s = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float* r = s + n * 3 * HW;
      for (int64_t p = 0; p < HW; ++p) {
        const float rgb[3] = {r[p], r[HW + p], r[2 * HW + p]};
        const float g = detail::luma(rgb);
        for (int64_t c = 0; c < num_output_channels; ++c) o[(n * num_output_channels + c) * HW + p] = g;
      }
    }
  });
  return out;
}

// gaussian_blur: tmp[y,x] = sum_k w[k] in[y, reflect(x + k - K/2)], out[y,x] = sum_k w[k] tmp[reflect(y + k - K/2), x]
at::Tensor gaussian_blur_cpu(const at::Tensor& images, const at::Tensor& sigma, int64_t kernel_size) {
  detail::check_float_images(images, "gaussian_blur");
  TORCH_CHECK(sigma.dim() == 1 && sigma.size(0) == images.size(0), "gaussian_blur: sigma must be [N], got ",
              sigma.sizes());
  const at::Tensor wts = detail::gaussian_weights(sigma, kernel_size);
  const at::Tensor x = images.contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = kernel_size, R = K / 2;
  at::Tensor tmp = at::empty_like(x);
  at::Tensor out = at::empty_like(x);
  const float* s = x.data_ptr<float>();
  const float* w = wts.data_ptr<float>();
  float* t = tmp.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N * C * H, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* wk = w + (r / (C * H)) * K;
      const float* in = s + r * W;
      for (int64_t xx = 0; xx < W; ++xx) {
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k)
          acc += wk[k] * in[detail::reflect_index(static_cast<int32_t>(xx + k - R), static_cast<int32_t>(W))];
        t[r * W + xx] = acc;
      }
    }
  });
  at::parallel_for(0, N * C * H, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t plane = r / H, y = r % H;
      const float* wk = w + (plane / C) * K;
      const float* in = t + plane * H * W;
      for (int64_t xx = 0; xx < W; ++xx) {
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k)
          acc += wk[k] * in[detail::reflect_index(static_cast<int32_t>(y + k - R), static_cast<int32_t>(H)) * W + xx];
        o[r * W + xx] = acc;
      }
    }
  });
  return out;
}

at::Tensor random_erasing_cpu(const at::Tensor& images, const at::Tensor& boxes, double value) {
  detail::check_float_images(images, "random_erasing");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == N && boxes.size(1) == 4, "random_erasing: boxes must be [N, 4]");
  const at::Tensor bx = boxes.to(at::kCPU, at::kLong).contiguous();
  at::Tensor out = images.contiguous().clone();
  const int64_t* B = bx.data_ptr<int64_t>();
  float* o = out.data_ptr<float>();
  const float v = static_cast<float>(value);
  for (int64_t n = 0; n < N; ++n) {
    // erase rows [y0, y0 + h) x columns [x0, x0 + w), clipped to the image
    const int64_t y0 = std::max<int64_t>(B[n * 4], 0), x0 = std::max<int64_t>(B[n * 4 + 1], 0);
    const int64_t y1 = std::min<int64_t>(B[n * 4] + B[n * 4 + 2], H), x1 = std::min<int64_t>(B[n * 4 + 1] + B[n * 4 + 3], W);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t xx = x0; xx < x1; ++xx) o[((n * C + c) * H + y) * W + xx] = v;
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor> mixup_cpu(const at::Tensor& images, const at::Tensor& targets,
                                             const at::Tensor& perm, const at::Tensor& lam) {
  detail::check_mix_args(images, targets, perm, "mixup");
  const int64_t N = images.size(0);
  TORCH_CHECK(lam.dim() == 1 && lam.size(0) == N, "mixup: lam must be [N], got ", lam.sizes());
  const at::Tensor x = images.contiguous();
  const at::Tensor p = perm.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor l = lam.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor out = at::empty_like(x);
  const int64_t S = x.numel() / std::max<int64_t>(N, 1);
  const float* s = x.data_ptr<float>();
  const int64_t* P = p.data_ptr<int64_t>();
  const float* L = l.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const float a = L[n], c = 1.f - L[n];
      const float* u = s + n * S;
      const float* v = s + P[n] * S;
      for (int64_t i = 0; i < S; ++i) o[n * S + i] = a * u[i] + c * v[i];  // lam x[n] + (1 - lam) x[perm[n]]
    }
  });
  return {out, detail::mix_targets(targets, perm, lam.to(targets.scalar_type()))};
}

std::tuple<at::Tensor, at::Tensor> cutmix_cpu(const at::Tensor& images, const at::Tensor& targets,
                                              const at::Tensor& perm, const at::Tensor& boxes) {
  detail::check_mix_args(images, targets, perm, "cutmix");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == N && boxes.size(1) == 4, "cutmix: boxes must be [N, 4]");
  const at::Tensor x = images.contiguous();
  const at::Tensor p = perm.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor bx = detail::clip_boxes(boxes, H, W);
  at::Tensor out = x.clone();
  const int64_t* B = bx.data_ptr<int64_t>();
  const int64_t* P = p.data_ptr<int64_t>();
  const float* s = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t y0 = B[n * 4], x0 = B[n * 4 + 1], y1 = y0 + B[n * 4 + 2], x1 = x0 + B[n * 4 + 3];
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t xx = x0; xx < x1; ++xx)
          o[((n * C + c) * H + y) * W + xx] = s[((P[n] * C + c) * H + y) * W + xx];
  }
  return {out, detail::mix_targets(targets, perm, detail::cutmix_lambda(bx, H, W).to(targets.scalar_type()))};
}

}  // namespace
}  // namespace smlab::ops

TORCH_LIBRARY_IMPL(smlab, CPU, m) {
  m.impl("augment_image", &smlab::ops::augment_image_cpu);
  m.impl("augment_eval", &smlab::ops::augment_eval_cpu);
  m.impl("grayscale", &smlab::ops::grayscale_cpu);
  m.impl("gaussian_blur", &smlab::ops::gaussian_blur_cpu);
  m.impl("random_erasing", &smlab::ops::random_erasing_cpu);
  m.impl("mixup", &smlab::ops::mixup_cpu);
  m.impl("cutmix", &smlab::ops::cutmix_cpu);
}
