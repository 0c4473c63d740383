// C3D of Tran et al. 2015 ("Learning Spatiotemporal Features with 3D Convolutional Networks"):
// eight 3x3x3 convolutions (stride 1, padding 1, with bias, ReLU), five max-pools, two 4096-wide
// fully connected layers with dropout 0.5, and the classifier:
//   conv1 64  pool1 (1x2x2)  conv2 128  pool2 (2x2x2)  conv3a/conv3b 256  pool3 (2x2x2)
//   conv4a/conv4b 512  pool4 (2x2x2)  conv5a/conv5b 512  pool5 (2x2x2, spatial padding 1)
//   fc6 4096 -> fc7 4096 -> fc8 classes
// Parameter names follow the widely used PyTorch port of the Sports-1M weights (conv1 ...
// conv5b, fc6, fc7, fc8), so that its state_dict imports by name; no BatchNorm (as the paper).
//
// Adapting to the clip (documented divergence): the paper's 16x112x112 clips leave a 512x1x4x4
// map, so fc6 has 8192 inputs. Here fc6's input width is computed from the configured clip
// (DatasetInfo.input_shape {C, T, H, W}) with the same pooling arithmetic, and a pool whose
// temporal window would exceed the frames left (clips shorter than 16 frames) pools only
// spatially. With 16x112x112 clips the network is exactly the paper's (79,991,015 parameters
// with 487 Sports-1M classes). `width` scales every conv (64 = the paper) and `fc` the hidden
// fully connected layers (4096 = the paper), for small experiments.
#include <torch/torch.h>

#include <array>

#include "models/layers.h"
#include "models/model.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

struct C3DOptions {
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(std::vector<int64_t>, clip) = std::vector<int64_t>{16, 112, 112};  ///< T, H, W
  TORCH_ARG(int64_t, num_classes) = 487;
  TORCH_ARG(int64_t, width) = 64;   ///< conv1 channels; the others scale with it (x2, x4, x8, x8)
  TORCH_ARG(int64_t, fc) = 4096;    ///< fc6 / fc7 width
  TORCH_ARG(double, dropout) = 0.5;
};

class C3DImpl : public Model {
 public:
  explicit C3DImpl(const C3DOptions& o) {
    TORCH_CHECK(o.width() >= 1 && o.fc() >= 1, "c3d: width and fc must be positive, got ", o.width(), " and ", o.fc());
    TORCH_CHECK(o.clip().size() == 3, "c3d: clip must be T, H, W");
    const int64_t w = o.width();
    // name, output channels, pool after it (0 = none, 1 = pool1 (1x2x2), 2 = 2x2x2, 5 = pool5)
    const std::array<std::tuple<const char*, int64_t, int>, 8> plan = {
        {{"conv1", w, 1}, {"conv2", 2 * w, 2}, {"conv3a", 4 * w, 0}, {"conv3b", 4 * w, 2}, {"conv4a", 8 * w, 0},
         {"conv4b", 8 * w, 2}, {"conv5a", 8 * w, 0}, {"conv5b", 8 * w, 5}}};
    int64_t t = o.clip()[0], h = o.clip()[1], wd = o.clip()[2], in = o.in_channels();
    for (const auto& [name, out, pool] : plan) {
      convs_.push_back(register_module(name, layers::conv3d(in, out, 3, 1, 1, 1, /*bias=*/true)));
      names_.emplace_back(name);
      in = out;
      if (pool == 0) {
        pools_.push_back(std::nullopt);
        continue;
      }
      const int64_t kt = pool == 1 || t < 2 ? 1 : 2;  // pool1 keeps time; no temporal pool once one frame is left
      const int64_t pad = pool == 5 ? 1 : 0;
      TORCH_CHECK(h + 2 * pad >= 2 && wd + 2 * pad >= 2, "c3d: the clip is too small (", o.clip()[1], "x",
                  o.clip()[2], ") for ", name, "'s pool; use at least 16x16 frames");
      pools_.push_back(torch::nn::MaxPool3dOptions({kt, 2, 2}).stride({kt, 2, 2}).padding({0, pad, pad}));
      t = (t - kt) / kt + 1;
      h = (h + 2 * pad - 2) / 2 + 1;
      wd = (wd + 2 * pad - 2) / 2 + 1;
    }
    fc6_ = register_module("fc6", torch::nn::Linear(in * t * h * wd, o.fc()));
    fc7_ = register_module("fc7", torch::nn::Linear(o.fc(), o.fc()));
    fc8_ = register_module("fc8", torch::nn::Linear(o.fc(), o.num_classes()));
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout()));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = x;
    for (size_t i = 0; i < convs_.size(); ++i) {
      h = torch::relu(tap(names_[i], convs_[i](h)));
      if (pools_[i]) h = torch::nn::functional::max_pool3d(h, *pools_[i]);
    }
    h = dropout_(torch::relu(fc6_(h.flatten(1))));
    h = dropout_(torch::relu(fc7_(h)));
    return fc8_(h);
  }

 private:
  std::vector<torch::nn::Conv3d> convs_;
  std::vector<std::string> names_;  // the convolutions' module names, for their taps
  std::vector<std::optional<torch::nn::MaxPool3dOptions>> pools_;
  torch::nn::Linear fc6_{nullptr}, fc7_{nullptr}, fc8_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};

}  // namespace

void register_c3d() {
  registry().add(
      "c3d",
      {"C3D (Tran et al. 2015): 8 3x3x3 convs, 5 max-pools, fc6/fc7 4096 with dropout; fc6 sized to the clip",
       config::Schema()
           .integer("width", 64, "conv1 channels; conv2..conv5 use 2x, 4x, 8x, 8x (64 = the paper)", 1)
           .integer("fc", 4096, "width of fc6 and fc7 (4096 = the paper)", 1)
           .number("dropout", 0.5, "dropout after fc6 and fc7", 0.0, 1.0),
       [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
         C3DOptions o;
         o.in_channels(layers::video_channels(info, "c3d"))
             .clip({info.input_shape[1], info.input_shape[2], info.input_shape[3]})
             .num_classes(output_width(info))
             .width(cfg.get<int64_t>("model.width"))
             .fc(cfg.get<int64_t>("model.fc"))
             .dropout(cfg.get<double>("model.dropout"));
         return std::make_shared<C3DImpl>(o);
       }, InputKind::Video});
}

}  // namespace smlab::models
