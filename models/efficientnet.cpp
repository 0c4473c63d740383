// EfficientNet-B0 (Tan & Le 2019), laid out as torchvision.models.efficientnet_b0:
//   features.0     Conv2dNormActivation(in, 32, 3x3, /2, SiLU)
//   features.1..7  stages of MBConv blocks; a block's `block` Sequential holds
//                  [1x1 expand ConvNormAct (only when expand ratio != 1)], 3x3/5x5 depthwise
//                  ConvNormAct, SqueezeExcitation (avgpool, fc1, fc2 as 1x1 convs, SiLU / sigmoid),
//                  1x1 project ConvNorm (no activation)
//   features.8     Conv2dNormActivation(320, 1280, 1x1, SiLU)
//   -> global average pool -> classifier (0 Dropout, 1 Linear)
// Residual blocks apply stochastic depth ("row" mode) with a probability rising linearly to
// stochastic_depth_prob over the blocks; it is the identity in eval mode.
// 5,288,548 parameters with 1000 classes, as torchvision's.
#include <torch/torch.h>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

using layers::Act;
using layers::ConvOptions;

/// torchvision.ops.SqueezeExcitation with SiLU and a sigmoid gate.
class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze)
      : fc1(layers::conv(ConvOptions(channels, squeeze, 1).bias(true))),
        fc2(layers::conv(ConvOptions(squeeze, channels, 1).bias(true))) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto s = torch::adaptive_avg_pool2d(x, {1, 1});
    s = fc2(torch::silu(fc1(s)));
    return x * torch::sigmoid(s);
  }
  torch::nn::Conv2d fc1, fc2;
};

/// Drops whole residual branches per sample with probability `p` in training, scaling the
/// kept ones by 1 / (1 - p) (torchvision.ops.stochastic_depth, mode "row").
torch::Tensor stochastic_depth(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  const double survival = 1.0 - p;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  auto noise = torch::empty(shape, x.options()).bernoulli_(survival);
  if (survival > 0.0) noise.div_(survival);
  return x * noise;
}

class MBConvImpl : public torch::nn::Module {
 public:
  MBConvImpl(int64_t expand_ratio, int64_t kernel, int64_t stride, int64_t in, int64_t out, double sd_prob)
      : use_res_connect_(stride == 1 && in == out), sd_prob_(sd_prob) {
    TORCH_CHECK(stride == 1 || stride == 2, "MBConv: stride must be 1 or 2, got ", stride);
    const int64_t expanded = layers::make_divisible(static_cast<double>(in * expand_ratio), 8);
    if (expanded != in) block_->push_back(layers::conv_norm_act(ConvOptions(in, expanded, 1), Act::SiLU));
    block_->push_back(
        layers::conv_norm_act(ConvOptions(expanded, expanded, kernel).stride(stride).groups(expanded), Act::SiLU));
    block_->push_back(std::make_shared<SqueezeExcitationImpl>(expanded, std::max<int64_t>(1, in / 4)));
    block_->push_back(layers::conv_norm_act(ConvOptions(expanded, out, 1), Act::None));
    register_module("block", block_);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = block_->forward(x);
    if (use_res_connect_) out = stochastic_depth(out, sd_prob_, is_training()) + x;
    return out;
  }

 private:
  bool use_res_connect_;
  double sd_prob_;
  torch::nn::Sequential block_;
};

class EfficientNetImpl : public Model {
 public:
  EfficientNetImpl(int64_t in_channels, int64_t num_classes, double dropout, double stochastic_depth_prob) {
    TORCH_CHECK(dropout >= 0.0 && dropout < 1.0, "efficientnet: dropout must be in [0, 1), got ", dropout);
    TORCH_CHECK(stochastic_depth_prob >= 0.0 && stochastic_depth_prob < 1.0,
                "efficientnet: stochastic_depth_prob must be in [0, 1), got ", stochastic_depth_prob);
    // expand ratio, kernel, stride, in, out, layers (B0: width and depth multipliers 1)
    const int64_t setting[7][6] = {{1, 3, 1, 32, 16, 1},   {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},
                                   {6, 3, 2, 40, 80, 3},   {6, 5, 1, 80, 112, 3},  {6, 5, 2, 112, 192, 4},
                                   {6, 3, 1, 192, 320, 1}};
    int64_t total = 0;
    for (const auto& s : setting) total += s[5];
    features_->push_back(layers::conv_norm_act(ConvOptions(in_channels, setting[0][3], 3).stride(2), Act::SiLU));
    int64_t block_id = 0;
    for (const auto& s : setting) {
      layers::Seq stage;
      for (int64_t i = 0; i < s[5]; ++i) {
        const double sd = stochastic_depth_prob * static_cast<double>(block_id) / static_cast<double>(total);
        stage->push_back(std::make_shared<MBConvImpl>(s[0], s[1], i == 0 ? s[2] : 1, i == 0 ? s[3] : s[4], s[4], sd));
        ++block_id;
      }
      features_->push_back(stage);
    }
    const int64_t last_in = setting[6][4], last_channel = 4 * last_in;
    features_->push_back(layers::conv_norm_act(ConvOptions(last_in, last_channel, 1), Act::SiLU));
    classifier_ = torch::nn::Sequential(torch::nn::Dropout(torch::nn::DropoutOptions(dropout).inplace(true)),
                                        torch::nn::Linear(last_channel, num_classes));
    register_module("features", features_);
    register_module("classifier", classifier_);

    layers::init_convs_kaiming_fan_out(*this);
    torch::NoGradGuard g;
    for (auto& m : modules(false)) {
      if (auto* l = m->as<torch::nn::Linear>()) {
        const double r = 1.0 / std::sqrt(static_cast<double>(l->options.out_features()));
        torch::nn::init::uniform_(l->weight, -r, r);
        torch::nn::init::zeros_(l->bias);
      }
    }
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = tap("features", features_->forward(x));
    h = torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
    return classifier_->forward(h);
  }

 private:
  torch::nn::Sequential features_;
  torch::nn::Sequential classifier_{nullptr};
};

}  // namespace

void register_efficientnet() {
  registry().add("efficientnet_b0",
                 {"EfficientNet-B0, torchvision layout (MBConv + squeeze-excitation, SiLU)",
                  config::Schema()
                      .number("dropout", 0.2, "dropout before the classifier", 0.0, 0.95)
                      .number("stochastic_depth_prob", 0.2,
                              "drop probability of the last residual block (linear in depth; train mode only)", 0.0, 0.95),
                  [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                    return std::make_shared<EfficientNetImpl>(layers::image_channels(info, "efficientnet_b0"),
                                                              output_width(info), cfg.get<double>("model.dropout"),
                                                              cfg.get<double>("model.stochastic_depth_prob"));
                  }});
}

}  // namespace smlab::models
