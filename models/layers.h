// Building blocks shared by the image model families (models/resnet.cpp, vgg.cpp, ...).
//
// The helpers produce modules whose parameter and buffer names match torchvision's, so that
// weights transfer by name (models/import.h). For example conv_norm_act() is torchvision's
// Conv2dNormActivation: a Sequential of "0" conv, "1" BatchNorm2d, "2" activation.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace smlab::models::layers {

/// Activation placed after a conv + BatchNorm pair.
enum class Act { None, ReLU, ReLU6, SiLU };

/// Per-axis sizes of a 3-d convolution or pooling: one value for (T, H, W) or three.
using Size3 = torch::ExpandingArray<3>;

/// A bias-free Conv3d, as every torchvision / Hara et al. video network builds them.
///
/// Example:
///   auto c = layers::conv3d(64, 128, {1, 3, 3}, {1, 2, 2}, {0, 1, 1});  // spatial-only 3x3, stride 2
inline torch::nn::Conv3d conv3d(int64_t in, int64_t out, Size3 kernel, Size3 stride = 1, Size3 padding = 0,
                                int64_t groups = 1, bool bias = false) {
  TORCH_CHECK(in > 0 && out > 0, "conv3d: channel counts must be positive, got in=", in, " out=", out);
  TORCH_CHECK(groups > 0 && in % groups == 0 && out % groups == 0, "conv3d: groups=", groups, " must divide in=", in,
              " and out=", out);
  return torch::nn::Conv3d(
      torch::nn::Conv3dOptions(in, out, kernel).stride(stride).padding(padding).groups(groups).bias(bias));
}

/// Options of a 2-d convolution as torchvision builds them: padding (k - 1) / 2 unless set.
struct ConvOptions {
  ConvOptions(int64_t in, int64_t out, int64_t kernel) : in_(in), out_(out), kernel_(kernel) {}
  TORCH_ARG(int64_t, in);
  TORCH_ARG(int64_t, out);
  TORCH_ARG(int64_t, kernel);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(int64_t, padding) = -1;  ///< -1: (kernel - 1) / 2
  TORCH_ARG(bool, bias) = false;
};

/// A Conv2d built from ConvOptions.
///
/// Example:
///   auto c = layers::conv(layers::ConvOptions(64, 128, 3).stride(2));  // 3x3, pad 1, no bias
inline torch::nn::Conv2d conv(const ConvOptions& o) {
  TORCH_CHECK(o.in() > 0 && o.out() > 0, "conv: channel counts must be positive, got in=", o.in(), " out=", o.out());
  TORCH_CHECK(o.groups() > 0 && o.in() % o.groups() == 0 && o.out() % o.groups() == 0, "conv: groups=", o.groups(),
              " must divide in=", o.in(), " and out=", o.out());
  const int64_t pad = o.padding() >= 0 ? o.padding() : (o.kernel() - 1) / 2;
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in(), o.out(), o.kernel())
                               .stride(o.stride())
                               .padding(pad)
                               .groups(o.groups())
                               .bias(o.bias()));
}

/// A Sequential with a plain `Tensor forward(Tensor)`, so that it can be nested inside another
/// Sequential (torch::nn::Sequential's templated forward cannot be stored in an AnyModule).
class SeqImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Seq);

/// torchvision's Conv2dNormActivation: Sequential("0" conv without bias, "1" BatchNorm2d, "2" act).
inline Seq conv_norm_act(const ConvOptions& o, Act act) {
  Seq s;
  s->push_back(conv(ConvOptions(o).bias(false)));
  s->push_back(torch::nn::BatchNorm2d(o.out()));
  switch (act) {
    case Act::ReLU: s->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true))); break;
    case Act::ReLU6: s->push_back(torch::nn::ReLU6(torch::nn::ReLU6Options(true))); break;
    case Act::SiLU: s->push_back(torch::nn::SiLU()); break;
    case Act::None: break;
  }
  return s;
}

/// torchvision's _make_divisible: rounds `v` to the nearest multiple of `divisor`, at least
/// `divisor`, and never more than 10% below `v`.
inline int64_t make_divisible(double v, int64_t divisor) {
  int64_t nv = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(nv) < 0.9 * v) nv += divisor;
  return nv;
}

/// Sets every BatchNorm (2-d and 3-d) weight to 1 and bias to 0 (torchvision's initialisation).
inline void init_batch_norms(torch::nn::Module& root) {
  torch::NoGradGuard g;
  auto init = [](auto* bn) {
    torch::nn::init::ones_(bn->weight);
    torch::nn::init::zeros_(bn->bias);
  };
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) init(bn);
    if (auto* bn = m->as<torch::nn::BatchNorm3d>()) init(bn);
  }
}

/// Kaiming-normal (fan_out, ReLU gain) conv weights (2-d and 3-d) with zero biases, as
/// torchvision's ResNet, VGG, MobileNet, EfficientNet and video ResNets initialise them;
/// BatchNorm to 1 / 0.
inline void init_convs_kaiming_fan_out(torch::nn::Module& root) {
  torch::NoGradGuard g;
  auto init = [](auto* c) {
    torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    if (c->bias.defined()) torch::nn::init::zeros_(c->bias);
  };
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* c = m->as<torch::nn::Conv2d>()) init(c);
    if (auto* c = m->as<torch::nn::Conv3d>()) init(c);
  }
  init_batch_norms(root);
}

/// torchvision's classifier initialisation for VGG and MobileNetV2: Linear weights ~ N(0, std^2), biases 0.
inline void init_linears_normal(torch::nn::Module& root, double std) {
  torch::NoGradGuard g;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* l = m->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(l->weight, 0.0, std);
      torch::nn::init::zeros_(l->bias);
    }
  }
}

/// Checks that the data are C x H x W images and returns C.
inline int64_t image_channels(const datasets::DatasetInfo& info, const std::string& model) {
  TORCH_CHECK(info.input_shape.size() == 3, model, " needs C x H x W images, got ", info.input_shape.size(),
              "-d samples");
  TORCH_CHECK(info.input_shape[0] > 0, model, ": input channel count must be positive, got ", info.input_shape[0]);
  return info.input_shape[0];
}

/// Checks that the data are C x T x H x W clips and returns C.
inline int64_t video_channels(const datasets::DatasetInfo& info, const std::string& model) {
  TORCH_CHECK(info.input_shape.size() == 4, model, " needs C x T x H x W clips, got ", info.input_shape.size(),
              "-d samples");
  for (auto d : info.input_shape) TORCH_CHECK(d > 0, model, ": clip dimensions must be positive, got ", info.input_shape);
  return info.input_shape[0];
}

}  // namespace smlab::models::layers
