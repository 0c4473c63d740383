// 3D ResNeXt of Hara, Kataoka and Satoh 2018 ("Can Spatiotemporal 3D CNNs Retrace the History of
// 2D CNNs and ImageNet?"), laid out as their reference code (3D-ResNets-PyTorch, resnext.py) so
// that its state_dict keys match:
//   conv1 (7x7x7, stride 1x2x2, 64) -> bn1 -> relu -> maxpool (3x3x3, stride 2)
//   -> layer1 (128) -> layer2 (256, /2) -> layer3 (512, /2) -> layer4 (1024, /2)
//   -> global average pool -> fc (cardinality * 32 * 2 = 2048 -> classes)
// with ResNeXtBottleneck blocks (expansion 2): conv1 1x1x1 to cardinality * planes / 32
// channels, conv2 3x3x3 grouped by the cardinality (strided), conv3 1x1x1 to 2 * planes, each
// followed by BatchNorm3d (bn1..bn3), and shortcut type B: a projection
// downsample = Sequential("0" 1x1x1 conv, "1" BatchNorm3d) where the shape changes.
// resnext3d_50: [3, 4, 6, 3] blocks; resnext3d_101: [3, 4, 23, 3]; cardinality 32.
//
// The reference ends with a fixed AvgPool3d sized for its 16x112x112 clips; here the pool is
// adaptive (identical on those clips, and any clip length and size works). conv1 takes the
// data's channel count.
#include <torch/torch.h>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

using layers::conv3d;

struct ResNeXt3DOptions {
  explicit ResNeXt3DOptions(std::vector<int64_t> blocks) : blocks_(std::move(blocks)) {}
  TORCH_ARG(std::vector<int64_t>, blocks);
  TORCH_ARG(int64_t, cardinality) = 32;
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 400;
};

class ResNeXtBottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 2;
  ResNeXtBottleneckImpl(int64_t inplanes, int64_t planes, int64_t cardinality, int64_t stride,
                        torch::nn::Sequential downsample)
      : mid_(cardinality * planes / 32),
        conv1(conv3d(inplanes, mid_, 1)),
        bn1(mid_),
        conv2(conv3d(mid_, mid_, 3, stride, 1, cardinality)),
        bn2(mid_),
        conv3(conv3d(mid_, planes * kExpansion, 1)),
        bn3(planes * kExpansion),
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
    auto residual = downsample.is_empty() ? x : downsample->forward(x);
    return torch::relu(out + residual);
  }

 private:
  int64_t mid_;

 public:
  torch::nn::Conv3d conv1;
  torch::nn::BatchNorm3d bn1;
  torch::nn::Conv3d conv2;
  torch::nn::BatchNorm3d bn2;
  torch::nn::Conv3d conv3;
  torch::nn::BatchNorm3d bn3;
  torch::nn::Sequential downsample;
};

class ResNeXt3DImpl : public Model {
 public:
  explicit ResNeXt3DImpl(const ResNeXt3DOptions& o) : o_(o) {
    TORCH_CHECK(o.blocks().size() == 4, "3D ResNeXt needs 4 stages, got ", o.blocks().size());
    for (auto b : o.blocks()) TORCH_CHECK(b >= 1, "3D ResNeXt: every stage needs at least one block, got ", b);
    TORCH_CHECK(o.cardinality() >= 1, "3D ResNeXt: cardinality must be positive, got ", o.cardinality());
    conv1_ = register_module("conv1", conv3d(o.in_channels(), 64, 7, {1, 2, 2}, 3));
    bn1_ = register_module("bn1", torch::nn::BatchNorm3d(64));
    const int64_t planes[4] = {128, 256, 512, 1024};
    for (int i = 0; i < 4; ++i) {
      stages_[i] = register_module("layer" + std::to_string(i + 1), make_stage(planes[i], o.blocks()[i], i == 0 ? 1 : 2));
    }
    fc_ = register_module("fc", torch::nn::Linear(inplanes_, o.num_classes()));
    layers::init_convs_kaiming_fan_out(*this);  // Hara et al.: kaiming_normal_(fan_out), BN 1 / 0
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = torch::relu(bn1_(conv1_(x)));
    h = torch::max_pool3d(h, 3, 2, 1);
    for (size_t i = 0; i < 4; ++i) h = tap("layer" + std::to_string(i + 1), stages_[i]->forward(h));
    return fc_(torch::adaptive_avg_pool3d(h, {1, 1, 1}).flatten(1));
  }

 private:
  torch::nn::Sequential make_stage(int64_t planes, int64_t blocks, int64_t stride) {
    const int64_t out = planes * ResNeXtBottleneckImpl::kExpansion;
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t s = b == 0 ? stride : 1;
      torch::nn::Sequential down{nullptr};
      if (b == 0 && (s != 1 || inplanes_ != out)) {
        down = torch::nn::Sequential(conv3d(inplanes_, out, 1, s), torch::nn::BatchNorm3d(out));
      }
      stage->push_back(std::make_shared<ResNeXtBottleneckImpl>(inplanes_, planes, o_.cardinality(), s, down));
      inplanes_ = out;
    }
    return stage;
  }

  ResNeXt3DOptions o_;
  int64_t inplanes_ = 64;
  torch::nn::Conv3d conv1_{nullptr};
  torch::nn::BatchNorm3d bn1_{nullptr};
  torch::nn::Sequential stages_[4] = {torch::nn::Sequential{nullptr}, torch::nn::Sequential{nullptr},
                                      torch::nn::Sequential{nullptr}, torch::nn::Sequential{nullptr}};
  torch::nn::Linear fc_{nullptr};
};

void add_variant(const std::string& name, const std::string& help, std::vector<int64_t> blocks) {
  registry().add(name, {help,
                        config::Schema().integer("cardinality", 32, "groups of the 3x3x3 convs (32 = the paper)", 1),
                        [name, blocks](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                          ResNeXt3DOptions o(blocks);
                          o.in_channels(layers::video_channels(info, name))
                              .num_classes(output_width(info))
                              .cardinality(cfg.get<int64_t>("model.cardinality"));
                          return std::make_shared<ResNeXt3DImpl>(o);
                        }, InputKind::Video});
}

}  // namespace

void register_resnext3d() {
  add_variant("resnext3d_50", "3D ResNeXt-50 (Hara et al. 2018), cardinality 32, shortcut B ([3, 4, 6, 3] blocks)",
              {3, 4, 6, 3});
  add_variant("resnext3d_101", "3D ResNeXt-101 (Hara et al. 2018), cardinality 32, shortcut B ([3, 4, 23, 3] blocks)",
              {3, 4, 23, 3});
}

}  // namespace smlab::models
