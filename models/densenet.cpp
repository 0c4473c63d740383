// DenseNet (Huang et al. 2017), laid out as torchvision.models.densenet:
//   features: conv0 (7x7, /2) -> norm0 -> relu0 -> pool0 (3x3 max, /2)
//             -> denseblock1 -> transition1 -> ... -> denseblock4 -> norm5
//   -> relu -> global average pool -> classifier (Linear)
// A dense layer (denselayerK) is norm1 -> relu1 -> conv1 (1x1, bn_size * growth) -> norm2 ->
// relu2 -> conv2 (3x3, growth) on the concatenation of all earlier outputs of its block; a
// transition is norm -> relu -> conv (1x1, halves channels) -> pool (2x2 average).
// densenet121 has 7,978,856 parameters with 1000 classes, as torchvision's.
#include <torch/torch.h>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

using layers::conv;
using layers::ConvOptions;

class DenseLayerImpl : public torch::nn::Module {
 public:
  DenseLayerImpl(int64_t in, int64_t growth, int64_t bn_size, double drop_rate)
      : norm1(in),
        conv1(conv(ConvOptions(in, bn_size * growth, 1))),
        norm2(bn_size * growth),
        conv2(conv(ConvOptions(bn_size * growth, growth, 3))),
        drop_rate_(drop_rate) {
    register_module("norm1", norm1);
    register_module("relu1", torch::nn::ReLU(torch::nn::ReLUOptions(true)));
    register_module("conv1", conv1);
    register_module("norm2", norm2);
    register_module("relu2", torch::nn::ReLU(torch::nn::ReLUOptions(true)));
    register_module("conv2", conv2);
  }
  /// `x` is the concatenation of the block input and every earlier layer's output.
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv1(torch::relu(norm1(x)));
    h = conv2(torch::relu(norm2(h)));
    if (drop_rate_ > 0) h = torch::dropout(h, drop_rate_, is_training());
    return h;
  }

  torch::nn::BatchNorm2d norm1;
  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d norm2;
  torch::nn::Conv2d conv2;

 private:
  double drop_rate_;
};

class DenseBlockImpl : public torch::nn::Module {
 public:
  DenseBlockImpl(int64_t num_layers, int64_t in, int64_t growth, int64_t bn_size, double drop_rate) {
    for (int64_t i = 0; i < num_layers; ++i) {
      layers_.push_back(register_module("denselayer" + std::to_string(i + 1),
                                        std::make_shared<DenseLayerImpl>(in + i * growth, growth, bn_size, drop_rate)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> feats{x};
    for (auto& l : layers_) feats.push_back(l->forward(torch::cat(feats, 1)));
    return torch::cat(feats, 1);
  }

 private:
  std::vector<std::shared_ptr<DenseLayerImpl>> layers_;
};

struct DenseNetOptions {
  DenseNetOptions(int64_t growth_rate, std::vector<int64_t> block_config, int64_t num_init_features)
      : growth_rate_(growth_rate), block_config_(std::move(block_config)), num_init_features_(num_init_features) {}
  TORCH_ARG(int64_t, growth_rate);
  TORCH_ARG(std::vector<int64_t>, block_config);
  TORCH_ARG(int64_t, num_init_features);
  TORCH_ARG(int64_t, bn_size) = 4;
  TORCH_ARG(double, drop_rate) = 0.0;
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
};

class DenseNetImpl : public Model {
 public:
  explicit DenseNetImpl(const DenseNetOptions& o) {
    TORCH_CHECK(o.drop_rate() >= 0.0 && o.drop_rate() < 1.0, "DenseNet: drop_rate must be in [0, 1), got ",
                o.drop_rate());
    features_->push_back("conv0", conv(ConvOptions(o.in_channels(), o.num_init_features(), 7).stride(2).padding(3)));
    features_->push_back("norm0", torch::nn::BatchNorm2d(o.num_init_features()));
    features_->push_back("relu0", torch::nn::ReLU(torch::nn::ReLUOptions(true)));
    features_->push_back("pool0", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
    int64_t n = o.num_init_features();
    const auto& blocks = o.block_config();
    for (size_t i = 0; i < blocks.size(); ++i) {
      features_->push_back("denseblock" + std::to_string(i + 1),
                           std::make_shared<DenseBlockImpl>(blocks[i], n, o.growth_rate(), o.bn_size(), o.drop_rate()));
      n += blocks[i] * o.growth_rate();
      if (i + 1 != blocks.size()) {
        layers::Seq t;
        t->push_back("norm", torch::nn::BatchNorm2d(n));
        t->push_back("relu", torch::nn::ReLU(torch::nn::ReLUOptions(true)));
        t->push_back("conv", conv(ConvOptions(n, n / 2, 1)));
        t->push_back("pool", torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2)));
        features_->push_back("transition" + std::to_string(i + 1), t);
        n /= 2;
      }
    }
    features_->push_back("norm5", torch::nn::BatchNorm2d(n));
    classifier_ = torch::nn::Linear(n, o.num_classes());
    register_module("features", features_);
    register_module("classifier", classifier_);

    // torchvision: kaiming_normal_ (fan_in) convs, BatchNorm 1 / 0, Linear bias 0.
    torch::NoGradGuard g;
    for (auto& m : modules(false)) {
      if (auto* c = m->as<torch::nn::Conv2d>()) torch::nn::init::kaiming_normal_(c->weight);
    }
    layers::init_batch_norms(*this);
    torch::nn::init::zeros_(classifier_->bias);
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = torch::relu(tap("features", features_->forward(x)));
    h = torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
    return classifier_(h);
  }

 private:
  torch::nn::Sequential features_;
  torch::nn::Linear classifier_{nullptr};
};

}  // namespace

void register_densenet() {
  registry().add("densenet121",
                 {"DenseNet-121, torchvision layout (growth 32, blocks [6, 12, 24, 16])",
                  config::Schema().number("drop_rate", 0.0, "dropout after each dense layer", 0.0, 0.95),
                  [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                    return std::make_shared<DenseNetImpl>(DenseNetOptions(32, {6, 12, 24, 16}, 64)
                                                              .drop_rate(cfg.get<double>("model.drop_rate"))
                                                              .in_channels(layers::image_channels(info, "densenet121"))
                                                              .num_classes(output_width(info)));
                  }});
}

}  // namespace smlab::models
