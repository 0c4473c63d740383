// MobileNetV2 (Sandler et al. 2018), laid out as torchvision.models.mobilenet_v2:
//   features.0      Conv2dNormActivation(in, 32, 3x3, /2, ReLU6)
//   features.1..17  InvertedResidual blocks: `conv` = [1x1 expand (ConvNormAct), 3x3 depthwise
//                   (ConvNormAct), 1x1 project Conv2d, BatchNorm2d]; no expand conv when t = 1
//   features.18     Conv2dNormActivation(320, 1280, 1x1, ReLU6)
//   -> global average pool -> classifier (0 Dropout, 1 Linear)
// 3,504,872 parameters with 1000 classes and width_mult 1, as torchvision's.
#include <torch/torch.h>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

using layers::Act;
using layers::ConvOptions;

class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t inp, int64_t oup, int64_t stride, int64_t expand_ratio)
      : use_res_connect_(stride == 1 && inp == oup) {
    TORCH_CHECK(stride == 1 || stride == 2, "InvertedResidual: stride must be 1 or 2, got ", stride);
    const auto hidden = static_cast<int64_t>(std::lround(static_cast<double>(inp * expand_ratio)));
    if (expand_ratio != 1) conv_->push_back(layers::conv_norm_act(ConvOptions(inp, hidden, 1), Act::ReLU6));
    conv_->push_back(layers::conv_norm_act(ConvOptions(hidden, hidden, 3).stride(stride).groups(hidden), Act::ReLU6));
    conv_->push_back(layers::conv(ConvOptions(hidden, oup, 1)));
    conv_->push_back(torch::nn::BatchNorm2d(oup));
    register_module("conv", conv_);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = conv_->forward(x);
    return use_res_connect_ ? x + out : out;
  }

 private:
  bool use_res_connect_;
  torch::nn::Sequential conv_;
};

class MobileNetV2Impl : public Model {
 public:
  MobileNetV2Impl(int64_t in_channels, int64_t num_classes, double width_mult, double dropout) {
    TORCH_CHECK(width_mult > 0, "mobilenet_v2: width_mult must be positive, got ", width_mult);
    TORCH_CHECK(dropout >= 0.0 && dropout < 1.0, "mobilenet_v2: dropout must be in [0, 1), got ", dropout);
    constexpr int64_t round_nearest = 8;
    // t (expansion), c (output channels), n (blocks), s (stride of the first block)
    const int64_t setting[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t input = layers::make_divisible(32 * width_mult, round_nearest);
    last_channel_ = layers::make_divisible(1280 * std::max(1.0, width_mult), round_nearest);
    features_->push_back(layers::conv_norm_act(ConvOptions(in_channels, input, 3).stride(2), Act::ReLU6));
    for (const auto& s : setting) {
      const int64_t out = layers::make_divisible(static_cast<double>(s[1]) * width_mult, round_nearest);
      for (int64_t i = 0; i < s[2]; ++i) {
        features_->push_back(std::make_shared<InvertedResidualImpl>(input, out, i == 0 ? s[3] : 1, s[0]));
        input = out;
      }
    }
    features_->push_back(layers::conv_norm_act(ConvOptions(input, last_channel_, 1), Act::ReLU6));
    classifier_ = torch::nn::Sequential(torch::nn::Dropout(dropout), torch::nn::Linear(last_channel_, num_classes));
    register_module("features", features_);
    register_module("classifier", classifier_);

    layers::init_convs_kaiming_fan_out(*this);
    layers::init_linears_normal(*this, 0.01);
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = tap("features", features_->forward(x));
    h = torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
    return classifier_->forward(h);
  }

 private:
  int64_t last_channel_ = 1280;
  torch::nn::Sequential features_;
  torch::nn::Sequential classifier_{nullptr};
};

}  // namespace

void register_mobilenet_v2() {
  registry().add("mobilenet_v2",
                 {"MobileNetV2, torchvision layout (inverted residuals, ReLU6)",
                  config::Schema()
                      .number("width_mult", 1.0, "channel multiplier (channels rounded to multiples of 8)", 0.0, 4.0, true)
                      .number("dropout", 0.2, "dropout before the classifier", 0.0, 0.95),
                  [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                    return std::make_shared<MobileNetV2Impl>(layers::image_channels(info, "mobilenet_v2"),
                                                             output_width(info), cfg.get<double>("model.width_mult"),
                                                             cfg.get<double>("model.dropout"));
                  }});
}

}  // namespace smlab::models
