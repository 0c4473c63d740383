// Host side of the augmentation ops: parameter sampling (seeded, identical on every platform),
// argument checks, per-sample descriptors, and the composite video op. The kernels are in
// augment_cpu.cpp (reference) and augment_cuda.cu.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "cuda/augment_common.h"
#include "cuda/ops.h"

namespace smlab::ops {
namespace detail {

NormAffine make_affine(c10::ArrayRef<double> mean, c10::ArrayRef<double> std, const char* op) {
  TORCH_CHECK(mean.size() == 3 && std.size() == 3, op, ": mean and std need 3 values (RGB), got ", mean.size(),
              " and ", std.size());
  NormAffine a{};
  for (int c = 0; c < 3; ++c) {
    TORCH_CHECK(std[c] > 0, op, ": std values must be > 0, got ", std[c]);
    a.scale[c] = static_cast<float>(1.0 / std[c]);
    a.shift[c] = static_cast<float>(-mean[c] / std[c]);
  }
  return a;
}

static void check_u8_nhwc(const at::Tensor& images, const char* op) {
  TORCH_CHECK(images.dim() == 4 && images.size(3) == 3, op, ": expected uint8 NHWC images [N, H, W, 3], got shape ",
              images.sizes());
  TORCH_CHECK(images.scalar_type() == at::kByte, op, ": expected uint8 images, got ", images.scalar_type());
  TORCH_CHECK(images.size(1) >= 1 && images.size(2) >= 1, op, ": empty images (H=", images.size(1),
              ", W=", images.size(2), ")");
  TORCH_CHECK(images.size(1) < (1 << 30) && images.size(2) < (1 << 30), op, ": image too large");
}

static AxisMap crop_axis(int64_t start, int64_t len, int64_t out_len) {
  // ratio = crop_len / out_len in float, as torch's area_pixel_compute_scale for float images
  return AxisMap{static_cast<float>(len) / static_cast<float>(out_len), 0.f, static_cast<int32_t>(start),
                 static_cast<int32_t>(len)};
}

std::vector<SampleDesc> descs_from_params(const at::Tensor& images, const at::Tensor& params, int64_t out_h,
                                          int64_t out_w) {
  check_u8_nhwc(images, "augment_image");
  TORCH_CHECK(out_h >= 1 && out_w >= 1, "augment_image: output size must be >= 1, got ", out_h, "x", out_w);
  const int64_t N = images.size(0), H = images.size(1), W = images.size(2);
  TORCH_CHECK(params.dim() == 2 && params.size(0) == N && params.size(1) >= kAugParams,
              "augment_image: params must be [N, ", static_cast<int>(kAugParams), "] (see augment_params), got ",
              params.sizes(), " for N=", N);
  const at::Tensor p = params.to(at::kCPU, at::kDouble).contiguous();
  const double* P = p.data_ptr<double>();
  const int64_t K = p.size(1);
  std::vector<SampleDesc> d(N);
  for (int64_t n = 0; n < N; ++n) {
    const double* q = P + n * K;
    const int64_t y0 = std::llround(q[kCropY]), x0 = std::llround(q[kCropX]);
    const int64_t h = std::llround(q[kCropH]), w = std::llround(q[kCropW]);
    TORCH_CHECK(h >= 1 && w >= 1 && y0 >= 0 && x0 >= 0 && y0 + h <= H && x0 + w <= W, "augment_image: sample ", n,
                ": crop box (y0=", y0, ", x0=", x0, ", h=", h, ", w=", w, ") is not inside the ", H, "x", W, " image");
    TORCH_CHECK(q[kBrightness] >= 0 && q[kContrast] >= 0 && q[kSaturation] >= 0, "augment_image: sample ", n,
                ": brightness/contrast/saturation factors must be >= 0");
    TORCH_CHECK(q[kHue] >= -0.5 && q[kHue] <= 0.5, "augment_image: sample ", n, ": hue must be in [-0.5, 0.5], got ",
                q[kHue]);
    d[n].y = crop_axis(y0, h, out_h);
    d[n].x = crop_axis(x0, w, out_w);
    d[n].flip = q[kFlip] != 0.0 ? 1 : 0;
    d[n].brightness = static_cast<float>(q[kBrightness]);
    d[n].contrast = static_cast<float>(q[kContrast]);
    d[n].saturation = static_cast<float>(q[kSaturation]);
    d[n].hue = static_cast<float>(q[kHue]);
  }
  return d;
}

std::vector<SampleDesc> descs_for_eval(const at::Tensor& images, int64_t resize, int64_t out_h, int64_t out_w) {
  check_u8_nhwc(images, "augment_eval");
  const int64_t N = images.size(0), H = images.size(1), W = images.size(2);
  TORCH_CHECK(resize >= 1 && out_h >= 1 && out_w >= 1, "augment_eval: sizes must be >= 1");
  // torchvision _compute_resized_output_size: short side -> resize, long side -> int(resize * long / short)
  int64_t rh, rw;
  if (H <= W) {
    rh = resize;
    rw = static_cast<int64_t>(static_cast<double>(resize) * static_cast<double>(W) / static_cast<double>(H));
  } else {
    rw = resize;
    rh = static_cast<int64_t>(static_cast<double>(resize) * static_cast<double>(H) / static_cast<double>(W));
  }
  TORCH_CHECK(out_h <= rh && out_w <= rw, "augment_eval: center crop ", out_h, "x", out_w,
              " is larger than the resized image ", rh, "x", rw);
  // torchvision center_crop: top = int(round((rh - out_h) / 2.0)) with Python's round-half-even
  const double top = std::nearbyint(static_cast<double>(rh - out_h) / 2.0);
  const double left = std::nearbyint(static_cast<double>(rw - out_w) / 2.0);
  SampleDesc s{};
  s.y = AxisMap{static_cast<float>(H) / static_cast<float>(rh), static_cast<float>(top), 0, static_cast<int32_t>(H)};
  s.x = AxisMap{static_cast<float>(W) / static_cast<float>(rw), static_cast<float>(left), 0, static_cast<int32_t>(W)};
  s.flip = 0;
  s.brightness = s.contrast = s.saturation = 1.f;
  s.hue = 0.f;
  return std::vector<SampleDesc>(N, s);
}

at::Tensor make_image_output(const at::Tensor& like, int64_t N, int64_t out_h, int64_t out_w, bool channels_last,
                             std::optional<at::ScalarType> dtype, const char* op) {
  const at::ScalarType st = dtype.value_or(at::kFloat);
  TORCH_CHECK(st == at::kFloat || st == at::kBFloat16, op, ": output dtype must be float32 or bfloat16, got ", st);
  return at::empty({N, 3, out_h, out_w}, like.options().dtype(st),
                   channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
}

void check_float_images(const at::Tensor& x, const char* op) {
  TORCH_CHECK(x.dim() == 4, op, ": expected float images [N, C, H, W], got shape ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat, op, ": expected float32 images, got ", x.scalar_type());
  TORCH_CHECK(x.numel() < (int64_t{1} << 31), op, ": at most 2^31 elements");
}

at::Tensor gaussian_weights(const at::Tensor& sigma, int64_t kernel_size) {
  TORCH_CHECK(kernel_size >= 1 && kernel_size % 2 == 1, "gaussian_blur: kernel_size must be odd and >= 1, got ",
              kernel_size);
  const at::Tensor s = sigma.to(at::kCPU, at::kDouble).contiguous();
  const int64_t N = s.numel();
  at::Tensor w = at::empty({N, kernel_size}, at::TensorOptions().dtype(at::kFloat));
  const double* S = s.data_ptr<double>();
  float* Wp = w.data_ptr<float>();
  const double half = static_cast<double>(kernel_size - 1) / 2.0;
  for (int64_t n = 0; n < N; ++n) {
    TORCH_CHECK(S[n] > 0, "gaussian_blur: sigma must be > 0, got ", S[n], " for sample ", n);
    double sum = 0;
    std::vector<double> v(kernel_size);
    for (int64_t k = 0; k < kernel_size; ++k) {
      const double x = static_cast<double>(k) - half;  // x_k = k - (K-1)/2
      v[k] = std::exp(-0.5 * (x / S[n]) * (x / S[n]));  // exp(-x^2 / (2 sigma^2))
      sum += v[k];
    }
    for (int64_t k = 0; k < kernel_size; ++k) Wp[n * kernel_size + k] = static_cast<float>(v[k] / sum);
  }
  return w;
}

void check_mix_args(const at::Tensor& images, const at::Tensor& targets, const at::Tensor& perm, const char* op) {
  check_float_images(images, op);
  const int64_t N = images.size(0);
  TORCH_CHECK(targets.dim() == 2 && targets.size(0) == N && targets.is_floating_point(), op,
              ": targets must be float [N, num_classes] (one-hot or soft), got ", targets.sizes());
  TORCH_CHECK(perm.dim() == 1 && perm.size(0) == N, op, ": perm must be [N], got ", perm.sizes());
  const at::Tensor pc = perm.to(at::kCPU, at::kLong);
  if (N > 0) {
    TORCH_CHECK(pc.min().item<int64_t>() >= 0 && pc.max().item<int64_t>() < N, op, ": perm values must be in [0, N)");
  }
}

at::Tensor mix_targets(const at::Tensor& targets, const at::Tensor& perm, const at::Tensor& lam) {
  const at::Tensor l = lam.to(targets.device(), targets.scalar_type()).reshape({-1, 1});
  const at::Tensor p = perm.to(targets.device(), at::kLong);
  return l * targets + (1 - l) * targets.index_select(0, p);
}

at::Tensor clip_boxes(const at::Tensor& boxes, int64_t H, int64_t W) {
  at::Tensor b = boxes.to(at::kCPU, at::kLong).contiguous().clone();
  int64_t* B = b.data_ptr<int64_t>();
  for (int64_t n = 0; n < b.size(0); ++n) {
    const int64_t y0 = std::clamp<int64_t>(B[n * 4], 0, H), x0 = std::clamp<int64_t>(B[n * 4 + 1], 0, W);
    const int64_t y1 = std::clamp<int64_t>(B[n * 4] + std::max<int64_t>(B[n * 4 + 2], 0), y0, H);
    const int64_t x1 = std::clamp<int64_t>(B[n * 4 + 1] + std::max<int64_t>(B[n * 4 + 3], 0), x0, W);
    B[n * 4] = y0;
    B[n * 4 + 1] = x0;
    B[n * 4 + 2] = y1 - y0;
    B[n * 4 + 3] = x1 - x0;
  }
  return b;
}

at::Tensor cutmix_lambda(const at::Tensor& clipped_boxes, int64_t H, int64_t W) {
  const at::Tensor b = clipped_boxes.to(at::kDouble);
  return 1.0 - b.select(1, 2) * b.select(1, 3) / static_cast<double>(H * W);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Seeded sampling. SplitMix64 -> 53-bit uniforms: the same numbers on every platform and compiler
// (std::uniform_real_distribution is implementation-defined).
// ---------------------------------------------------------------------------------------------
namespace {

struct Rng {
  uint64_t s;
  explicit Rng(int64_t seed) : s(static_cast<uint64_t>(seed) ^ 0x9E3779B97F4A7C15ULL) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }     // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }      // [lo, hi)
  int64_t integer(int64_t lo, int64_t hi_inclusive) {                               // [lo, hi]
    const uint64_t span = static_cast<uint64_t>(hi_inclusive - lo) + 1;
    return lo + static_cast<int64_t>(next() % span);
  }
};

void check_range(c10::ArrayRef<double> r, const char* what) {
  TORCH_CHECK(r.size() == 2 && r[0] > 0 && r[0] <= r[1], "augment_params: ", what,
              " must be [lo, hi] with 0 < lo <= hi, got ", r);
}

/// torchvision RandomResizedCrop.get_params: 10 attempts at area ~ U(scale) * H W and
/// log-aspect ~ U(log ratio), w = round(sqrt(area * aspect)), h = round(sqrt(area / aspect));
/// then the fallback: the central crop with the aspect ratio clamped to `ratio`.
void sample_crop(Rng& rng, int64_t H, int64_t W, c10::ArrayRef<double> scale, c10::ArrayRef<double> ratio, double* out) {
  const double area = static_cast<double>(H) * static_cast<double>(W);
  const double lr0 = std::log(ratio[0]), lr1 = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale[0], scale[1]);
    const double aspect = std::exp(rng.uniform(lr0, lr1));
    const int64_t w = std::llround(std::sqrt(target * aspect));
    const int64_t h = std::llround(std::sqrt(target / aspect));
    if (0 < w && w <= W && 0 < h && h <= H) {
      out[detail::kCropY] = static_cast<double>(rng.integer(0, H - h));
      out[detail::kCropX] = static_cast<double>(rng.integer(0, W - w));
      out[detail::kCropH] = static_cast<double>(h);
      out[detail::kCropW] = static_cast<double>(w);
      return;
    }
  }
  const double in_ratio = static_cast<double>(W) / static_cast<double>(H);
  int64_t w = W, h = H;
  if (in_ratio < ratio[0]) {
    h = std::clamp<int64_t>(std::llround(static_cast<double>(w) / ratio[0]), 1, H);
  } else if (in_ratio > ratio[1]) {
    w = std::clamp<int64_t>(std::llround(static_cast<double>(h) * ratio[1]), 1, W);
  }
  out[detail::kCropY] = static_cast<double>((H - h) / 2);
  out[detail::kCropX] = static_cast<double>((W - w) / 2);
  out[detail::kCropH] = static_cast<double>(h);
  out[detail::kCropW] = static_cast<double>(w);
}

void sample_photometric(Rng& rng, double flip_p, double brightness, double contrast, double saturation, double hue,
                        double* out) {
  // ColorJitter ranges: factor ~ U[max(0, 1 - j), 1 + j]; hue ~ U[-h, h]; a zero jitter draws nothing.
  auto factor = [&](double j) { return j > 0 ? rng.uniform(std::max(0.0, 1.0 - j), 1.0 + j) : 1.0; };
  out[detail::kFlip] = flip_p > 0 && rng.uniform() < flip_p ? 1.0 : 0.0;
  out[detail::kBrightness] = factor(brightness);
  out[detail::kContrast] = factor(contrast);
  out[detail::kSaturation] = factor(saturation);
  out[detail::kHue] = hue > 0 ? rng.uniform(-hue, hue) : 0.0;
}

void check_jitter(double flip_p, double brightness, double contrast, double saturation, double hue) {
  TORCH_CHECK(flip_p >= 0 && flip_p <= 1, "augment_params: flip_p must be in [0, 1], got ", flip_p);
  TORCH_CHECK(brightness >= 0 && contrast >= 0 && saturation >= 0, "augment_params: jitter strengths must be >= 0");
  TORCH_CHECK(hue >= 0 && hue <= 0.5, "augment_params: hue must be in [0, 0.5], got ", hue);
}

}  // namespace

namespace {

/// The per-sample draws of augment_params, sample i's crop for heights[i] x widths[i] (one stream).
at::Tensor draw_image_params(c10::ArrayRef<int64_t> heights, c10::ArrayRef<int64_t> widths,
                             c10::ArrayRef<double> scale, c10::ArrayRef<double> ratio, double flip_p, double brightness,
                             double contrast, double saturation, double hue, int64_t seed) {
  check_range(scale, "scale");
  TORCH_CHECK(scale[1] <= 1.0, "augment_params: scale must be <= 1, got ", scale);
  check_range(ratio, "ratio");
  check_jitter(flip_p, brightness, contrast, saturation, hue);
  const int64_t n = static_cast<int64_t>(heights.size());
  at::Tensor p = at::zeros({n, detail::kAugParams}, at::TensorOptions().dtype(at::kDouble));
  double* P = p.data_ptr<double>();
  Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    double* q = P + i * detail::kAugParams;
    sample_crop(rng, heights[i], widths[i], scale, ratio, q);
    sample_photometric(rng, flip_p, brightness, contrast, saturation, hue, q);
  }
  return p;
}

}  // namespace

at::Tensor augment_params(int64_t n, int64_t height, int64_t width, c10::ArrayRef<double> scale,
                          c10::ArrayRef<double> ratio, double flip_p, double brightness, double contrast,
                          double saturation, double hue, int64_t seed) {
  TORCH_CHECK(n >= 0 && height >= 1 && width >= 1, "augment_params: need n >= 0 and a non-empty image size");
  const std::vector<int64_t> hs(static_cast<size_t>(n), height), ws(static_cast<size_t>(n), width);
  return draw_image_params(hs, ws, scale, ratio, flip_p, brightness, contrast, saturation, hue, seed);
}

at::Tensor augment_params_sizes(c10::ArrayRef<int64_t> heights, c10::ArrayRef<int64_t> widths,
                                c10::ArrayRef<double> scale, c10::ArrayRef<double> ratio, double flip_p,
                                double brightness, double contrast, double saturation, double hue, int64_t seed) {
  TORCH_CHECK(heights.size() == widths.size(), "augment_params_sizes: ", heights.size(), " heights but ",
              widths.size(), " widths");
  for (size_t i = 0; i < heights.size(); ++i)
    TORCH_CHECK(heights[i] >= 1 && widths[i] >= 1, "augment_params_sizes: image ", i, " is ", heights[i], "x",
                widths[i]);
  return draw_image_params(heights, widths, scale, ratio, flip_p, brightness, contrast, saturation, hue, seed);
}

at::Tensor video_params(int64_t n, int64_t frames, int64_t out_t, int64_t height, int64_t width,
                        c10::ArrayRef<double> scale, c10::ArrayRef<double> ratio, double flip_p, double brightness,
                        double contrast, double saturation, double hue, int64_t seed) {
  TORCH_CHECK(out_t >= 1 && out_t <= frames, "video_params: need 1 <= out_t <= frames, got out_t=", out_t,
              ", frames=", frames);
  at::Tensor img = augment_params(n, height, width, scale, ratio, flip_p, brightness, contrast, saturation, hue, seed);
  at::Tensor p = at::zeros({n, detail::kVideoParams}, img.options());
  p.narrow(1, 0, detail::kAugParams).copy_(img);
  // temporal jitter: first frame t0 ~ U{0, ..., T - out_t}, from a stream independent of the spatial one
  Rng rng(seed ^ 0x5DEECE66DLL);
  for (int64_t i = 0; i < n; ++i) p[i][detail::kVideoT0] = static_cast<double>(rng.integer(0, frames - out_t));
  return p;
}

at::Tensor erasing_params(int64_t n, int64_t height, int64_t width, double p, c10::ArrayRef<double> scale,
                          c10::ArrayRef<double> ratio, int64_t seed) {
  TORCH_CHECK(p >= 0 && p <= 1, "erasing_params: p must be in [0, 1], got ", p);
  check_range(scale, "scale");
  check_range(ratio, "ratio");
  at::Tensor boxes = at::zeros({n, 4}, at::TensorOptions().dtype(at::kLong));
  int64_t* B = boxes.data_ptr<int64_t>();
  Rng rng(seed);
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double lr0 = std::log(ratio[0]), lr1 = std::log(ratio[1]);
  for (int64_t i = 0; i < n; ++i) {
    if (!(rng.uniform() < p)) continue;  // box h = w = 0: nothing erased
    // torchvision RandomErasing.get_params: 10 attempts, erase area ~ U(scale) H W, log-aspect ~ U(log ratio),
    // h = round(sqrt(area * aspect)), w = round(sqrt(area / aspect)); no box if none fits.
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area * rng.uniform(scale[0], scale[1]);
      const double aspect = std::exp(rng.uniform(lr0, lr1));
      const int64_t h = std::llround(std::sqrt(target * aspect));
      const int64_t w = std::llround(std::sqrt(target / aspect));
      if (h < height && w < width && h > 0 && w > 0) {
        B[i * 4 + 0] = rng.integer(0, height - h);
        B[i * 4 + 1] = rng.integer(0, width - w);
        B[i * 4 + 2] = h;
        B[i * 4 + 3] = w;
        break;
      }
    }
  }
  return boxes;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> mix_params(int64_t n, int64_t height, int64_t width, double alpha,
                                                         int64_t seed) {
  TORCH_CHECK(alpha > 0, "mix_params: alpha must be > 0, got ", alpha);
  Rng rng(seed);
  // lambda ~ Beta(alpha, alpha) per sample, drawn as G1 / (G1 + G2) with G ~ Gamma(alpha, 1)
  // (Marsaglia-Tsang; for alpha < 1 boosted by U^(1/alpha)).
  auto gamma = [&](double a) {
    double boost = 1.0;
    if (a < 1.0) {
      boost = std::pow(std::max(rng.uniform(), 1e-300), 1.0 / a);
      a += 1.0;
    }
    const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        // standard normal by Box-Muller
        const double u1 = std::max(rng.uniform(), 1e-300), u2 = rng.uniform();
        x = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
        v = 1.0 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = rng.uniform();
      if (u < 1.0 - 0.0331 * x * x * x * x || std::log(std::max(u, 1e-300)) < 0.5 * x * x + d * (1.0 - v + std::log(v)))
        return d * v * boost;
    }
  };
  at::Tensor lam = at::empty({n}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor boxes = at::zeros({n, 4}, at::TensorOptions().dtype(at::kLong));
  double* L = lam.data_ptr<double>();
  int64_t* B = boxes.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const double g1 = gamma(alpha), g2 = gamma(alpha);
    L[i] = g1 + g2 > 0 ? g1 / (g1 + g2) : 0.5;
    // CutMix box for the same lambda (timm rand_bbox): cut_h = H sqrt(1 - lam), cut_w = W sqrt(1 - lam),
    // centre uniform, box clipped to the image.
    const double cut = std::sqrt(1.0 - L[i]);
    const int64_t ch = static_cast<int64_t>(static_cast<double>(height) * cut);
    const int64_t cw = static_cast<int64_t>(static_cast<double>(width) * cut);
    const int64_t cy = rng.integer(0, height - 1), cx = rng.integer(0, width - 1);
    const int64_t y0 = std::clamp<int64_t>(cy - ch / 2, 0, height), y1 = std::clamp<int64_t>(cy + ch / 2, 0, height);
    const int64_t x0 = std::clamp<int64_t>(cx - cw / 2, 0, width), x1 = std::clamp<int64_t>(cx + cw / 2, 0, width);
    B[i * 4 + 0] = y0;
    B[i * 4 + 1] = x0;
    B[i * 4 + 2] = y1 - y0;
    B[i * 4 + 3] = x1 - x0;
  }
  // perm: the batch rolled by one (torchvision.transforms.v2.MixUp/CutMix pair sample i with i - 1)
  at::Tensor perm = at::roll(at::arange(n, at::TensorOptions().dtype(at::kLong)), 1, 0);
  return {lam, boxes, perm};
}

// ---------------------------------------------------------------------------------------------
// Video: frames t0 .. t0+out_t-1 of each clip, every frame with its clip's crop/flip/jitter.
// Composite: gathers the frames, repeats the clip's params per frame, runs augment_image.
// ---------------------------------------------------------------------------------------------
namespace {

at::Tensor augment_video_impl(const at::Tensor& clips, const at::Tensor& params, int64_t out_t, int64_t out_h,
                              int64_t out_w, c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                              std::optional<at::ScalarType> dtype) {
  TORCH_CHECK(clips.dim() == 5 && clips.size(4) == 3 && clips.scalar_type() == at::kByte,
              "augment_video: expected uint8 clips [N, T, H, W, 3], got ", clips.sizes(), " ", clips.scalar_type());
  const int64_t N = clips.size(0), T = clips.size(1), H = clips.size(2), W = clips.size(3);
  TORCH_CHECK(out_t >= 1 && out_t <= T, "augment_video: need 1 <= out_t <= T (", T, "), got ", out_t);
  TORCH_CHECK(params.dim() == 2 && params.size(0) == N && params.size(1) == detail::kVideoParams,
              "augment_video: params must be [N, ", static_cast<int>(detail::kVideoParams),
              "] (see video_params), got ", params.sizes());
  const at::Tensor pc = params.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor t0 = pc.select(1, detail::kVideoT0).round().to(at::kLong);
  if (N > 0) {
    TORCH_CHECK(t0.min().item<int64_t>() >= 0 && t0.max().item<int64_t>() + out_t <= T,
                "augment_video: first frames t0 must be in [0, T - out_t]");
  }
  // frame index [N, out_t]: t0[n] + k
  const at::Tensor idx = (t0.unsqueeze(1) + at::arange(out_t, t0.options()).unsqueeze(0)).to(clips.device());
  const at::Tensor flat = (at::arange(N, idx.options()).unsqueeze(1) * T + idx).reshape({-1});
  const at::Tensor frames = clips.reshape({N * T, H, W, 3}).index_select(0, flat);  // gather copies
  const at::Tensor fp = pc.narrow(1, 0, detail::kAugParams).repeat_interleave(out_t, 0);
  at::Tensor out = augment_image(frames, fp, out_h, out_w, std::vector<double>(mean.begin(), mean.end()),
                                 std::vector<double>(std.begin(), std.end()), channels_last, dtype);
  return out.view({N, out_t, 3, out_h, out_w});
}

at::Tensor augment_image_list_impl(at::TensorList images, const at::Tensor& params, int64_t out_h, int64_t out_w,
                                   c10::ArrayRef<double> mean, c10::ArrayRef<double> std, bool channels_last,
                                   std::optional<at::ScalarType> dtype) {
  const int64_t N = static_cast<int64_t>(images.size());
  TORCH_CHECK(N >= 1, "augment_image_list: the list of images is empty");
  TORCH_CHECK(params.dim() == 2 && params.size(0) == N && params.size(1) == detail::kAugParams,
              "augment_image_list: params must be [", N, ", ", static_cast<int>(detail::kAugParams),
              "] (see augment_params_sizes), got ", params.sizes());
  // Images of one size form one batch: one augment_image call (one kernel launch) per distinct size.
  std::map<std::pair<int64_t, int64_t>, std::vector<int64_t>> groups;
  for (int64_t i = 0; i < N; ++i) {
    const at::Tensor& im = images[i];
    TORCH_CHECK(im.dim() == 3 && im.size(2) == 3 && im.scalar_type() == at::kByte,
                "augment_image_list: image ", i, " must be uint8 [H, W, 3], got ", im.sizes(), " ", im.scalar_type());
    TORCH_CHECK(im.device() == images[0].device(), "augment_image_list: image ", i, " is on ", im.device(),
                ", image 0 on ", images[0].device());
    groups[{im.size(0), im.size(1)}].push_back(i);
  }
  const std::vector<double> m(mean.begin(), mean.end()), s(std.begin(), std.end());
  at::Tensor out;
  for (const auto& [size, members] : groups) {
    std::vector<at::Tensor> batch;
    for (auto i : members) batch.push_back(images[i]);
    const at::Tensor index = at::tensor(members, at::TensorOptions().dtype(at::kLong));
    at::Tensor res = augment_image(at::stack(batch), params.index_select(0, index.to(params.device())), out_h, out_w,
                                   m, s, channels_last, dtype);
    if (!out.defined()) {
      out = at::empty({N, 3, out_h, out_w}, res.options().memory_format(channels_last ? at::MemoryFormat::ChannelsLast
                                                                                      : at::MemoryFormat::Contiguous));
    }
    out.index_copy_(0, index.to(res.device()), res);
  }
  return out;
}

}  // namespace
}  // namespace smlab::ops

TORCH_LIBRARY_IMPL(smlab, CompositeImplicitAutograd, m) {
  m.impl("augment_video", &smlab::ops::augment_video_impl);
  m.impl("augment_image_list", &smlab::ops::augment_image_list_impl);
}
