// The model interface and the model registry.
//
// Every smlab model is a torch::nn::Module with one tensor in and one tensor out
// (logits or regression outputs), so that the trainer, the exporter and the scorer treat
// all families alike. Models are registered by name with the schema of their options and the
// kind of input they take (ModelComponent::input), which the zoo tests, the exporter and
// frame_2d read from the registry entry.
#pragma once
#include <torch/nn/module.h>

#include <functional>
#include <memory>

#include "core/components.h"
#include "datasets/dataset.h"

namespace smlab::models {

class Model : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};
using ModelPtr = std::shared_ptr<Model>;

/// Builds a model from the config's `model` section and what the data says
/// (number of classes, input shape).
using ModelFactory = std::function<ModelPtr(const config::Config&, const datasets::DatasetInfo&)>;

/// What a registered model consumes. Models declare it when they register (the default is
/// Image); the zoo tests and the exporter make example inputs from it.
enum class InputKind {
  Image,     ///< float [B, C, H, W]
  Video,     ///< float [B, C, T, H, W]
  Tokens,    ///< int64 token ids [B, L] (0 = padding)
  Features,  ///< float [B, F] (tabular)
  Series,    ///< float [B, T, F] (forecasting; a regression task)
};

/// A model registry entry: help, schema and factory, plus the kind of input the model takes.
struct ModelComponent : Component<ModelFactory> {
  InputKind input = InputKind::Image;
  ModelComponent(std::string help_, config::Schema params_, ModelFactory make_, InputKind input_ = InputKind::Image)
      : Component<ModelFactory>(std::move(help_), std::move(params_), std::move(make_)), input(input_) {}
};

Registry<ModelComponent>& registry();
void register_builtin();

/// Builds the configured model.
ModelPtr build(const config::Config& cfg, const datasets::DatasetInfo& info);

/// Number of parameters (trainable and frozen).
int64_t parameter_count(const torch::nn::Module& m);

/// Output width for a dataset: classes for classification, output_dim for regression.
int64_t output_width(const datasets::DatasetInfo& info);

/// The input kind of the registered model `model` (its registry entry's `input`); an unknown
/// name is the registry's UserError.
InputKind input_kind(const std::string& model);
std::string input_kind_name(InputKind kind);

/// A small DatasetInfo of the given kind with `outputs` classes (or regression targets for
/// Series): 3x32x32 images, 3x8x32x32 clips, 16 tokens over a vocabulary of 100, 16 features,
/// or 24 steps of 1 feature.
datasets::DatasetInfo example_info(InputKind kind, int64_t outputs);

/// A random batch that fits `info`: token ids in [1, vocab) when info.vocab_size > 0, else
/// standard-normal floats of shape [batch, info.input_shape...].
torch::Tensor example_input(const datasets::DatasetInfo& info, int64_t batch);

/// `t` in the channels-last layout when it is 4-D (NHWC) or 5-D (NDHWC, channels-last-3d for
/// video clips and 3D convolution weights); any other tensor as it is. Values are unchanged.
torch::Tensor channels_last(const torch::Tensor& t);

/// Puts every 4-D and 5-D parameter of `model` in the channels-last layout (train.channels_last).
void to_channels_last(Model& model);

/// Zeros [layers, B, width] for a recurrent layer's initial state, with B taken from `rows`
/// ([B, ...], float) by ops the TorchScript tracer records. Letting torch::nn::LSTM/GRU make its
/// own zero state reads input.size(0) as a plain integer, which a trace bakes in: the exported
/// graph then feeds a state of the traced batch size to the RNN kernel (on CPU oneDNN's, which
/// corrupts the heap rather than checking).
inline torch::Tensor zero_state(const torch::Tensor& rows, int64_t layers, int64_t width) {
  const auto per_row = torch::zeros_like(rows.flatten(1).select(1, 0));  // [B]
  return per_row.view({1, -1, 1}).expand({layers, -1, width}).contiguous();
}

}  // namespace smlab::models
