// Image augmentations: the fused uint8 ops (cuda/ smlab::augment_image, augment_eval) and the
// float NCHW ops (grayscale, blur, erasing), each reading its parameters once from the config.
#include <torch/torch.h>

#include <cmath>

#include "cuda/ops.h"
#include "datasets/augment_detail.h"

namespace smlab::datasets::augment_detail {
namespace {

/// The parameters of a random-resized-crop (+ flip, + optional colour jitter) op.
config::Schema crop_schema(bool jitter) {
  config::Schema s;
  s.list("scale", config::Type::FloatList, "[0.08, 1.0]", "range of the crop's area as a fraction of the image",
         0.0, 1.0)
      .list("ratio", config::Type::FloatList, "[0.75, 1.3333333333333333]", "range of the crop's aspect ratio w/h",
            0.0)
      .number("flip_p", 0.5, "probability of a horizontal flip", 0.0, 1.0);
  if (jitter) {
    s.number("brightness", 0.4, "brightness factor ~ U[max(0, 1 - b), 1 + b]", 0.0)
        .number("contrast", 0.4, "contrast factor ~ U[max(0, 1 - c), 1 + c]", 0.0)
        .number("saturation", 0.4, "saturation factor ~ U[max(0, 1 - s), 1 + s]", 0.0)
        .number("hue", 0.1, "hue shift ~ U[-hue, hue] (fraction of a turn)", 0.0, 0.5);
  }
  return s.list("mean", config::Type::FloatList, yaml_list(kImageNetMean), "normalisation mean per channel")
      .list("std", config::Type::FloatList, yaml_list(kImageNetStd), "normalisation std per channel", 0.0);
}

/// Colour jitter strengths of the fused op: brightness, contrast, saturation, hue.
struct Jitter {
  double b = 0, c = 0, s = 0, h = 0;
};

BatchTransform crop_transform(const Params& p, bool jitter) {
  const auto scale = p.range("scale"), ratio = p.range("ratio");
  if (scale.second > 1) p.fail("scale", "must not exceed 1 (the whole image)");
  const double flip_p = p.number("flip_p");
  Jitter j;
  if (jitter) j = {p.number("brightness"), p.number("contrast"), p.number("saturation"), p.number("hue")};
  const auto mean = p.stats("mean", false), std = p.stats("std", true);
  if (mean.size() != 3 || std.size() != 3) p.fail("mean", "and std need 3 values (RGB)");
  const std::string name = p.name();
  return on_inputs([=](const torch::Tensor& x, at::Generator& gen) {
    check_u8_nhwc(x, name);
    const auto params = ops::augment_params(x.size(0), x.size(1), x.size(2), {scale.first, scale.second},
                                            {ratio.first, ratio.second}, flip_p, j.b, j.c, j.s, j.h, draw_seed(gen));
    return ops::augment_image(x, params, x.size(1), x.size(2), mean, std);
  });
}

void resize_center_crop_meaning(const YAML::Node& params, int64_t height, int64_t width, PixelPreprocessing& out) {
  normalising(params, height, width, out);
  out.resize_shorter =
      std::llround(static_cast<double>(std::min(height, width)) / params["crop_fraction"].as<double>());
}

void register_fused() {
  add_augmentation("random_resized_crop_flip_jitter",
      "fused op smlab::augment_image on uint8 NHWC [B,H,W,3] -> float32 NCHW [B,3,H,W]: random-resized-crop "
      "(scale, ratio) back to HxW, flip with flip_p, color jitter (brightness, contrast, saturation, hue), "
      "normalisation with mean/std (default ImageNet)",
      crop_schema(true), [](const YAML::Node& n) { return crop_transform(Params("random_resized_crop_flip_jitter", n), true); },
      normalising);
  add_augmentation("random_resized_crop_flip",
      "fused op smlab::augment_image without color jitter: uint8 NHWC [B,H,W,3] -> random-resized-crop (scale, "
      "ratio) back to HxW, flip with flip_p, normalisation with mean/std (default ImageNet), float32 NCHW",
      crop_schema(false), [](const YAML::Node& n) { return crop_transform(Params("random_resized_crop_flip", n), false); },
      normalising);
  add_augmentation("resize_center_crop",
      "deterministic eval op smlab::augment_eval: uint8 NHWC [B,H,W,3] -> resize the shorter side to "
      "round(min(H,W) / crop_fraction), center-crop HxW, normalisation with mean/std (default ImageNet), float32 NCHW",
      config::Schema()
          .number("crop_fraction", 0.875, "the center crop's share of the resized shorter side", 0.0, 1.0, true)
          .list("mean", config::Type::FloatList, yaml_list(kImageNetMean), "normalisation mean per channel")
          .list("std", config::Type::FloatList, yaml_list(kImageNetStd), "normalisation std per channel", 0.0),
      [](const YAML::Node& n) {
        const Params p("resize_center_crop", n);
        const double fraction = p.number("crop_fraction");
        const auto mean = p.stats("mean", false), std = p.stats("std", true);
        return on_inputs([=](const torch::Tensor& x, at::Generator&) {
          check_u8_nhwc(x, "resize_center_crop");
          const int64_t resize = std::llround(static_cast<double>(std::min(x.size(1), x.size(2))) / fraction);
          return ops::augment_eval(x, resize, x.size(1), x.size(2), mean, std);
        });
      },
      resize_center_crop_meaning);
}

/// Largest odd kernel <= k whose reflect padding fits an image of side `side` (pad < side).
int64_t fitting_kernel(int64_t k, int64_t side) {
  const int64_t max_k = 2 * (side - 1) + 1;
  k = std::min(k, max_k);
  return k % 2 ? k : k - 1;
}

void register_float_ops() {
  add_augmentation("random_grayscale",
      "smlab::grayscale on float32 NCHW RGB batches, each sample with probability p (place it before "
      "normalisation-sensitive steps; on normalised inputs it mixes normalised channels)",
      config::Schema().number("p", 0.2, "probability of converting a sample", 0.0, 1.0), [](const YAML::Node& n) {
        const double p = Params("random_grayscale", n).number("p");
        return on_inputs([p](const torch::Tensor& x, at::Generator& gen) {
          check_float_nchw(x, "random_grayscale");
          return torch::where(sample_mask(x, p, gen), ops::grayscale(x, 3), x);
        });
      });
  add_augmentation("gaussian_blur",
      "smlab::gaussian_blur on float32 NCHW batches: sigma ~ U(sigma) per sample, kernel_size-tap separable kernel "
      "(shrunk to fit small images), reflect padding, applied to each sample with probability p",
      config::Schema()
          .number("p", 0.5, "probability of blurring a sample", 0.0, 1.0)
          .list("sigma", config::Type::FloatList, "[0.1, 2.0]", "range of the per-sample sigma, in pixels", 0.0)
          .integer("kernel_size", 13, "taps of the separable kernel (odd)", 1, 255),
      [](const YAML::Node& n) {
        const Params prm("gaussian_blur", n);
        const double p = prm.number("p");
        const auto sigma = prm.range("sigma");
        const int64_t k = prm.integer("kernel_size");
        if (k % 2 == 0) prm.fail("kernel_size", "must be odd, got " + std::to_string(k));
        return on_inputs([=](const torch::Tensor& x, at::Generator& gen) {
          check_float_nchw(x, "gaussian_blur");
          auto s = torch::rand({x.size(0)}, gen, torch::TensorOptions().dtype(torch::kDouble)) *
                       (sigma.second - sigma.first) + sigma.first;
          const int64_t kk = fitting_kernel(k, std::min(x.size(2), x.size(3)));
          return torch::where(sample_mask(x, p, gen), ops::gaussian_blur(x, s, kk), x);
        });
      });
  add_augmentation("random_erasing",
      "smlab::random_erasing on float32 NCHW batches (torchvision RandomErasing: with probability p a box of "
      "area ~ U(scale) and aspect ~ log-U(ratio) set to value, i.e. the mean colour when placed after normalisation)",
      config::Schema()
          .number("p", 0.5, "probability of erasing a box in a sample", 0.0, 1.0)
          .list("scale", config::Type::FloatList, "[0.02, 0.33]", "range of the box's area as a fraction of the image",
                0.0, 1.0)
          .list("ratio", config::Type::FloatList, "[0.3, 3.3]", "range of the box's aspect ratio", 0.0)
          .number("value", 0.0, "value written into the box"),
      [](const YAML::Node& n) {
        const Params prm("random_erasing", n);
        const double p = prm.number("p"), value = prm.number("value");
        const auto scale = prm.range("scale"), ratio = prm.range("ratio");
        return on_inputs([=](const torch::Tensor& x, at::Generator& gen) {
          check_float_nchw(x, "random_erasing");
          const auto boxes = ops::erasing_params(x.size(0), x.size(2), x.size(3), p, {scale.first, scale.second},
                                                 {ratio.first, ratio.second}, draw_seed(gen));
          return ops::random_erasing(x, boxes, value);
        });
      });
}

}  // namespace

void register_image_ops() {
  register_fused();
  register_float_ops();
}

}  // namespace smlab::datasets::augment_detail
