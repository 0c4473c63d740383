// smlab's augmentation ops, registered with the dispatcher as `torch.ops.smlab.*`.
//
// Each op has a CPU implementation (`*_cpu.cpp`, the reference) and a CUDA one
// (`*_cuda.cu`). The schema is declared once in ops_schema.cpp.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>
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

// ---------------------------------------------------------------------------------------------
// Augmentation ops (docs/augmentation.md). Parameters are drawn on the host from a seed
// (augment_params, video_params, erasing_params, mix_params) and passed to the ops as tensors,
// so the CPU and CUDA kernels apply identical parameters.
// ---------------------------------------------------------------------------------------------

/// Per-sample parameters of augment_image, [n, 9] float64, columns
///   crop y0, x0, h, w (integer valued, torchvision RandomResizedCrop.get_params with scale/ratio),
///   flip (0/1, probability flip_p), brightness, contrast, saturation factors
///   (~ U[max(0, 1-j), 1+j]) and hue shift (~ U[-hue, hue]). Same seed -> same params everywhere.
at::Tensor augment_params(int64_t n, int64_t height, int64_t width, c10::ArrayRef<double> scale,
                          c10::ArrayRef<double> ratio, double flip_p, double brightness, double contrast,
                          double saturation, double hue, int64_t seed);

/// augment_params for images of different sizes: sample i's crop is drawn for heights[i] x widths[i].
/// With all sizes equal it draws exactly what augment_params draws for that size and seed.
at::Tensor augment_params_sizes(c10::ArrayRef<int64_t> heights, c10::ArrayRef<int64_t> widths,
                                c10::ArrayRef<double> scale, c10::ArrayRef<double> ratio, double flip_p,
                                double brightness, double contrast, double saturation, double hue, int64_t seed);

/// augment_image over a list of uint8 HWC images [H_i, W_i, 3] of different sizes, with params
/// [N, 9] from augment_params_sizes: [N, 3, out_h, out_w], sample i equal to augment_image of image
/// i alone. Images of equal size go through one augment_image call together.
at::Tensor augment_image_list(const std::vector<at::Tensor>& images, const at::Tensor& params, int64_t out_h,
                              int64_t out_w, const std::vector<double>& mean, const std::vector<double>& std,
                              bool channels_last = false, std::optional<at::ScalarType> dtype = std::nullopt);

/// Fused training transform: uint8 NHWC [N,H,W,3] -> crop params[n] box, bilinear resize to
/// (out_h, out_w) -> flip -> brightness -> contrast -> saturation -> hue -> (v - mean) / std, written
/// as [N,3,out_h,out_w] float32 (or bfloat16), NCHW or channels_last. Any strides are accepted.
at::Tensor augment_image(const at::Tensor& images_nhwc, const at::Tensor& params, int64_t out_h, int64_t out_w,
                         const std::vector<double>& mean, const std::vector<double>& std, bool channels_last = false,
                         std::optional<at::ScalarType> dtype = std::nullopt);

/// Deterministic eval transform: resize the shorter side to `resize` (bilinear, no antialias),
/// center-crop (out_h, out_w), normalise. Same output options as augment_image.
at::Tensor augment_eval(const at::Tensor& images_nhwc, int64_t resize, int64_t out_h, int64_t out_w,
                        const std::vector<double>& mean, const std::vector<double>& std, bool channels_last = false,
                        std::optional<at::ScalarType> dtype = std::nullopt);

/// Per-clip parameters of augment_video, [n, 10]: the 9 columns of augment_params plus the first
/// frame t0 ~ U{0, ..., frames - out_t} (temporal jitter).
at::Tensor video_params(int64_t n, int64_t frames, int64_t out_t, int64_t height, int64_t width,
                        c10::ArrayRef<double> scale, c10::ArrayRef<double> ratio, double flip_p, double brightness,
                        double contrast, double saturation, double hue, int64_t seed);

/// Video: uint8 clips [N,T,H,W,3] -> frames t0..t0+out_t-1, each with its clip's crop/flip/jitter
/// -> [N, out_t, 3, out_h, out_w].
at::Tensor augment_video(const at::Tensor& clips, const at::Tensor& params, int64_t out_t, int64_t out_h,
                         int64_t out_w, const std::vector<double>& mean, const std::vector<double>& std,
                         bool channels_last = false, std::optional<at::ScalarType> dtype = std::nullopt);

/// Float images [N,C,H,W] (C = 3) -> luma 0.2989 R + 0.587 G + 0.114 B, repeated to
/// num_output_channels (1 or 3).
at::Tensor grayscale(const at::Tensor& images, int64_t num_output_channels = 3);

/// Separable gaussian blur of float images [N,C,H,W], sigma[n] per sample, odd kernel_size,
/// reflect padding (torchvision gaussian_blur).
at::Tensor gaussian_blur(const at::Tensor& images, const at::Tensor& sigma, int64_t kernel_size);

/// Erasing boxes [n, 4] int64 (y0, x0, h, w; h = w = 0: nothing erased), torchvision RandomErasing.
at::Tensor erasing_params(int64_t n, int64_t height, int64_t width, double p, c10::ArrayRef<double> scale,
                          c10::ArrayRef<double> ratio, int64_t seed);

/// Float images [N,C,H,W]: pixels inside boxes[n] set to `value`.
at::Tensor random_erasing(const at::Tensor& images, const at::Tensor& boxes, double value = 0.0);

/// MixUp/CutMix parameters for n samples: lambda[n] ~ Beta(alpha, alpha), CutMix boxes [n,4] for those
/// lambdas (timm rand_bbox), perm = the batch rolled by one (torchvision v2 MixUp/CutMix pairing).
std::tuple<at::Tensor, at::Tensor, at::Tensor> mix_params(int64_t n, int64_t height, int64_t width, double alpha,
                                                         int64_t seed);

/// MixUp: x'[n] = lam[n] x[n] + (1 - lam[n]) x[perm[n]],  y'[n] = lam[n] y[n] + (1 - lam[n]) y[perm[n]]
/// (targets float [N, K], one-hot or soft). Returns (images, targets).
std::tuple<at::Tensor, at::Tensor> mixup(const at::Tensor& images, const at::Tensor& targets, const at::Tensor& perm,
                                         const at::Tensor& lam);

/// CutMix: x'[n] = x[perm[n]] inside boxes[n], x[n] outside; y'[n] = lam y[n] + (1 - lam) y[perm[n]]
/// with lam = 1 - box area / (H W). Returns (images, targets).
std::tuple<at::Tensor, at::Tensor> cutmix(const at::Tensor& images, const at::Tensor& targets, const at::Tensor& perm,
                                          const at::Tensor& boxes);

}  // namespace smlab::ops
