// frame_2d: a 2-d image model applied to the frames of a clip, the single-frame baseline of
// the video experiments. Input [B, C, T, H, W]:
//   frames: one     the backbone sees frame `frame` only (default: the middle one, T / 2);
//   frames: mean    the backbone sees every frame (folded into the batch) and the logits are
//                   averaged over time, so it sees all frames but not their order.
// The backbone is any registered image model, built for C x H x W images with its own options
// given as `backbone_options: ["channels=[16, 32]"]`; its parameters sit under `backbone.`.
#include <torch/torch.h>

#include "core/config.h"
#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

class Frame2DImpl : public Model {
 public:
  Frame2DImpl(ModelPtr backbone, int64_t frames, int64_t frame, bool mean) : frames_(frames), frame_(frame), mean_(mean) {
    backbone_ = register_module("backbone", std::move(backbone));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    const TapPrefix prefix("backbone.");  // the backbone's taps under its module path
    if (!mean_) return backbone_->forward(x.select(2, frame_));
    // [B, C, T, H, W] -> [B * T, C, H, W] -> logits [B * T, K] -> [B, T, K] -> mean over T.
    // The batch size is inferred (-1), never read from x.size(); T is the model's clip length.
    auto y = backbone_->forward(x.transpose(1, 2).flatten(0, 1));
    return y.unflatten(0, {-1, frames_}).mean(1);
  }

 private:
  ModelPtr backbone_;
  int64_t frames_, frame_;
  bool mean_;
};

ModelPtr make(const config::Config& cfg, const datasets::DatasetInfo& info) {
  layers::video_channels(info, "frame_2d");
  const auto name = cfg.get<std::string>("model.backbone");
  if (input_kind(name) != InputKind::Image) {
    throw config::ConfigError("model.backbone: frame_2d needs an image model, '" + name + "' takes " +
                              input_kind_name(input_kind(name)) + " inputs");
  }
  const int64_t t = info.input_shape[1];
  int64_t frame = cfg.get<int64_t>("model.frame");
  if (frame < 0) frame = t / 2;
  if (frame >= t) {
    throw config::ConfigError("model.frame: frame " + std::to_string(frame) + " is past the clip's " +
                              std::to_string(t) + " frames");
  }
  std::vector<std::string> overrides{"model.name=" + name};
  for (const auto& kv : cfg.get<std::vector<std::string>>("model.backbone_options")) overrides.push_back("model." + kv);
  const auto sub = config::load_string("version: 1\n", "model.backbone_options", overrides);
  datasets::DatasetInfo image = info;
  image.input_shape = {info.input_shape[0], info.input_shape[2], info.input_shape[3]};
  return std::make_shared<Frame2DImpl>(build(sub, image), t, frame, cfg.get<std::string>("model.frames") == "mean");
}

}  // namespace

void register_frame_2d() {
  config::Field backbone{"backbone", config::Type::String, "small_cnn",
                         "registered image model applied to the frames (C x H x W)"};
  backbone.registry = "model";
  registry().add("frame_2d",
                 {"a 2-d image model on one frame of a clip (or averaged over frames): the single-frame baseline",
                  config::Schema()
                      .add(backbone)
                      .list("backbone_options", config::Type::StringList, "[]",
                            "the backbone's own options as key=value, e.g. [\"channels=[16, 32]\"]")
                      .choice("frames", "one", {"one", "mean"},
                              "one: the backbone sees frame `frame` only; mean: every frame, logits averaged over time")
                      .integer("frame", -1, "frame index for frames: one (-1 = the middle frame, T / 2)", -1),
                  make, InputKind::Video});
}

}  // namespace smlab::models
