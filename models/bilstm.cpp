// BiLSTM text classifier:
//   token ids [B, L] -> embedding [B, L, E] -> dropout -> `layers` bidirectional LSTM layers
//   (hidden H per direction, dropout between layers) -> pooling over time (max | mean |
//   attention) of the [B, L, 2H] outputs -> dropout -> Linear -> logits.
//
// Padding (id 0, trailing) never reaches a real position's output: each direction is its own
// torch::nn::LSTM (cuDNN on a GPU), the forward one reads the padded rows as they are (padding
// comes after the text, so it cannot influence earlier steps), and the backward one reads each
// row with its real tokens reversed in place (index t < len -> len-1-t, padding stays at the end)
// and its outputs are put back the same way. This is what pack_padded_sequence gives a
// bidirectional nn.LSTM, with the same parameters per layer and direction (weight_ih_l0 of
// fwd.<l> / bwd.<l> = weight_ih_l<l> / weight_ih_l<l>_reverse), but it needs no lengths on
// the host and traces to TorchScript without data-dependent shapes. Pooling is masked as well.
#include <torch/torch.h>

#include "models/model.h"
#include "models/text_layers.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

class BiLSTMImpl : public Model {
 public:
  BiLSTMImpl(int64_t vocab, int64_t embed_dim, int64_t hidden, int64_t layers, std::string pooling, double embed_dropout,
             double dropout, int64_t attention_dim, int64_t out, torch::Tensor ngrams)
      : embedding_(vocab, embed_dim, ngrams),
        embed_dropout_(embed_dropout),
        dropout_(dropout),
        pooling_(std::move(pooling)),
        hidden_(hidden),
        fc_(2 * hidden, out) {
    register_module("embedding", embedding_);
    register_module("embed_dropout", embed_dropout_);
    for (int64_t l = 0; l < layers; ++l) {
      const int64_t in = l == 0 ? embed_dim : 2 * hidden;
      forward_->push_back(torch::nn::LSTM(torch::nn::LSTMOptions(in, hidden).batch_first(true)));
      backward_->push_back(torch::nn::LSTM(torch::nn::LSTMOptions(in, hidden).batch_first(true)));
    }
    register_module("fwd", forward_);
    register_module("bwd", backward_);
    register_module("dropout", dropout_);
    if (pooling_ == "attention") attention_ = register_module("attention", text::AttentionPool(2 * hidden, attention_dim));
    register_module("fc", fc_);
  }

  torch::Tensor forward(const torch::Tensor& tokens) override {
    const auto mask = text::token_mask(tokens);  // [B, L]
    // Index that reverses the real tokens of each row and leaves the padding where it is.
    const auto pos = text::positions(mask);
    const auto len = mask.sum(1, /*keepdim=*/true);
    const auto rev = torch::where(pos < len, len - 1 - pos, pos);  // [B, L], an involution
    auto h = embed_dropout_->forward(tap("embedding", embedding_->forward(tokens)));
    for (size_t l = 0; l < forward_->size(); ++l) {
      if (l > 0) h = dropout_->forward(h);
      const auto idx = rev.unsqueeze(-1).expand_as(h);
      const auto h0 = zero_state(h, 1, hidden_);
      const std::tuple<torch::Tensor, torch::Tensor> state{h0, h0};
      auto f = std::get<0>(forward_[l]->as<torch::nn::LSTM>()->forward(h, state));
      auto b = std::get<0>(backward_[l]->as<torch::nn::LSTM>()->forward(h.gather(1, idx), state));
      h = torch::cat({f, b.gather(1, rev.unsqueeze(-1).expand_as(b))}, 2);  // [B, L, 2H]
    }
    torch::Tensor pooled;
    if (pooling_ == "max") pooled = text::masked_max(h, mask);
    else if (pooling_ == "mean") pooled = text::masked_mean(h, mask);
    else pooled = attention_->forward(h, mask);
    return fc_->forward(dropout_->forward(pooled));
  }

 private:
  text::TokenEmbedding embedding_;
  torch::nn::Dropout embed_dropout_, dropout_;
  torch::nn::ModuleList forward_, backward_;
  std::string pooling_;
  int64_t hidden_;
  text::AttentionPool attention_{nullptr};
  torch::nn::Linear fc_;
};

}  // namespace

void register_bilstm() {
  registry().add("bilstm",
                 {"bidirectional LSTM over token embeddings with masked max, mean or attention pooling",
                  config::Schema()
                      .integer("vocab_size", 0, "embedding rows (0 = the dataset's vocabulary size)", 0)
                      .integer("embed_dim", 128, "embedding width", 1)
                      .integer("hidden", 128, "LSTM units per direction", 1)
                      .integer("layers", 1, "stacked bidirectional layers", 1, 8)
                      .choice("pooling", "max", {"max", "mean", "attention"},
                              "pooling over the real (non-padding) positions; attention: additive (Yang et al. 2016)")
                      .integer("attention_dim", 128, "hidden width of the attention scorer", 1)
                      .number("embed_dropout", 0.3, "dropout on the embeddings", 0.0, 0.95)
                      .number("dropout", 0.5, "dropout between LSTM layers and before the classifier", 0.0, 0.95),
                  [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                    const int64_t vocab = text::embedding_rows(cfg.get<int64_t>("model.vocab_size"), info, "bilstm");
                    return std::make_shared<BiLSTMImpl>(
                        vocab, cfg.get<int64_t>("model.embed_dim"), cfg.get<int64_t>("model.hidden"),
                        cfg.get<int64_t>("model.layers"), cfg.get<std::string>("model.pooling"),
                        cfg.get<double>("model.embed_dropout"), cfg.get<double>("model.dropout"),
                        cfg.get<int64_t>("model.attention_dim"), output_width(info), info.piece_ngrams);
                  }, InputKind::Tokens});
}

}  // namespace smlab::models
