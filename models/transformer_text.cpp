// A small Transformer encoder for text, trained from scratch:
//   token ids [B, L] -> embedding [B, L, D] (+ a learned [CLS] vector in front with cls pooling)
//   + positions (learned table or sinusoidal, Vaswani et al. 2017) -> dropout
//   -> `layers` pre-LayerNorm encoder blocks (multi-head self-attention with a key-padding mask,
//   GELU feed-forward) -> LayerNorm -> pooling (masked mean of the real positions, or the [CLS]
//   output) -> dropout -> Linear -> logits.
//
// The key-padding mask is additive: -1e4 on padded keys, whose softmax weight underflows to
// exactly 0, so real positions never see the padding and appending padding leaves the output
// unchanged (a row without any real token just yields finite garbage that pooling then masks).
// Attention reshapes use unflatten/flatten with the model's own head sizes only, so the forward
// traces to TorchScript without baking the batch or sequence length.
#include <torch/torch.h>

#include <cmath>

#include "models/model.h"
#include "models/text_layers.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int64_t dim, int64_t heads, double dropout)
      : heads_(heads),
        dropout_(dropout),
        in_proj(register_module("in_proj", torch::nn::Linear(dim, 3 * dim))),
        out_proj(register_module("out_proj", torch::nn::Linear(dim, dim))) {}

  /// x [B, L, D]; key_bias [B, 1, 1, L] additive (0 or -1e4).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_bias) {
    const int64_t dh = out_proj->options.in_features() / heads_;
    auto qkv = in_proj->forward(x).chunk(3, -1);
    auto split = [&](const torch::Tensor& t) { return t.unflatten(-1, {heads_, dh}).transpose(1, 2); };  // [B, H, L, dh]
    auto q = split(qkv[0]), k = split(qkv[1]), v = split(qkv[2]);
    auto o = torch::scaled_dot_product_attention(q, k, v, key_bias.to(q.dtype()), is_training() ? dropout_ : 0.0);
    return out_proj->forward(o.transpose(1, 2).flatten(2));  // [B, L, D]
  }

 private:
  int64_t heads_;
  double dropout_;

 public:
  torch::nn::Linear in_proj, out_proj;
};
TORCH_MODULE(SelfAttention);

class EncoderBlockImpl : public torch::nn::Module {
 public:
  EncoderBlockImpl(int64_t dim, int64_t heads, int64_t ff, double dropout)
      : norm1(register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})))),
        attn(register_module("attn", SelfAttention(dim, heads, dropout))),
        norm2(register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})))),
        ff1(register_module("ff1", torch::nn::Linear(dim, ff))),
        ff2(register_module("ff2", torch::nn::Linear(ff, dim))),
        drop(register_module("drop", torch::nn::Dropout(dropout))) {}

  torch::Tensor forward(torch::Tensor x, const torch::Tensor& key_bias) {
    x = x + drop->forward(attn->forward(norm1->forward(x), key_bias));
    return x + drop->forward(ff2->forward(drop->forward(torch::gelu(ff1->forward(norm2->forward(x))))));
  }

  torch::nn::LayerNorm norm1;
  SelfAttention attn;
  torch::nn::LayerNorm norm2;
  torch::nn::Linear ff1, ff2;
  torch::nn::Dropout drop;
};
TORCH_MODULE(EncoderBlock);

class TransformerTextImpl : public Model {
 public:
  TransformerTextImpl(int64_t vocab, int64_t dim, int64_t heads, int64_t layers, int64_t ff, double dropout,
                      std::string positions, int64_t max_positions, std::string pooling, int64_t out,
                      torch::Tensor ngrams)
      : embedding_(vocab, dim, ngrams),
        positions_(std::move(positions)),
        max_positions_(max_positions),
        pooling_(std::move(pooling)),
        drop_(dropout),
        norm_(torch::nn::LayerNormOptions({dim})),
        fc_(dim, out) {
    register_module("embedding", embedding_);
    if (positions_ == "learned") {
      pos_embedding_ = register_module("pos_embedding", torch::nn::Embedding(max_positions, dim));
      torch::nn::init::normal_(pos_embedding_->weight, 0.0, 0.02);
    } else {
      // 1 / 10000^(2i/D), i = 0 .. D/2-1
      inv_freq_ = register_buffer(
          "inv_freq", torch::exp(torch::arange(0, dim, 2, torch::kFloat) * (-std::log(10000.0) / static_cast<double>(dim))));
    }
    if (pooling_ == "cls") cls_ = register_parameter("cls", torch::randn({1, 1, dim}) * 0.02);
    for (int64_t l = 0; l < layers; ++l) layers_->push_back(EncoderBlock(dim, heads, ff, dropout));
    register_module("layers", layers_);
    register_module("drop", drop_);
    register_module("norm", norm_);
    register_module("fc", fc_);
  }

  torch::Tensor forward(const torch::Tensor& tokens) override {
    auto mask = text::token_mask(tokens);           // [B, L]
    auto x = tap("embedding", embedding_->forward(tokens));  // [B, L, D]
    if (pooling_ == "cls") {
      const auto first = x.narrow(1, 0, 1);        // [B, 1, D]: only its shape is used
      x = torch::cat({cls_.to(x.dtype()).expand_as(first), x}, 1);
      mask = torch::cat({torch::ones_like(mask.narrow(1, 0, 1)), mask}, 1);
    }
    TORCH_CHECK(positions_ != "learned" || x.size(1) <= max_positions_, "transformer_text: ", x.size(1),
                " positions exceed model.max_positions=", max_positions_);
    const auto pos = text::positions(mask);  // [B, L']
    if (positions_ == "learned") {
      x = x + pos_embedding_->forward(pos);
    } else {
      const auto angle = pos.to(torch::kFloat).unsqueeze(-1) * inv_freq_;  // [B, L', D/2]
      x = x + torch::stack({angle.sin(), angle.cos()}, -1).flatten(2).to(x.dtype());
    }
    x = drop_->forward(x);
    const auto key_bias = torch::zeros_like(mask, torch::kFloat).masked_fill(mask.logical_not(), -1e4).unsqueeze(1).unsqueeze(1);
    for (const auto& layer : *layers_) x = layer->as<EncoderBlock>()->forward(x, key_bias);
    x = norm_->forward(x);
    const auto pooled = pooling_ == "cls" ? x.select(1, 0) : text::masked_mean(x, mask);
    return fc_->forward(drop_->forward(pooled));
  }

 private:
  text::TokenEmbedding embedding_;
  std::string positions_;
  int64_t max_positions_;
  std::string pooling_;
  torch::nn::Embedding pos_embedding_{nullptr};
  torch::Tensor inv_freq_, cls_;
  torch::nn::ModuleList layers_;
  torch::nn::Dropout drop_;
  torch::nn::LayerNorm norm_;
  torch::nn::Linear fc_;
};

}  // namespace

void register_transformer_text() {
  registry().add(
      "transformer_text",
      {"small pre-LayerNorm Transformer encoder over token embeddings (key-padding mask; mean or [CLS] pooling)",
       config::Schema()
           .integer("vocab_size", 0, "embedding rows (0 = the dataset's vocabulary size)", 0)
           .integer("dim", 128, "model width D (even; a multiple of heads)", 2)
           .integer("heads", 4, "attention heads", 1)
           .integer("layers", 2, "encoder blocks", 1, 48)
           .integer("ff", 256, "feed-forward width", 1)
           .number("dropout", 0.1, "dropout on embeddings, attention weights, residual branches and before the classifier",
                   0.0, 0.95)
           .choice("positions", "learned", {"learned", "sinusoidal"}, "position encoding added to the embeddings")
           .integer("max_positions", 0, "rows of the learned position table (0 = the data's max_len, +1 with cls)", 0)
           .choice("pooling", "mean", {"mean", "cls"}, "masked mean of the real positions, or a learned [CLS] token's output"),
       [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
         const int64_t vocab = text::embedding_rows(cfg.get<int64_t>("model.vocab_size"), info, "transformer_text");
         const auto dim = cfg.get<int64_t>("model.dim"), heads = cfg.get<int64_t>("model.heads");
         if (dim % heads != 0 || dim % 2 != 0)
           throw config::ConfigError("model.dim=" + std::to_string(dim) + " must be even and a multiple of model.heads=" +
                                     std::to_string(heads));
         const auto pooling = cfg.get<std::string>("model.pooling");
         int64_t max_pos = cfg.get<int64_t>("model.max_positions");
         if (max_pos == 0) {
           TORCH_CHECK(!info.input_shape.empty() && info.input_shape[0] > 0,
                       "transformer_text: set model.max_positions (the data does not report its sequence length)");
           max_pos = info.input_shape[0] + (pooling == "cls" ? 1 : 0);
         }
         return std::make_shared<TransformerTextImpl>(vocab, dim, heads, cfg.get<int64_t>("model.layers"),
                                                      cfg.get<int64_t>("model.ff"), cfg.get<double>("model.dropout"),
                                                      cfg.get<std::string>("model.positions"), max_pos, pooling,
                                                      output_width(info), info.piece_ngrams);
       }, InputKind::Tokens});
}

}  // namespace smlab::models
