// Building blocks shared by the text model families (text_cnn.cpp, bilstm.cpp,
// transformer_text.cpp).
//
// Token inputs are int64 ids [B, L], 0 = padding (trailing). The padding mask is `ids != 0`.
// With character n-grams (data.char_ngrams), the dataset hands over a table of hashed n-gram ids
// per piece (DatasetInfo::piece_ngrams); TokenEmbedding keeps it as a buffer and embeds a piece
// as the mean of its own vector and its n-grams' vectors (fastText-style subword averaging).
//
// Everything here is written for TorchScript export by tracing: no value of x.size() reaches a
// view/reshape/expand/zeros; shapes come from ops that infer them (ones_like, cumsum, expand_as).
#pragma once
#include <torch/torch.h>

#include <limits>
#include <string>
#include <utility>

#include "datasets/dataset.h"
#include "models/tap.h"

namespace smlab::models::text {

/// The padding mask [B, L] (bool, true = real token) of token ids [B, L].
inline torch::Tensor token_mask(const torch::Tensor& ids) { return ids != 0; }

/// Positions 0..L-1 of every row, [B, L] int64, without reading L.
inline torch::Tensor positions(const torch::Tensor& mask) {
  return torch::ones_like(mask, torch::kLong).cumsum(1) - 1;
}

/// Embedding rows a text model needs: the model's vocab_size option (0 = the data's), plus the
/// n-gram buckets when the data has character n-grams.
inline int64_t embedding_rows(int64_t configured, const datasets::DatasetInfo& info, const std::string& model) {
  const int64_t vocab = configured > 0 ? configured : info.vocab_size;
  TORCH_CHECK(vocab > 0, model, " needs model.vocab_size or a token dataset that reports its vocabulary");
  if (!info.piece_ngrams.defined()) return vocab;
  TORCH_CHECK(vocab == info.vocab_size, model, ": model.vocab_size=", vocab, " must equal the data's ", info.vocab_size,
              " pieces when data.char_ngrams is on (n-gram ids follow the pieces)");
  return vocab + info.ngram_buckets;
}

/// Embedding of token ids [B, L] -> [B, L, dim]. Row 0 is the padding row: it stays zero and
/// gets no gradient. With an n-gram table [V, G] (ids in [V, rows), 0 = unused), a piece's
/// vector is the mean of the embeddings of its id and its non-zero n-gram ids.
class TokenEmbeddingImpl : public torch::nn::Module {
 public:
  TokenEmbeddingImpl(int64_t rows, int64_t dim, torch::Tensor ngrams = {})
      : embedding(register_module("embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(rows, dim).padding_idx(0)))) {
    if (ngrams.defined()) {
      TORCH_CHECK(ngrams.dim() == 2 && ngrams.scalar_type() == torch::kLong, "n-gram table must be int64 [V, G]");
      TORCH_CHECK(ngrams.numel() == 0 || ngrams.max().item<int64_t>() < rows, "n-gram ids exceed the embedding rows");
      ngrams_ = register_buffer("ngrams", ngrams.clone());
    }
  }

  torch::Tensor forward(const torch::Tensor& ids) {
    TORCH_CHECK(ids.dim() == 2, "text models expect token ids [B, L], got shape ", ids.sizes());
    if (!ngrams_.defined()) return embedding->forward(ids);
    const auto all = torch::cat({ids.unsqueeze(-1), ngrams_.index({ids})}, -1);  // [B, L, 1+G]
    auto e = embedding->forward(all).sum(2);                                     // [B, L, dim]
    auto n = (all != 0).sum(2, /*keepdim=*/true).clamp_min(1).to(e.dtype());    // [B, L, 1]
    return e / n;
  }

  torch::nn::Embedding embedding;

 private:
  torch::Tensor ngrams_;
};
TORCH_MODULE(TokenEmbedding);

/// Max over the real positions of h [B, L, D] (mask [B, L]); rows without a real token give 0.
inline torch::Tensor masked_max(const torch::Tensor& h, const torch::Tensor& mask) {
  const auto m = mask.unsqueeze(-1);
  auto pooled = h.masked_fill(m.logical_not(), -std::numeric_limits<float>::infinity()).amax(1);
  return pooled.masked_fill(m.any(1).logical_not(), 0.0);
}

/// Mean over the real positions of h [B, L, D] (mask [B, L]); rows without a real token give 0.
inline torch::Tensor masked_mean(const torch::Tensor& h, const torch::Tensor& mask) {
  const auto m = mask.unsqueeze(-1).to(h.dtype());
  return (h * m).sum(1) / m.sum(1).clamp_min(1.0);
}

/// Additive attention pooling (Yang et al. 2016): score_t = v . tanh(W h_t + b), softmax over the
/// real positions, weighted sum of h. Padded positions get weight exactly 0 (their scores are
/// pushed to -1e4 before the softmax, which underflows to 0, and the weights are masked again so
/// that a row without real tokens pools to 0 rather than to the mean of its padding).
class AttentionPoolImpl : public torch::nn::Module {
 public:
  AttentionPoolImpl(int64_t dim, int64_t hidden)
      : proj(register_module("proj", torch::nn::Linear(dim, hidden))),
        score(register_module("score", torch::nn::Linear(torch::nn::LinearOptions(hidden, 1).bias(false)))) {}

  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& mask) {
    auto s = score->forward(torch::tanh(proj->forward(h))).squeeze(-1);  // [B, L]
    s = s.masked_fill(mask.logical_not(), -1e4);
    auto w = tap("attention.weights", torch::softmax(s.to(torch::kFloat), 1) * mask.to(torch::kFloat));  // [B, L]
    return (h * w.unsqueeze(-1).to(h.dtype())).sum(1);
  }

  torch::nn::Linear proj, score;
};
TORCH_MODULE(AttentionPool);

}  // namespace smlab::models::text
