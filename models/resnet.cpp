// ImageNet ResNets (He et al. 2016) and their ResNeXt / Wide variants, laid out exactly as
// torchvision.models.resnet so that state_dict keys match:
//   conv1 -> bn1 -> relu -> maxpool -> layer1..layer4 -> avgpool -> fc
// with BasicBlock (conv1/bn1/conv2/bn2) or Bottleneck (conv1/bn1/conv2/bn2/conv3/bn3) blocks
// and a projection shortcut `downsample` = Sequential("0" 1x1 conv, "1" BatchNorm2d) when the
// shape changes. The stride sits on the 3x3 conv of a Bottleneck (ResNet v1.5).
//
// resnet50 has 25,557,032 parameters with 1000 classes, as torchvision's.
#include <torch/torch.h>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

using layers::conv;
using layers::ConvOptions;

/// Hyper-parameters of one ResNet variant.
struct ResNetOptions {
  ResNetOptions(bool bottleneck, std::vector<int64_t> blocks) : bottleneck_(bottleneck), blocks_(std::move(blocks)) {}
  TORCH_ARG(bool, bottleneck);              ///< Bottleneck (expansion 4) or BasicBlock (expansion 1)
  TORCH_ARG(std::vector<int64_t>, blocks);  ///< blocks per stage, 4 stages
  TORCH_ARG(int64_t, groups) = 1;           ///< ResNeXt cardinality
  TORCH_ARG(int64_t, width_per_group) = 64; ///< 128 for wide_resnet*_2
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
  TORCH_ARG(bool, zero_init_residual) = false;
  TORCH_ARG(std::string, stem) = "imagenet";  ///< imagenet: 7x7/2 conv + 3x3/2 max-pool; cifar: 3x3/1 conv, no pool
};

/// torchvision's BasicBlock: two 3x3 convs, identity or projection shortcut.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample)
      : conv1(conv(ConvOptions(inplanes, planes, 3).stride(stride))),
        bn1(planes),
        conv2(conv(ConvOptions(planes, planes, 3))),
        bn2(planes),
        downsample(std::move(downsample)) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    if (!this->downsample.is_empty()) register_module("downsample", this->downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    auto identity = downsample.is_empty() ? x : downsample->forward(x);
    return torch::relu(out + identity);
  }

  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Sequential downsample;
};

/// torchvision's Bottleneck: 1x1 reduce, 3x3 (strided, grouped), 1x1 expand (x4).
class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample, int64_t groups,
                 int64_t base_width)
      : width_(static_cast<int64_t>(static_cast<double>(planes) * (static_cast<double>(base_width) / 64.0)) * groups),
        conv1(conv(ConvOptions(inplanes, width_, 1))),
        bn1(width_),
        conv2(conv(ConvOptions(width_, width_, 3).stride(stride).groups(groups))),
        bn2(width_),
        conv3(conv(ConvOptions(width_, planes * 4, 1))),
        bn3(planes * 4),
        downsample(std::move(downsample)) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    register_module("conv3", conv3);
    register_module("bn3", bn3);
    if (!this->downsample.is_empty()) register_module("downsample", this->downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = torch::relu(bn2(conv2(out)));
    out = bn3(conv3(out));
    auto identity = downsample.is_empty() ? x : downsample->forward(x);
    return torch::relu(out + identity);
  }

 private:
  int64_t width_;

 public:
  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Conv2d conv3;
  torch::nn::BatchNorm2d bn3;
  torch::nn::Sequential downsample;
};

/// The ResNet trunk and head.
class ResNetImpl : public Model {
 public:
  explicit ResNetImpl(const ResNetOptions& o) : o_(o) {
    TORCH_CHECK(o.blocks().size() == 4, "ResNet needs 4 stages, got ", o.blocks().size());
    for (auto b : o.blocks()) TORCH_CHECK(b >= 1, "ResNet: every stage needs at least one block, got ", b);
    TORCH_CHECK(o.groups() >= 1 && o.width_per_group() >= 1, "ResNet: invalid groups=", o.groups(),
                " width_per_group=", o.width_per_group());
    TORCH_CHECK(o.bottleneck() || (o.groups() == 1 && o.width_per_group() == 64),
                "BasicBlock only supports groups=1 and width_per_group=64, got groups=", o.groups(),
                " width_per_group=", o.width_per_group());
    TORCH_CHECK(o.stem() == "imagenet" || o.stem() == "cifar", "ResNet: stem must be imagenet or cifar, got ", o.stem());
    conv1_ = register_module("conv1", o.stem() == "cifar" ? conv(ConvOptions(o.in_channels(), 64, 3).stride(1).padding(1))
                                                          : conv(ConvOptions(o.in_channels(), 64, 7).stride(2).padding(3)));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(64));
    const int64_t planes[4] = {64, 128, 256, 512};
    for (int i = 0; i < 4; ++i) {
      stages_[i] = register_module("layer" + std::to_string(i + 1), make_stage(planes[i], o.blocks()[i], i == 0 ? 1 : 2));
    }
    fc_ = register_module("fc", torch::nn::Linear(inplanes_, o.num_classes()));

    layers::init_convs_kaiming_fan_out(*this);
    if (o.zero_init_residual()) {
      torch::NoGradGuard g;
      for (auto& m : modules(false)) {
        if (auto* b = m->as<BottleneckImpl>()) torch::nn::init::zeros_(b->bn3->weight);
        if (auto* b = m->as<BasicBlockImpl>()) torch::nn::init::zeros_(b->bn2->weight);
      }
    }
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = torch::relu(bn1_(conv1_(x)));
    if (o_.stem() == "imagenet") h = torch::max_pool2d(h, 3, 2, 1);
    for (int i = 0; i < 4; ++i) h = tap("layer" + std::to_string(i + 1), stages_[i]->forward(h));
    h = torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
    return fc_(h);
  }

 private:
  torch::nn::Sequential make_stage(int64_t planes, int64_t blocks, int64_t stride) {
    const int64_t expansion = o_.bottleneck() ? 4 : 1;
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t s = b == 0 ? stride : 1;
      torch::nn::Sequential down{nullptr};
      if (b == 0 && (s != 1 || inplanes_ != planes * expansion)) {
        down = torch::nn::Sequential(conv(ConvOptions(inplanes_, planes * expansion, 1).stride(s)),
                                     torch::nn::BatchNorm2d(planes * expansion));
      }
      if (o_.bottleneck()) {
        stage->push_back(std::make_shared<BottleneckImpl>(inplanes_, planes, s, down, o_.groups(), o_.width_per_group()));
      } else {
        stage->push_back(std::make_shared<BasicBlockImpl>(inplanes_, planes, s, down));
      }
      inplanes_ = planes * expansion;
    }
    return stage;
  }

  ResNetOptions o_;
  int64_t inplanes_ = 64;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Sequential stages_[4] = {torch::nn::Sequential{nullptr}, torch::nn::Sequential{nullptr},
                                      torch::nn::Sequential{nullptr}, torch::nn::Sequential{nullptr}};
  torch::nn::Linear fc_{nullptr};
};

void add_variant(const std::string& name, const std::string& help, ResNetOptions base) {
  registry().add(name, {help,
                        config::Schema()
                            .boolean("zero_init_residual", false,
                                     "zero-initialise the last BatchNorm of each residual block")
                            .choice("stem", "imagenet", {"imagenet", "cifar"},
                                    "imagenet: torchvision's 7x7 stride-2 conv and 3x3 max-pool; cifar: one 3x3 "
                                    "stride-1 conv, no pool, for 32x32 inputs (conv1 is then 3x3)"),
                        [name, base](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                          auto o = base;
                          o.in_channels(layers::image_channels(info, name))
                              .num_classes(output_width(info))
                              .zero_init_residual(cfg.get<bool>("model.zero_init_residual"))
                              .stem(cfg.get<std::string>("model.stem"));
                          return std::make_shared<ResNetImpl>(o);
                        }});
}

}  // namespace

void register_resnet() {
  add_variant("resnet18", "ResNet-18, torchvision layout (BasicBlock [2, 2, 2, 2])", ResNetOptions(false, {2, 2, 2, 2}));
  add_variant("resnet34", "ResNet-34, torchvision layout (BasicBlock [3, 4, 6, 3])", ResNetOptions(false, {3, 4, 6, 3}));
  add_variant("resnet50", "ResNet-50, torchvision layout (Bottleneck [3, 4, 6, 3])", ResNetOptions(true, {3, 4, 6, 3}));
  add_variant("resnet101", "ResNet-101, torchvision layout (Bottleneck [3, 4, 23, 3])",
              ResNetOptions(true, {3, 4, 23, 3}));
  add_variant("resnet152", "ResNet-152, torchvision layout (Bottleneck [3, 8, 36, 3])",
              ResNetOptions(true, {3, 8, 36, 3}));
  add_variant("resnext50_32x4d", "ResNeXt-50 32x4d, torchvision layout (grouped 3x3 convs)",
              ResNetOptions(true, {3, 4, 6, 3}).groups(32).width_per_group(4));
  add_variant("wide_resnet50_2", "Wide ResNet-50-2, torchvision layout (bottleneck width x2)",
              ResNetOptions(true, {3, 4, 6, 3}).width_per_group(128));
}

}  // namespace smlab::models
