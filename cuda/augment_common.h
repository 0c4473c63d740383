// Per-sample descriptors, argument checks and the per-pixel formulas shared by the CPU reference
// (augment_cpu.cpp) and the CUDA kernels (augment_cuda.cu) of the augmentation ops. Everything
// that computes a value is written once here as a host/device function, so both backends run the
// same float32 arithmetic (DALI style: the formula sits next to the code that computes it).
#pragma once
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__CUDACC__)
#define SMLAB_HD __host__ __device__ __forceinline__
#else
#define SMLAB_HD inline
#endif

namespace smlab::ops::detail {

// Columns of the [N, kAugParams] float64 params tensor of augment_image (augment_params()).
enum AugParam : int {
  kCropY = 0,      ///< crop box top row (integer valued)
  kCropX = 1,      ///< crop box left column (integer valued)
  kCropH = 2,      ///< crop box height >= 1
  kCropW = 3,      ///< crop box width >= 1
  kFlip = 4,       ///< 1: mirror horizontally after the resize, 0: keep
  kBrightness = 5, ///< brightness factor, 1 = unchanged
  kContrast = 6,   ///< contrast factor, 1 = unchanged
  kSaturation = 7, ///< saturation factor, 1 = unchanged
  kHue = 8,        ///< hue shift in turns, in [-0.5, 0.5], 0 = unchanged
  kAugParams = 9
};
// augment_video params have one more column: the clip's first frame (temporal jitter).
constexpr int kVideoT0 = 9;
constexpr int kVideoParams = 10;

/// How output index i along one axis maps to source rows/columns (torch's bilinear rule,
/// align_corners=false, antialias=false, see aten/src/ATen/native/UpSample.h):
///   src   = max(ratio * (i + offset + 0.5) - 0.5, 0)
///   i0    = min(floor(src), len - 1),  i1 = i0 + (i0 < len - 1),  lambda = clamp(src - i0, 0, 1)
///   rows  = base + i0, base + i1
/// random-resized-crop (crop, then resize): offset 0, ratio = crop_len / out_len, base = crop start,
/// len = crop length (so the clamp is at the crop border, as when the crop is cut out first).
/// eval (resize the whole image, then center-crop): offset = crop start in the resized image,
/// ratio = in_len / resized_len, base 0, len = in_len.
struct AxisMap {
  float ratio;
  float offset;
  int32_t base;
  int32_t len;
};

struct SampleDesc {
  AxisMap y, x;
  int32_t flip;
  float brightness, contrast, saturation, hue;
};

/// One output tap: the two source indices and their weights.
struct Tap {
  int32_t i0, i1;
  float w0, w1;
};

SMLAB_HD float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }

SMLAB_HD Tap axis_tap(const AxisMap& a, int32_t i) {
  float src = a.ratio * (static_cast<float>(i) + a.offset + 0.5f) - 0.5f;
  src = src < 0.f ? 0.f : src;  // area_pixel_compute_source_index: clamp at 0 for linear modes
  int32_t i0 = static_cast<int32_t>(floorf(src));
  i0 = i0 < a.len - 1 ? i0 : a.len - 1;
  float l1 = src - static_cast<float>(i0);
  l1 = l1 < 0.f ? 0.f : (l1 > 1.f ? 1.f : l1);
  Tap t;
  t.i0 = a.base + i0;
  t.i1 = a.base + i0 + (i0 < a.len - 1 ? 1 : 0);
  t.w1 = l1;
  t.w0 = 1.f - l1;
  return t;
}

/// Bilinear sample of the 3 channels of a contiguous uint8 HWC image, returned on the [0, 1] scale:
///   v = (wy0 * (wx0 * p[y0,x0] + wx1 * p[y0,x1]) + wy1 * (wx0 * p[y1,x0] + wx1 * p[y1,x1])) / 255
/// (the same order of operations as torch's CPU upsample_bilinear2d).
SMLAB_HD void sample_rgb(const uint8_t* img, int32_t W, const Tap& ty, const Tap& tx, float rgb[3]) {
  const uint8_t* r0 = img + static_cast<int64_t>(ty.i0) * W * 3;
  const uint8_t* r1 = img + static_cast<int64_t>(ty.i1) * W * 3;
  for (int c = 0; c < 3; ++c) {
    const float a = r0[tx.i0 * 3 + c], b = r0[tx.i1 * 3 + c];
    const float d = r1[tx.i0 * 3 + c], e = r1[tx.i1 * 3 + c];
    rgb[c] = (ty.w0 * (tx.w0 * a + tx.w1 * b) + ty.w1 * (tx.w0 * d + tx.w1 * e)) * (1.f / 255.f);
  }
}


/// Luma of ITU-R BT.601 with torchvision's coefficients (rgb_to_grayscale): 0.2989 R + 0.587 G + 0.114 B.
SMLAB_HD float luma(const float rgb[3]) { return 0.2989f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]; }

/// Brightness (torchvision adjust_brightness = _blend(img, 0, f)):  v = clamp(f * v, 0, 1)
SMLAB_HD void apply_brightness(float rgb[3], float f) {
  if (f == 1.f) return;
  for (int c = 0; c < 3; ++c) rgb[c] = clamp01(f * rgb[c]);
}

/// Contrast (torchvision adjust_contrast = _blend(img, mean(gray(img)), f)), where `mean` is the mean
/// luma of the whole (cropped, resized, brightness-adjusted) image:  v = clamp(f * v + (1 - f) * mean, 0, 1)
SMLAB_HD void apply_contrast(float rgb[3], float f, float mean) {
  if (f == 1.f) return;
  for (int c = 0; c < 3; ++c) rgb[c] = clamp01(f * rgb[c] + (1.f - f) * mean);
}

/// Saturation (torchvision adjust_saturation = _blend(img, gray(img), f)):  v = clamp(f * v + (1 - f) * luma, 0, 1)
SMLAB_HD void apply_saturation(float rgb[3], float f) {
  if (f == 1.f) return;
  const float g = luma(rgb);
  for (int c = 0; c < 3; ++c) rgb[c] = clamp01(f * rgb[c] + (1.f - f) * g);
}

/// One of four values by a 2-bit index, without branches.
SMLAB_HD float pick4(float a, float b, float c, float d, unsigned k) {
  return k == 0u ? a : (k == 1u ? b : (k == 2u ? c : d));
}

/// Hue: rotation in HSV, as torchvision.transforms.v2.functional.adjust_hue (_rgb_to_hsv / _hsv_to_rgb):
///   V = max(r,g,b), m = min(r,g,b), C = V - m, S = C / V (0 when C = 0)
///   rc,gc,bc = (V - r)/C, (V - g)/C, (V - b)/C
///   H6 = (bc - gc) if V == r; (2 + rc - bc) if V == g; (4 + gc - rc) otherwise;  H = fmod(H6/6 + 1, 1)
///   H' = (H + hue) mod 1
///   i = floor(6 H'), f = 6 H' - i, p = V (1 - S), q = V (1 - S f), t = V (1 - S (1 - f))  (each clamped to [0,1])
///   (r,g,b) = (V,t,p) (q,V,p) (p,V,t) (p,q,V) (t,p,V) (V,p,q) for i mod 6 = 0..5
/// Skipped when hue == 0: the round trip is then the identity up to float rounding, and skipping
/// makes hue 0 exact (torchvision runs the round trip).
SMLAB_HD void apply_hue(float rgb[3], float hue) {
  if (hue == 0.f) return;
  const float r = rgb[0], g = rgb[1], b = rgb[2];
  const float maxc = fmaxf(r, fmaxf(g, b));
  const float minc = fminf(r, fminf(g, b));
  const bool eqc = maxc == minc;
  const float cr = maxc - minc;
  const float s = cr / (eqc ? 1.f : maxc);
  const float inv = 1.f / (eqc ? 1.f : cr);  // one division instead of three (within 1 ulp of x / C)
  const float rc = (maxc - r) * inv, gc = (maxc - g) * inv, bc = (maxc - b) * inv;
  // selects rather than branches: the branch taken is data dependent
  float h = maxc == r ? bc - gc : (maxc == g ? 2.f + rc - bc : 4.f + gc - rc);
  // H = fmod(h/6 + 1, 1); the argument lies in [5/6, 2), where this is x - floor(x), exactly
  h = h * (1.f / 6.f) + 1.f;
  h = h >= 1.f ? h - 1.f : h;
  // H' = (H + hue) mod 1 (Python-style); H + hue lies in [-0.5, 1.5)
  h = h + hue;
  h = h < 0.f ? h + 1.f : (h >= 1.f ? h - 1.f : h);
  const float v = maxc;
  const float h6 = h * 6.f;
  int i = static_cast<int>(h6);  // floor(h6) for h6 >= 0
  const float f = h6 - static_cast<float>(i);
  i = i >= 6 ? i - 6 : i;  // i mod 6 (h6 may round up to 6)
  // torchvision's arithmetic, clamps included
  const float sxf = s * f;
  const float one_minus_s = 1.f - s;
  const float q = clamp01((1.f - sxf) * v);         // q = V (1 - S f)
  const float t = clamp01((sxf + one_minus_s) * v);  // t = V (1 - S (1 - f))
  const float p = clamp01(one_minus_s * v);          // p = V (1 - S)
  // torchvision's select table, rows r, g, b, columns i = 0..5, entries index (v, p, q, t):
  //   r: 0 2 1 1 3 0   g: 3 0 0 2 1 1   b: 1 1 3 0 0 2
  // i.e. (r,g,b) = (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q); packed as 2 bits per channel, 6 bits per i.
  constexpr uint64_t kSelect = 28ULL | (18ULL << 6) | (49ULL << 12) | (9ULL << 18) | (7ULL << 24) | (36ULL << 30);
  const unsigned code = static_cast<unsigned>(kSelect >> (6 * i)) & 63u;
  rgb[0] = pick4(v, p, q, t, code & 3u);
  rgb[1] = pick4(v, p, q, t, (code >> 2) & 3u);
  rgb[2] = pick4(v, p, q, t, (code >> 4) & 3u);
}

/// Sampled, flipped and brightness-adjusted pixel (i, j) of sample d: the input of the contrast mean.
///   flip: output column j reads resized column (out_w - 1 - j)
SMLAB_HD void pixel_pre_contrast(const uint8_t* img, int32_t W, const SampleDesc& d, int32_t i, int32_t j,
                                 int32_t out_w, float rgb[3]) {
  const int32_t jj = d.flip ? out_w - 1 - j : j;
  const Tap ty = axis_tap(d.y, i);
  const Tap tx = axis_tap(d.x, jj);
  sample_rgb(img, W, ty, tx, rgb);
  apply_brightness(rgb, d.brightness);
}

/// The rest of the pipeline: contrast -> saturation -> hue (fixed order, see docs/augmentation.md).
SMLAB_HD void pixel_post_contrast(const SampleDesc& d, float gray_mean, float rgb[3]) {
  apply_contrast(rgb, d.contrast, gray_mean);
  apply_saturation(rgb, d.saturation);
  apply_hue(rgb, d.hue);
}

/// Normalisation, folded into one multiply-add per channel:
///   out = (v - mean) / std = v * scale + shift,  scale = 1/std, shift = -mean/std
struct NormAffine {
  float scale[3];
  float shift[3];
};

// ---------------------------------------------------------------------------------------------
// Host-side helpers (both backends)
// ---------------------------------------------------------------------------------------------

NormAffine make_affine(c10::ArrayRef<double> mean, c10::ArrayRef<double> std, const char* op);

/// Checks images (uint8, [N,H,W,3]) and params ([N, kAugParams] float64) and turns the params into
/// per-sample descriptors (crop box checked against the image).
std::vector<SampleDesc> descs_from_params(const at::Tensor& images, const at::Tensor& params, int64_t out_h,
                                          int64_t out_w);

/// Descriptors of the deterministic eval transform: resize the shorter side to `resize`
/// (longer = floor(resize * long / short), as torchvision), then center-crop (out_h, out_w),
/// with top = round_half_even((resized_h - out_h) / 2) (Python's round, as torchvision).
std::vector<SampleDesc> descs_for_eval(const at::Tensor& images, int64_t resize, int64_t out_h, int64_t out_w);

/// Output tensor [N, 3, out_h, out_w] in float32 (default) or bfloat16, NCHW or channels_last.
at::Tensor make_image_output(const at::Tensor& like, int64_t N, int64_t out_h, int64_t out_w, bool channels_last,
                             std::optional<at::ScalarType> dtype, const char* op);

/// Float images [N, C, H, W] for the float ops (grayscale, blur, erasing, mixup, cutmix).
void check_float_images(const at::Tensor& x, const char* op);

/// Normalised 1-D gaussian weights, torchvision's _get_gaussian_kernel1d:
///   x_k = k - (K-1)/2, w_k = exp(-x_k^2 / (2 sigma^2)) / sum_k exp(...)
at::Tensor gaussian_weights(const at::Tensor& sigma, int64_t kernel_size);

/// Reflect index (torch 'reflect' padding, edge not repeated): -1 -> 1, L -> L-2. L == 1 -> 0.
SMLAB_HD int32_t reflect_index(int32_t i, int32_t L) {
  if (L == 1) return 0;
  const int32_t period = 2 * (L - 1);
  i = i % period;
  if (i < 0) i += period;
  return i < L ? i : period - i;
}

/// Checks of mixup/cutmix arguments; returns perm as int64 on the images' device.
void check_mix_args(const at::Tensor& images, const at::Tensor& targets, const at::Tensor& perm, const char* op);

/// Mixed targets: y'[n] = lam[n] y[n] + (1 - lam[n]) y[perm[n]] (ATen ops, on the targets' device and dtype).
at::Tensor mix_targets(const at::Tensor& targets, const at::Tensor& perm, const at::Tensor& lam);

/// CutMix boxes clipped to the image: CPU int64 [N, 4] (y0, x0, h, w) with 0 <= y0 <= y0 + h <= H.
at::Tensor clip_boxes(const at::Tensor& boxes, int64_t H, int64_t W);

/// CutMix label weight of the clipped boxes: lam[n] = 1 - h w / (H W), float64 [N].
at::Tensor cutmix_lambda(const at::Tensor& clipped_boxes, int64_t H, int64_t W);

}  // namespace smlab::ops::detail
