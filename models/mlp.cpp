// MLP for tabular data (engagement metrics, generated blobs):
//   [Linear -> (BatchNorm) -> ReLU -> Dropout] x len(hidden) -> Linear
#include <torch/torch.h>

#include "models/model.h"

namespace smlab::models {
namespace {

class MLPImpl : public Model {
 public:
  MLPImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out, double dropout, bool batch_norm) {
    int64_t prev = in;
    for (size_t i = 0; i < hidden.size(); ++i) {
      body_->push_back(torch::nn::Linear(prev, hidden[i]));
      if (batch_norm) body_->push_back(torch::nn::BatchNorm1d(hidden[i]));
      body_->push_back(torch::nn::ReLU());
      if (dropout > 0) body_->push_back(torch::nn::Dropout(dropout));
      prev = hidden[i];
    }
    body_->push_back(torch::nn::Linear(prev, out));
    register_module("body", body_);
  }
  torch::Tensor forward(const torch::Tensor& x) override { return body_->forward(x.flatten(1)); }

 private:
  torch::nn::Sequential body_;
};

}  // namespace

void register_mlp() {
  registry().add("mlp", {"multi-layer perceptron for tabular features",
                         config::Schema()
                             .list("hidden", config::Type::IntList, "[64, 64]", "hidden layer widths", 1)
                             .number("dropout", 0.0, "dropout after each hidden layer", 0.0, 0.95)
                             .boolean("batch_norm", false, "BatchNorm1d after each hidden Linear"),
                         [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                           int64_t in = 1;
                           for (auto d : info.input_shape) in *= d;
                           return std::make_shared<MLPImpl>(in, cfg.get<std::vector<int64_t>>("model.hidden"),
                                                            output_width(info), cfg.get<double>("model.dropout"),
                                                            cfg.get<bool>("model.batch_norm"));
                         }, InputKind::Features});
}

}  // namespace smlab::models
