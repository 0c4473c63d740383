// The model interface and the model registry.
//
// Every smlab model is a torch::nn::Module with one tensor in and one tensor out
// (logits or regression outputs), so that the trainer, the exporter and the scorer treat
// all families alike. Models are registered by name with the schema of their options.
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

ComponentRegistry<ModelFactory>& registry();
void register_builtin();

/// Builds the configured model.
ModelPtr build(const config::Config& cfg, const datasets::DatasetInfo& info);

/// Number of parameters (trainable and frozen).
int64_t parameter_count(const torch::nn::Module& m);

/// Output width for a dataset: classes for classification, output_dim for regression.
int64_t output_width(const datasets::DatasetInfo& info);

}  // namespace smlab::models
