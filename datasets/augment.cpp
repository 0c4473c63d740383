#include "datasets/augment.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cuda/ops.h"

namespace smlab::datasets {
namespace {

/// A 62-bit seed for the host-side parameter samplers of cuda/ops.h, drawn from the step's generator,
/// so the fused ops stay reproducible under (seed, epoch, step) like every other augmentation.
int64_t draw_seed(at::Generator& gen) {
  return torch::randint(0, int64_t{1} << 62, {1}, gen, torch::TensorOptions().dtype(torch::kLong)).item<int64_t>();
}

const std::vector<double> kImageNetMean = {0.485, 0.456, 0.406};
const std::vector<double> kImageNetStd = {0.229, 0.224, 0.225};
// CIFAR-10 training-set channel statistics of pixels / 255 (the values torchvision-based recipes use).
const std::vector<double> kCifar10Mean = {0.4914, 0.4822, 0.4465};
const std::vector<double> kCifar10Std = {0.2470, 0.2435, 0.2616};

void check_u8_nhwc(const torch::Tensor& x, const char* name) {
  TORCH_CHECK(x.dim() == 4 && x.size(3) == 3 && x.scalar_type() == torch::kUInt8, name,
              " needs uint8 NHWC image batches [B, H, W, 3], got ", x.sizes(), " ", x.scalar_type());
}

void check_float_nchw(const torch::Tensor& x, const char* name) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat, name, " needs float32 NCHW batches [B, C, H, W], got ",
              x.sizes(), " ", x.scalar_type());
}

/// Per-sample Bernoulli(p) mask of shape [B, 1, 1, 1].
torch::Tensor sample_mask(const torch::Tensor& x, double p, at::Generator& gen) {
  return (torch::rand({x.size(0)}, gen, torch::TensorOptions().dtype(torch::kFloat)) < p)
      .to(x.device())
      .view({x.size(0), 1, 1, 1});
}

void register_image_ops() {
  auto& r = augment_registry();
  r.add("random_resized_crop_flip_jitter",
        {"fused op smlab::augment_image on uint8 NHWC [B,H,W,3] -> float32 NCHW [B,3,H,W]: random-resized-crop "
         "(scale 0.08-1, ratio 3/4-4/3) back to HxW, flip p=0.5, color jitter 0.4/0.4/0.4/0.1, ImageNet normalisation",
         config::Schema(), [](const torch::Tensor& x, at::Generator& gen) {
           check_u8_nhwc(x, "random_resized_crop_flip_jitter");
           const auto p = ops::augment_params(x.size(0), x.size(1), x.size(2), {0.08, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, 0.5,
                                              0.4, 0.4, 0.4, 0.1, draw_seed(gen));
           return ops::augment_image(x, p, x.size(1), x.size(2), kImageNetMean, kImageNetStd);
         }});
  r.add("random_resized_crop_flip",
        {"fused op smlab::augment_image without color jitter: uint8 NHWC [B,H,W,3] -> random-resized-crop back to HxW, "
         "flip p=0.5, ImageNet normalisation, float32 NCHW",
         config::Schema(), [](const torch::Tensor& x, at::Generator& gen) {
           check_u8_nhwc(x, "random_resized_crop_flip");
           const auto p = ops::augment_params(x.size(0), x.size(1), x.size(2), {0.08, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, 0.5,
                                              0, 0, 0, 0, draw_seed(gen));
           return ops::augment_image(x, p, x.size(1), x.size(2), kImageNetMean, kImageNetStd);
         }});
  r.add("resize_center_crop",
        {"deterministic eval op smlab::augment_eval: uint8 NHWC [B,H,W,3] -> resize the shorter side to "
         "round(min(H,W) / 0.875), center-crop HxW, ImageNet normalisation, float32 NCHW",
         config::Schema(), [](const torch::Tensor& x, at::Generator&) {
           check_u8_nhwc(x, "resize_center_crop");
           const int64_t resize = std::llround(static_cast<double>(std::min(x.size(1), x.size(2))) / 0.875);
           return ops::augment_eval(x, resize, x.size(1), x.size(2), kImageNetMean, kImageNetStd);
         }});
  r.add("random_grayscale",
        {"smlab::grayscale on float32 NCHW RGB batches, each sample with probability 0.2 (place it before "
         "normalisation-sensitive steps; on normalised inputs it mixes normalised channels)",
         config::Schema(), [](const torch::Tensor& x, at::Generator& gen) {
           check_float_nchw(x, "random_grayscale");
           return torch::where(sample_mask(x, 0.2, gen), ops::grayscale(x, 3), x);
         }});
  r.add("gaussian_blur",
        {"smlab::gaussian_blur on float32 NCHW batches: sigma ~ U(0.1, 2.0) per sample, 13-tap separable kernel, "
         "reflect padding, applied to each sample with probability 0.5",
         config::Schema(), [](const torch::Tensor& x, at::Generator& gen) {
           check_float_nchw(x, "gaussian_blur");
           auto sigma = torch::rand({x.size(0)}, gen, torch::TensorOptions().dtype(torch::kDouble)) * 1.9 + 0.1;
           return torch::where(sample_mask(x, 0.5, gen), ops::gaussian_blur(x, sigma, 13), x);
         }});
  r.add("random_erasing",
        {"smlab::random_erasing on float32 NCHW batches (torchvision RandomErasing defaults: p=0.5, scale 0.02-0.33, "
         "ratio 0.3-3.3, value 0, i.e. the mean colour when placed after normalisation)",
         config::Schema(), [](const torch::Tensor& x, at::Generator& gen) {
           check_float_nchw(x, "random_erasing");
           const auto boxes = ops::erasing_params(x.size(0), x.size(2), x.size(3), 0.5, {0.02, 0.33}, {0.3, 3.3},
                                                  draw_seed(gen));
           return ops::random_erasing(x, boxes, 0.0);
         }});
}

}  // namespace

PixelPreprocessing eval_preprocessing(const std::vector<std::string>& names,
                                      const std::vector<std::string>& train_names, int64_t height, int64_t width) {
  // The fused image ops normalise with ImageNet statistics; resize_center_crop also resizes.
  const std::set<std::string> normalising = {"random_resized_crop_flip_jitter", "random_resized_crop_flip",
                                             "resize_center_crop"};
  PixelPreprocessing p;
  auto any_of = [&](const std::vector<std::string>& v) {
    return std::any_of(v.begin(), v.end(), [&](const std::string& n) { return normalising.count(n) > 0; });
  };
  if (any_of(names) || any_of(train_names)) {
    p.mean = kImageNetMean;
    p.std = kImageNetStd;
  }
  // cifar10_normalize on [0, 1] pixels: the same per-channel normalisation with CIFAR-10 statistics.
  const std::string cifar = "cifar10_normalize";
  if (std::find(names.begin(), names.end(), cifar) != names.end() ||
      std::find(train_names.begin(), train_names.end(), cifar) != train_names.end()) {
    p.mean = kCifar10Mean;
    p.std = kCifar10Std;
  }
  if (std::find(names.begin(), names.end(), "resize_center_crop") != names.end())
    p.resize_shorter = std::llround(static_cast<double>(std::min(height, width)) / 0.875);
  return p;
}

ComponentRegistry<AugmentFn>& augment_registry() {
  static ComponentRegistry<AugmentFn> r("augmentation");
  return r;
}

torch::Tensor apply_augmentations(const std::vector<std::string>& names, torch::Tensor batch, at::Generator& gen) {
  for (const auto& n : names) batch = augment_registry().get(n).make(batch, gen);
  return batch;
}

void register_augmentations() {
  augment_registry().add("hflip", {"flip each sample along its last (width) axis with probability 1/2", config::Schema(),
                                   [](const torch::Tensor& x, at::Generator& gen) {
                                     TORCH_CHECK(x.dim() >= 3, "hflip needs [B, ..., W] batches, got rank ", x.dim());
                                     // mask[b] ~ Bernoulli(1/2); out = mask ? flip(x) : x
                                     // Drawn on the host generator, then moved: the same flips on CPU and GPU.
                                     auto mask = (torch::rand({x.size(0)}, gen, torch::kFloat) < 0.5).to(x.device());
                                     std::vector<int64_t> shape(x.dim(), 1);
                                     shape[0] = x.size(0);
                                     return torch::where(mask.view(shape), x.flip({-1}), x);
                                   }});
  augment_registry().add("gaussian_noise", {"add N(0, 0.1^2) noise to every element", config::Schema(),
                                            [](const torch::Tensor& x, at::Generator& gen) {
                                              // Host generator (the step's), then moved to x's device.
                                              return x + 0.1 * torch::randn(x.sizes(), gen, x.options().device(torch::kCPU))
                                                                   .to(x.device());
                                            }});
  augment_registry().add(
      "random_crop_pad4",
      {"zero-pad 4 pixels on every side and crop back to HxW at a random offset per sample (He et al. 2016's "
       "CIFAR augmentation; torchvision RandomCrop(size, padding=4)); any [B, C, H, W] batch",
       config::Schema(), [](const torch::Tensor& x, at::Generator& gen) {
         TORCH_CHECK(x.dim() == 4, "random_crop_pad4 needs [B, C, H, W] batches, got ", x.sizes());
         constexpr int64_t pad = 4;
         const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
         const auto offsets = torch::randint(0, 2 * pad + 1, {b, 2}, gen, torch::TensorOptions().dtype(torch::kLong));
         const auto padded = torch::constant_pad_nd(x, {pad, pad, pad, pad}, 0);
         auto out = torch::empty_like(x);
         const auto* o = offsets.data_ptr<int64_t>();
         for (int64_t i = 0; i < b; ++i)
           out[i].copy_(padded[i].narrow(1, o[2 * i], h).narrow(2, o[2 * i + 1], w));
         return out;
       }});
  augment_registry().add(
      "cifar10_normalize",
      {"subtract the CIFAR-10 channel mean (0.4914, 0.4822, 0.4465) and divide by the std (0.2470, 0.2435, 0.2616); "
       "float32 [B, 3, H, W] in [0, 1] (hdf5_images dtype float); list it in augment.train and augment.eval",
       config::Schema(), [](const torch::Tensor& x, at::Generator&) {
         check_float_nchw(x, "cifar10_normalize");
         TORCH_CHECK(x.size(1) == 3, "cifar10_normalize needs 3 channels, got ", x.size(1));
         const auto opt = x.options();
         return (x - torch::tensor(kCifar10Mean, opt).view({1, 3, 1, 1})) / torch::tensor(kCifar10Std, opt).view({1, 3, 1, 1});
       }});
  register_image_ops();
  expose(augment_registry());
}

}  // namespace smlab::datasets
