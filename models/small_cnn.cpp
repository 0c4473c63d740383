// A small CNN for quick image experiments and CI smoke runs:
//   [Conv3x3 -> BatchNorm -> ReLU -> MaxPool2] x len(channels) -> global average pool -> Linear
#include <torch/torch.h>

#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

class SmallCNNImpl : public Model {
 public:
  SmallCNNImpl(int64_t in_ch, const std::vector<int64_t>& channels, int64_t out) {
    int64_t prev = in_ch;
    for (auto c : channels) {
      features_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(prev, c, 3).padding(1).bias(false)));
      features_->push_back(torch::nn::BatchNorm2d(c));
      features_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
      features_->push_back(torch::nn::MaxPool2d(2));
      prev = c;
    }
    fc_ = torch::nn::Linear(prev, out);
    register_module("features", features_);
    register_module("fc", fc_);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = tap("features", features_->forward(x));
    return fc_->forward(h.mean({2, 3}));
  }

 private:
  torch::nn::Sequential features_;
  torch::nn::Linear fc_{nullptr};
};

}  // namespace

void register_small_cnn() {
  registry().add("small_cnn", {"small VGG-style CNN (3x3 conv, BN, ReLU, max-pool stages)",
                               config::Schema().list("channels", config::Type::IntList, "[16, 32]",
                                                     "output channels of each stage", 1),
                               [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                                 TORCH_CHECK(info.input_shape.size() == 3, "small_cnn needs C x H x W images, got ",
                                             info.input_shape.size(), "-d samples");
                                 return std::make_shared<SmallCNNImpl>(
                                     info.input_shape[0], cfg.get<std::vector<int64_t>>("model.channels"),
                                     output_width(info));
                               }});
}

}  // namespace smlab::models
