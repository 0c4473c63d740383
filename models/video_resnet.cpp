// Video ResNets of Tran et al. 2018 ("A Closer Look at Spatiotemporal Convolutions for Action
// Recognition"), laid out exactly as torchvision.models.video.resnet (0.26) so that state_dict
// keys match:
//   stem -> layer1..layer4 -> avgpool (1x1x1) -> fc
// with BasicBlocks whose convs are built by one of three conv makers:
//   r3d_18       Conv3DSimple     3x3x3 everywhere (R3D)
//   mc3_18       Conv3DSimple in layer1, Conv3DNoTemporal (1x3x3) in layers 2-4 (MC3)
//   r2plus1d_18  Conv2Plus1D: Sequential("0" 1x3x3 conv to `midplanes`, "1" BN, "2" ReLU,
//                "3" 3x1x1 conv) everywhere, and a (2+1)D stem with 45 intermediate channels
// A block is conv1 = Sequential("0" conv maker, "1" BatchNorm3d, "2" ReLU),
// conv2 = Sequential("0" conv maker, "1" BatchNorm3d) and a projection shortcut
// downsample = Sequential("0" 1x1x1 conv, "1" BatchNorm3d) where the shape changes (its stride
// is the conv maker's: (s, s, s), or (1, s, s) for the no-temporal maker).
// R(2+1)D's midplanes = (inplanes * planes * 27) / (inplanes * 9 + 3 * planes) is computed once
// per block from its inplanes and planes and used for both of its convs, as torchvision does.
//
// Parameter counts with 400 classes (torchvision's model cards): r3d_18 33,371,472,
// mc3_18 11,695,440, r2plus1d_18 31,505,325.
//
// Options beyond torchvision (defaults reproduce it exactly): the stem takes the data's channel
// count (torchvision: always 3); `width` scales every stage (64 = torchvision; the (2+1)D stem's
// 45 becomes round(45 * width / 64)); `blocks` changes the blocks per stage. Any clip length and
// size works: the head pools adaptively to 1x1x1.
#include <torch/torch.h>

#include <array>
#include <cmath>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

using layers::conv3d;
using layers::Seq;

/// torchvision's conv makers.
enum class ConvMaker { Simple3D, NoTemporal, TwoPlusOne };

using StageMakers = std::array<ConvMaker, 4>;

/// Hyper-parameters of one video ResNet.
struct VideoResNetOptions {
  VideoResNetOptions(StageMakers makers, bool r2plus1d_stem) : makers_(makers), r2plus1d_stem_(r2plus1d_stem) {}
  TORCH_ARG(StageMakers, makers);               ///< conv maker of each stage
  TORCH_ARG(bool, r2plus1d_stem);               ///< (2+1)D stem (else the 3x7x7 BasicStem)
  TORCH_ARG(std::vector<int64_t>, blocks) = std::vector<int64_t>{2, 2, 2, 2};
  TORCH_ARG(int64_t, width) = 64;               ///< channels of the stem and layer1 (x2 per stage)
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, num_classes) = 400;
};

/// Appends a conv maker's module to `s`: a bare Conv3d, or the (2+1)D Sequential.
void push_conv(Seq& s, ConvMaker m, int64_t in, int64_t out, int64_t midplanes, int64_t stride) {
  switch (m) {
    case ConvMaker::Simple3D: s->push_back(conv3d(in, out, 3, stride, 1)); return;
    case ConvMaker::NoTemporal: s->push_back(conv3d(in, out, {1, 3, 3}, {1, stride, stride}, {0, 1, 1})); return;
    case ConvMaker::TwoPlusOne: {
      Seq c;
      c->push_back(conv3d(in, midplanes, {1, 3, 3}, {1, stride, stride}, {0, 1, 1}));
      c->push_back(torch::nn::BatchNorm3d(midplanes));
      c->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
      c->push_back(conv3d(midplanes, out, {3, 1, 1}, {stride, 1, 1}, {1, 0, 0}));
      s->push_back(c);
      return;
    }
  }
}

/// torchvision's video BasicBlock.
class VideoBasicBlockImpl : public torch::nn::Module {
 public:
  VideoBasicBlockImpl(int64_t inplanes, int64_t planes, ConvMaker maker, int64_t stride, Seq downsample)
      : downsample(std::move(downsample)) {
    const int64_t midplanes = (inplanes * planes * 3 * 3 * 3) / (inplanes * 3 * 3 + 3 * planes);
    push_conv(conv1, maker, inplanes, planes, midplanes, stride);
    conv1->push_back(torch::nn::BatchNorm3d(planes));
    conv1->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
    push_conv(conv2, maker, planes, planes, midplanes, 1);
    conv2->push_back(torch::nn::BatchNorm3d(planes));
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    if (!this->downsample.is_empty()) register_module("downsample", this->downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = conv2(conv1(x));
    auto residual = downsample.is_empty() ? x : downsample(x);
    return torch::relu(out + residual);
  }

  Seq conv1, conv2, downsample;
};
TORCH_MODULE(VideoBasicBlock);

class VideoResNetImpl : public Model {
 public:
  explicit VideoResNetImpl(const VideoResNetOptions& o) {
    TORCH_CHECK(o.blocks().size() == 4, "video ResNet needs 4 stages, got ", o.blocks().size());
    for (auto b : o.blocks()) TORCH_CHECK(b >= 1, "video ResNet: every stage needs at least one block, got ", b);
    TORCH_CHECK(o.width() >= 1, "video ResNet: width must be positive, got ", o.width());
    const int64_t w = o.width();
    Seq stem;
    if (o.r2plus1d_stem()) {
      const int64_t mid = std::max<int64_t>(1, std::llround(45.0 * static_cast<double>(w) / 64.0));
      stem->push_back(conv3d(o.in_channels(), mid, {1, 7, 7}, {1, 2, 2}, {0, 3, 3}));
      stem->push_back(torch::nn::BatchNorm3d(mid));
      stem->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
      stem->push_back(conv3d(mid, w, {3, 1, 1}, 1, {1, 0, 0}));
    } else {
      stem->push_back(conv3d(o.in_channels(), w, {3, 7, 7}, {1, 2, 2}, {1, 3, 3}));
    }
    stem->push_back(torch::nn::BatchNorm3d(w));
    stem->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
    stem_ = register_module("stem", stem);
    inplanes_ = w;
    for (int i = 0; i < 4; ++i) {
      stages_[i] = register_module("layer" + std::to_string(i + 1),
                                   make_stage(o.makers()[i], w << i, o.blocks()[i], i == 0 ? 1 : 2));
    }
    fc_ = register_module("fc", torch::nn::Linear(inplanes_, o.num_classes()));
    layers::init_convs_kaiming_fan_out(*this);
    layers::init_linears_normal(*this, 0.01);
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = stem_(x);
    for (int i = 0; i < 4; ++i) h = tap("layer" + std::to_string(i + 1), stages_[i](h));
    return fc_(torch::adaptive_avg_pool3d(h, {1, 1, 1}).flatten(1));
  }

 private:
  Seq make_stage(ConvMaker maker, int64_t planes, int64_t blocks, int64_t stride) {
    Seq stage;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t s = b == 0 ? stride : 1;
      Seq down{nullptr};
      if (b == 0 && (s != 1 || inplanes_ != planes)) {
        // get_downsample_stride: (s, s, s), or (1, s, s) for Conv3DNoTemporal.
        const int64_t st = maker == ConvMaker::NoTemporal ? 1 : s;
        down = Seq();
        down->push_back(conv3d(inplanes_, planes, 1, {st, s, s}));
        down->push_back(torch::nn::BatchNorm3d(planes));
      }
      stage->push_back(VideoBasicBlock(inplanes_, planes, maker, s, down));
      inplanes_ = planes;
    }
    return stage;
  }

  int64_t inplanes_ = 64;
  Seq stem_{nullptr};
  std::array<Seq, 4> stages_ = {Seq{nullptr}, Seq{nullptr}, Seq{nullptr}, Seq{nullptr}};
  torch::nn::Linear fc_{nullptr};
};

void add_variant(const std::string& name, const std::string& help, VideoResNetOptions base) {
  registry().add(name, {help,
                        config::Schema()
                            .integer("width", 64, "channels of the stem and layer1, doubled per stage (64 = torchvision)", 1)
                            .list("blocks", config::Type::IntList, "[2, 2, 2, 2]",
                                  "BasicBlocks per stage ([2, 2, 2, 2] = the 18-layer network)", 1),
                        [name, base](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                          auto o = base;
                          o.in_channels(layers::video_channels(info, name))
                              .num_classes(output_width(info))
                              .width(cfg.get<int64_t>("model.width"))
                              .blocks(cfg.get<std::vector<int64_t>>("model.blocks"));
                          return std::make_shared<VideoResNetImpl>(o);
                        }, InputKind::Video});
}

}  // namespace

void register_video_resnet() {
  using M = ConvMaker;
  add_variant("r3d_18", "R3D-18 video ResNet (Tran et al. 2018), torchvision layout: 3x3x3 convs throughout",
              VideoResNetOptions({M::Simple3D, M::Simple3D, M::Simple3D, M::Simple3D}, false));
  add_variant("mc3_18", "MC3-18 video ResNet, torchvision layout: 3x3x3 convs in layer1, 1x3x3 (2-d) after",
              VideoResNetOptions({M::Simple3D, M::NoTemporal, M::NoTemporal, M::NoTemporal}, false));
  add_variant("r2plus1d_18", "R(2+1)D-18 video ResNet, torchvision layout: 1x3x3 spatial + 3x1x1 temporal convs",
              VideoResNetOptions({M::TwoPlusOne, M::TwoPlusOne, M::TwoPlusOne, M::TwoPlusOne}, true));
}

}  // namespace smlab::models
