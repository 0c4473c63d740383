// VGG with BatchNorm (Simonyan & Zisserman 2015), laid out as torchvision.models.vgg:
//   features (Sequential: [conv3x3 -> BatchNorm2d -> ReLU] per width, MaxPool2d(2) per "M")
//   -> avgpool (adaptive, 7x7) -> flatten
//   -> classifier (0 Linear 25088->4096, 1 ReLU, 2 Dropout, 3 Linear 4096->4096, 4 ReLU,
//                  5 Dropout, 6 Linear 4096->classes)
// so features.N indices and classifier.0/3/6 match torchvision's state_dict keys.
#include <torch/torch.h>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

constexpr int64_t M = 0;  ///< max-pool marker in a layer list

class VGGImpl : public Model {
 public:
  VGGImpl(const std::vector<int64_t>& cfg, int64_t in_channels, int64_t num_classes, double dropout) {
    TORCH_CHECK(dropout >= 0.0 && dropout < 1.0, "VGG: dropout must be in [0, 1), got ", dropout);
    int64_t in = in_channels;
    for (auto v : cfg) {
      if (v == M) {
        features_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
      } else {
        features_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, v, 3).padding(1)));
        features_->push_back(torch::nn::BatchNorm2d(v));
        features_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
        in = v;
      }
    }
    classifier_ = torch::nn::Sequential(torch::nn::Linear(in * 7 * 7, 4096), torch::nn::ReLU(torch::nn::ReLUOptions(true)),
                                        torch::nn::Dropout(dropout), torch::nn::Linear(4096, 4096),
                                        torch::nn::ReLU(torch::nn::ReLUOptions(true)), torch::nn::Dropout(dropout),
                                        torch::nn::Linear(4096, num_classes));
    register_module("features", features_);
    register_module("classifier", classifier_);

    layers::init_convs_kaiming_fan_out(*this);
    layers::init_linears_normal(*this, 0.01);
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = tap("features", features_->forward(x));
    h = torch::adaptive_avg_pool2d(h, {7, 7}).flatten(1);
    return classifier_->forward(h);
  }

 private:
  torch::nn::Sequential features_;
  torch::nn::Sequential classifier_{nullptr};
};

void add_variant(const std::string& name, const std::string& help, std::vector<int64_t> cfg) {
  registry().add(name, {help, config::Schema().number("dropout", 0.5, "dropout before the 2nd and 3rd Linear", 0.0, 0.95),
                        [name, cfg](const config::Config& c, const datasets::DatasetInfo& info) -> ModelPtr {
                          return std::make_shared<VGGImpl>(cfg, layers::image_channels(info, name), output_width(info),
                                                           c.get<double>("model.dropout"));
                        }});
}

}  // namespace

void register_vgg() {
  add_variant("vgg11_bn", "VGG-11 with BatchNorm, torchvision layout (config A)",
              {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M});
  add_variant("vgg16_bn", "VGG-16 with BatchNorm, torchvision layout (config D)",
              {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M});
}

}  // namespace smlab::models
