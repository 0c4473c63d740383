// lstm_forecaster: a recurrent multi-horizon forecaster for windows of a time series
// (time_series_windows):
//   x [B, T, F] -> LSTM or GRU (layers, hidden, dropout between layers) -> last step [B, hidden]
//   -> head (Linear, or Linear-ReLU-Linear when head_hidden > 0) -> [B, H] one output per horizon
//   (+ an optional linear "highway" on the flattened window, LSTNet's autoregressive skip).
// Trace-safe: the initial state is built from the input with zeros_like/expand (no sizes read
// from x), and the recurrence calls torch::lstm/torch::gru with the module's own weights.
#include <torch/torch.h>

#include "models/model.h"

namespace smlab::models {
namespace {

class LSTMForecasterImpl : public Model {
 public:
  LSTMForecasterImpl(const std::string& cell, int64_t steps, int64_t features, int64_t hidden, int64_t layers,
                     double dropout, int64_t head_hidden, bool highway, int64_t out)
      : gru_(cell == "gru"), hidden_(hidden), layers_(layers), dropout_(layers > 1 ? dropout : 0.0) {
    if (gru_) {
      gru_mod_ = register_module(
          "rnn", torch::nn::GRU(torch::nn::GRUOptions(features, hidden).num_layers(layers).dropout(dropout_).batch_first(true)));
    } else {
      lstm_mod_ = register_module(
          "rnn", torch::nn::LSTM(torch::nn::LSTMOptions(features, hidden).num_layers(layers).dropout(dropout_).batch_first(true)));
    }
    if (head_hidden > 0) {
      head_->push_back(torch::nn::Linear(hidden, head_hidden));
      head_->push_back(torch::nn::ReLU());
      head_->push_back(torch::nn::Linear(head_hidden, out));
    } else {
      head_->push_back(torch::nn::Linear(hidden, out));
    }
    register_module("head", head_);
    if (highway) {
      highway_ = register_module("highway", torch::nn::Linear(steps * features, out));
      // start the skip at zero so that early training is driven by the recurrent path
      torch::NoGradGuard ng;
      highway_->weight.zero_();
      highway_->bias.zero_();
    }
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    TORCH_CHECK(x.dim() == 3, "lstm_forecaster expects windows [B, T, F], got shape ", x.sizes());
    const auto h0 = zero_state(x, layers_, hidden_);
    const bool train = is_training();
    torch::Tensor seq;
    if (gru_) {
      seq = std::get<0>(torch::gru(x, h0, gru_mod_->all_weights(), true, layers_, dropout_, train, false, true));
    } else {
      seq = std::get<0>(torch::lstm(x, {h0, h0}, lstm_mod_->all_weights(), true, layers_, dropout_, train, false, true));
    }
    auto y = head_->forward(seq.select(1, -1));
    if (highway_) y = y + highway_->forward(x.flatten(1));
    return y;
  }

 private:
  bool gru_;
  int64_t hidden_, layers_;
  double dropout_;
  torch::nn::LSTM lstm_mod_{nullptr};
  torch::nn::GRU gru_mod_{nullptr};
  torch::nn::Sequential head_;
  torch::nn::Linear highway_{nullptr};
};

}  // namespace

void register_lstm_forecaster() {
  registry().add("lstm_forecaster",
                 {"LSTM/GRU forecaster: windows [B,T,F] -> recurrent layers -> last step -> one output per horizon",
                  config::Schema()
                      .choice("cell", "lstm", {"lstm", "gru"}, "recurrent cell")
                      .integer("hidden", 64, "hidden units per layer", 1)
                      .integer("layers", 2, "stacked recurrent layers", 1, 8)
                      .number("dropout", 0.1, "dropout between recurrent layers (training only)", 0.0, 0.95)
                      .integer("head_hidden", 0, "width of a hidden ReLU layer in the output head (0 = a single Linear)", 0)
                      .boolean("highway", true, "add a linear map of the flattened window to the outputs (LSTNet skip)"),
                  [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                    TORCH_CHECK(info.input_shape.size() == 2,
                                "lstm_forecaster needs series windows [T, F] per sample, the data gives shape [",
                                c10::IntArrayRef(info.input_shape), "]");
                    return std::make_shared<LSTMForecasterImpl>(
                        cfg.get<std::string>("model.cell"), info.input_shape[0], info.input_shape[1],
                        cfg.get<int64_t>("model.hidden"), cfg.get<int64_t>("model.layers"), cfg.get<double>("model.dropout"),
                        cfg.get<int64_t>("model.head_hidden"), cfg.get<bool>("model.highway"), output_width(info));
                  }, InputKind::Series});
}

}  // namespace smlab::models
