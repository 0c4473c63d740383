// Video-consistent clip augmentation on the training device: the fused op smlab::augment_video
// crops, flips and colour-jitters every frame of a clip the same way. Inputs are uint8 clips
// [B, T, H, W, 3] (video_folder / hdf5_clips with data.dtype: uint8_nthwc), outputs float32
// [B, 3, T', S, S], the layout the video models take.
#include <torch/torch.h>

#include "cuda/ops.h"
#include "datasets/augment_detail.h"

namespace smlab::datasets::augment_detail {
namespace {

void check_clips(const torch::Tensor& x, const std::string& name) {
  TORCH_CHECK((x.dim() == 5 || x.dim() == 6) && x.size(-1) == 3 && x.scalar_type() == torch::kUInt8, name,
              " needs uint8 clip batches [B, T, H, W, 3] (data.dtype: uint8_nthwc), got ", x.sizes(), " ",
              x.scalar_type());
}

/// Output frames and side: `frames` 0 = all T; `size` 0 = keep H x W (else size x size).
struct ClipShape {
  int64_t frames = 0, size = 0;
  int64_t out_t(const torch::Tensor& x, const std::string& name) const {
    const int64_t t = x.size(-4);
    TORCH_CHECK(frames <= t, name, ": frames=", frames, " but the clips have ", t, " frames");
    return frames > 0 ? frames : t;
  }
};

/// [N, out_t, 3, h, w] from augment_video -> [N, 3, out_t, h, w] (contiguous).
torch::Tensor to_ncthw(const torch::Tensor& y) { return y.permute({0, 2, 1, 3, 4}).contiguous(); }

/// Runs `fn` on [B, T, H, W, 3] clips; multi-clip batches [B, K, T, H, W, 3] as B * K clips.
template <class Fn>
torch::Tensor per_clip(const torch::Tensor& x, Fn fn) {
  if (x.dim() == 5) return fn(x);
  const auto y = fn(x.flatten(0, 1));
  return y.unflatten(0, {x.size(0), x.size(1)});
}

BatchTransform train_transform(const Params& p) {
  const auto scale = p.range("scale"), ratio = p.range("ratio");
  if (scale.second > 1) p.fail("scale", "must not exceed 1 (the whole frame)");
  const double flip_p = p.number("flip_p"), b = p.number("brightness"), c = p.number("contrast"),
               s = p.number("saturation"), h = p.number("hue");
  const ClipShape shape{p.integer("frames"), p.integer("size")};
  const auto mean = p.stats("mean", false), std = p.stats("std", true);
  if (mean.size() != 3 || std.size() != 3) p.fail("mean", "and std need 3 values (RGB)");
  const std::string name = p.name();
  return on_inputs([=](const torch::Tensor& x, at::Generator& gen) {
    check_clips(x, name);
    const int64_t out_t = shape.out_t(x, name);
    return per_clip(x, [&](const torch::Tensor& v) {
      const int64_t H = v.size(2), W = v.size(3);
      const auto params = ops::video_params(v.size(0), v.size(1), out_t, H, W, {scale.first, scale.second},
                                            {ratio.first, ratio.second}, flip_p, b, c, s, h, draw_seed(gen));
      return to_ncthw(ops::augment_video(v, params, out_t, shape.size ? shape.size : H, shape.size ? shape.size : W,
                                         mean, std));
    });
  });
}

/// Deterministic: the centre `frames` frames, the centre size x size crop, normalisation.
BatchTransform eval_transform(const Params& p) {
  const ClipShape shape{p.integer("frames"), p.integer("size")};
  const auto mean = p.stats("mean", false), std = p.stats("std", true);
  if (mean.size() != 3 || std.size() != 3) p.fail("mean", "and std need 3 values (RGB)");
  const std::string name = p.name();
  return on_inputs([=](const torch::Tensor& x, at::Generator&) {
    check_clips(x, name);
    const int64_t out_t = shape.out_t(x, name);
    return per_clip(x, [&](const torch::Tensor& v) {
      const int64_t n = v.size(0), T = v.size(1), H = v.size(2), W = v.size(3);
      const int64_t ch = shape.size ? shape.size : H, cw = shape.size ? shape.size : W;
      TORCH_CHECK(ch <= H && cw <= W, name, ": size=", shape.size, " is larger than the ", H, "x", W, " frames");
      // columns: crop y0, x0, h, w, flip, brightness, contrast, saturation, hue, t0
      const auto row = torch::tensor({static_cast<double>((H - ch) / 2), static_cast<double>((W - cw) / 2),
                                      static_cast<double>(ch), static_cast<double>(cw), 0.0, 1.0, 1.0, 1.0, 0.0,
                                      static_cast<double>((T - out_t) / 2)},
                                     torch::kDouble);
      return to_ncthw(ops::augment_video(v, row.unsqueeze(0).expand({n, 10}).contiguous(), out_t, ch, cw, mean, std));
    });
  });
}

config::Schema video_shape(config::Schema s) {
  return s.integer("frames", 0, "frames per output clip, a window at a random (training) or central start (0 = all)", 0)
      .integer("size", 0, "output side S: frames become S x S (0 = keep the input's H x W; set data.size to match)", 0)
      .list("mean", config::Type::FloatList, "[0.0, 0.0, 0.0]",
            "normalisation mean per channel on the [0, 1] scale (default: none, like the float clip path)")
      .list("std", config::Type::FloatList, "[1.0, 1.0, 1.0]", "normalisation std per channel", 0.0);
}

}  // namespace

void register_video_ops() {
  add_augmentation(
      "video_random_resized_crop_flip_jitter",
      "fused op smlab::augment_video on uint8 clips [B,T,H,W,3] (data.dtype: uint8_nthwc) -> float32 [B,3,T',S,S] "
      "on the training device: one random-resized-crop (scale, ratio), flip (flip_p) and colour jitter per clip, "
      "the same for every frame, a random window of `frames` frames, normalisation with mean/std",
      video_shape(config::Schema()
                      .list("scale", config::Type::FloatList, "[0.08, 1.0]",
                            "range of the crop's area as a fraction of the frame", 0.0, 1.0)
                      .list("ratio", config::Type::FloatList, "[0.75, 1.3333333333333333]",
                            "range of the crop's aspect ratio w/h", 0.0)
                      .number("flip_p", 0.5, "probability of flipping a clip", 0.0, 1.0)
                      .number("brightness", 0.4, "brightness factor ~ U[max(0, 1 - b), 1 + b]", 0.0)
                      .number("contrast", 0.4, "contrast factor ~ U[max(0, 1 - c), 1 + c]", 0.0)
                      .number("saturation", 0.4, "saturation factor ~ U[max(0, 1 - s), 1 + s]", 0.0)
                      .number("hue", 0.1, "hue shift ~ U[-hue, hue]", 0.0, 0.5)),
      [](const YAML::Node& n) { return train_transform(Params("video_random_resized_crop_flip_jitter", n)); },
      normalising);
  add_augmentation(
      "video_center_crop",
      "deterministic eval op smlab::augment_video on uint8 clips [B,T,H,W,3] or [B,K,T,H,W,3] (multi-clip) -> "
      "float32 [B,3,T',S,S] ([B,K,3,T',S,S]): the central `frames` frames and S x S crop, normalisation",
      video_shape(config::Schema()),
      [](const YAML::Node& n) { return eval_transform(Params("video_center_crop", n)); }, normalising);
}

}  // namespace smlab::datasets::augment_detail
