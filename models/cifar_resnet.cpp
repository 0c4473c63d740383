// CIFAR ResNets of He et al. 2016 ("Deep Residual Learning", section 4.2): depth 6n + 2,
//   conv1 (3x3, 16) -> bn1 -> relu -> layer1 (16) -> layer2 (32, /2) -> layer3 (64, /2)
//   -> global average pool -> fc
// with n BasicBlocks per stage. Shortcut option A (the paper's CIFAR choice, default) is
// parameter-free: the input is subsampled with stride 2 and its new channels are zero-padded.
// Option B uses a projection (1x1 conv + BatchNorm, named `downsample` as in torchvision)
// where the shape changes.
//
// Parameter counts with 10 classes, option A: resnet20 269,722 (the paper's 0.27M),
// resnet32 464,154, resnet44 658,586, resnet56 853,018, resnet110 1,727,962 (1.7M).
// Option B adds 2,752 (resnet20: 272,474).
#include <torch/torch.h>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

using layers::conv;
using layers::ConvOptions;

class CifarBasicBlockImpl : public torch::nn::Module {
 public:
  CifarBasicBlockImpl(int64_t in, int64_t planes, int64_t stride, bool projection)
      : conv1(conv(ConvOptions(in, planes, 3).stride(stride))),
        bn1(planes),
        conv2(conv(ConvOptions(planes, planes, 3))),
        bn2(planes),
        reshape_(stride != 1 || in != planes),
        stride_(stride),
        pad_(planes - in) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    if (reshape_ && projection) {
      downsample = register_module(
          "downsample", torch::nn::Sequential(conv(ConvOptions(in, planes, 1).stride(stride)), torch::nn::BatchNorm2d(planes)));
    }
    TORCH_CHECK(pad_ >= 0, "CIFAR ResNet block cannot shrink channels: ", in, " -> ", planes);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    torch::Tensor shortcut = x;
    if (!downsample.is_empty()) {
      shortcut = downsample->forward(x);
    } else if (reshape_) {
      // Option A: x[:, :, ::s, ::s] with pad/2 zero channels on each side (pad/2 before, the
      // rest after), as in the reference CIFAR implementations.
      using torch::indexing::Slice;
      shortcut = x.index({Slice(), Slice(), Slice(torch::indexing::None, torch::indexing::None, stride_),
                          Slice(torch::indexing::None, torch::indexing::None, stride_)});
      shortcut = torch::constant_pad_nd(shortcut, {0, 0, 0, 0, pad_ / 2, pad_ - pad_ / 2}, 0.0);
    }
    return torch::relu(out + shortcut);
  }

  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Sequential downsample{nullptr};

 private:
  bool reshape_;
  int64_t stride_, pad_;
};

class CifarResNetImpl : public Model {
 public:
  CifarResNetImpl(int64_t depth, int64_t in_channels, int64_t num_classes, bool projection, bool zero_init_residual) {
    TORCH_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "CIFAR ResNet depth must be 6n + 2 (20, 32, 44, 56, 110), got ",
                depth);
    const int64_t n = (depth - 2) / 6;
    conv1_ = register_module("conv1", conv(ConvOptions(in_channels, 16, 3)));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(16));
    int64_t in = 16;
    const int64_t planes[3] = {16, 32, 64};
    for (int i = 0; i < 3; ++i) {
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < n; ++b) {
        stage->push_back(std::make_shared<CifarBasicBlockImpl>(in, planes[i], (b == 0 && i > 0) ? 2 : 1, projection));
        in = planes[i];
      }
      stages_.push_back(register_module("layer" + std::to_string(i + 1), stage));
    }
    fc_ = register_module("fc", torch::nn::Linear(64, num_classes));

    // He et al. initialisation (kaiming normal, fan_out) for the convs; BatchNorm 1 / 0.
    layers::init_convs_kaiming_fan_out(*this);
    if (zero_init_residual) {
      torch::NoGradGuard g;
      for (auto& m : modules(false)) {
        if (auto* b = m->as<CifarBasicBlockImpl>()) torch::nn::init::zeros_(b->bn2->weight);
      }
    }
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = torch::relu(bn1_(conv1_(x)));
    for (size_t i = 0; i < stages_.size(); ++i) h = tap("layer" + std::to_string(i + 1), stages_[i]->forward(h));
    return fc_(h.mean({2, 3}));
  }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> stages_;
  torch::nn::Linear fc_{nullptr};
};

}  // namespace

void register_cifar_resnet() {
  for (int64_t depth : {20, 32, 44, 56, 110}) {
    const std::string name = "resnet" + std::to_string(depth);
    registry().add(
        name, {"CIFAR ResNet-" + std::to_string(depth) + " (He et al. 2016: 3 stages 16/32/64, " +
                   std::to_string((depth - 2) / 6) + " blocks each)",
               config::Schema()
                   .choice("shortcut", "A", {"A", "B"},
                           "A: parameter-free subsample + zero-pad shortcut (paper); B: 1x1 conv + BN projection")
                   .boolean("zero_init_residual", false, "zero-initialise the last BatchNorm of each residual block"),
               [name, depth](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                 return std::make_shared<CifarResNetImpl>(depth, layers::image_channels(info, name), output_width(info),
                                                          cfg.get<std::string>("model.shortcut") == "B",
                                                          cfg.get<bool>("model.zero_init_residual"));
               }});
  }
}

}  // namespace smlab::models
