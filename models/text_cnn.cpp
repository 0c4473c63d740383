// TextCNN (Kim 2014, "Convolutional Neural Networks for Sentence Classification"):
//   token ids [B, L] -> embedding [B, L, E] -> Conv1d(E, F, k) for k in kernel_sizes -> ReLU
//   -> max over time -> concat [B, F * |k|] -> dropout -> Linear -> logits
// Defaults follow the paper's CNN-rand setting: windows 3/4/5 with 100 feature maps each, dropout
// 0.5 and an l2 max-norm constraint s = 3 on the classifier's weight vectors (rescaled after
// each update; applied here at the start of every training-mode forward, so it acts on the
// weights the previous step produced). The embedding width defaults to 128 (the paper: 300).
//
// Padding: Kim pads every sentence with zeros to a fixed length (with max_window - 1 zeros in
// front), so windows that lie wholly in the padding still take part in the max as ReLU(bias).
// Here the convolution is "wide" (k - 1 zeros on both sides, so a text shorter than k still
// has windows) and only windows that cover at least one real token (the padding is trailing,
// ids == 0) take part in the max; appending padding therefore leaves the output unchanged. With data.char_ngrams the
// embedding averages each piece's character n-grams in (models/text_layers.h).
#include <torch/torch.h>

#include <algorithm>

#include "models/model.h"
#include "models/text_layers.h"
#include "models/tap.h"

namespace smlab::models {
namespace {

namespace F = torch::nn::functional;

class TextCNNImpl : public Model {
 public:
  TextCNNImpl(int64_t vocab, int64_t embed_dim, const std::vector<int64_t>& kernels, int64_t filters, double dropout,
              double max_norm, int64_t out, torch::Tensor ngrams)
      : embedding_(vocab, embed_dim, ngrams), kernels_(kernels), kmax_(*std::max_element(kernels.begin(), kernels.end())), dropout_(dropout), fc_(filters * static_cast<int64_t>(kernels.size()), out),
        max_norm_(max_norm) {
    register_module("embedding", embedding_);
    for (size_t i = 0; i < kernels.size(); ++i) {
      convs_->push_back(
          torch::nn::Conv1d(torch::nn::Conv1dOptions(embed_dim, filters, kernels[i]).padding(kernels[i] - 1)));
    }
    register_module("convs", convs_);
    register_module("dropout", dropout_);
    register_module("fc", fc_);
  }

  torch::Tensor forward(const torch::Tensor& tokens) override {
    if (is_training() && max_norm_ > 0) {
      torch::NoGradGuard g;
      fc_->weight.renorm_(2, 0, max_norm_);  // each class's weight vector to l2 norm <= s
    }
    const auto e = tap("embedding", embedding_->forward(tokens)).transpose(1, 2);  // [B, E, L]
    const auto valid = window_mask(tokens, e.scalar_type());                        // [B, 1, L+kmax-1]
    std::vector<torch::Tensor> pooled;
    for (size_t i = 0; i < convs_->size(); ++i) {
      auto h = torch::relu(tap("convs." + std::to_string(i), convs_[i]->as<torch::nn::Conv1d>()->forward(e)));  // [B, F, L+k-1]
      auto v = kernels_[i] == kmax_ ? valid : valid.slice(2, kmax_ - kernels_[i]);  // the last L+k-1 starts
      if (v.scalar_type() != h.scalar_type()) v = v.to(h.scalar_type());  // fp16/bf16 autocast
      pooled.push_back((h * v).amax(2));  // max over the valid windows (ReLU >= 0, the rest are 0)
    }
    return fc_->forward(dropout_->forward(torch::cat(pooled, 1)));
  }

 private:
  // Output j of the wide convolution with kernel k reads inputs s .. s+k-1 from s = j-k+1, so the
  // window starts run over -(kmax-1) .. L-1 for the widest kernel and over the last L+k-1 of those
  // for kernel k. With the padding trailing (models/text_layers.h), a window covers a real token
  // exactly when its start is a real token (s >= 0) or, for the starts before the text (s < 0),
  // when the row has any real token, i.e. when token 0 is real. So the 0/1 row over all starts is
  // the padding mask with its first value repeated kmax-1 times in front: one replicate pad. One
  // row [B, 1, L+kmax-1] serves every kernel, eight operators per forward where a mask per kernel
  // took about thirty (smlab bench ops); its shape comes from the tokens, so a traced export keeps
  // its dynamic length.
  torch::Tensor window_mask(const torch::Tensor& tokens, torch::ScalarType dtype) const {
    const auto real = text::token_mask(tokens).unsqueeze(1).to(dtype);  // [B, 1, L]
    if (kmax_ == 1) return real;
    return F::pad(real, F::PadFuncOptions({kmax_ - 1, 0}).mode(torch::kReplicate));
  }

  text::TokenEmbedding embedding_;
  std::vector<int64_t> kernels_;
  int64_t kmax_;
  torch::nn::ModuleList convs_;
  torch::nn::Dropout dropout_;
  torch::nn::Linear fc_;
  double max_norm_;
};

}  // namespace

void register_text_cnn() {
  registry().add("text_cnn",
                 {"TextCNN (Kim 2014): embeddings, parallel 1-D convolutions, max-over-time pooling",
                  config::Schema()
                      .integer("vocab_size", 0, "embedding rows (0 = the dataset's vocabulary size)", 0)
                      .integer("embed_dim", 128, "embedding width", 1)
                      .list("kernel_sizes", config::Type::IntList, "[3, 4, 5]", "convolution widths (tokens)", 1)
                      .integer("filters", 100, "feature maps per kernel size", 1)
                      .number("dropout", 0.5, "dropout before the classifier", 0.0, 0.95)
                      .number("max_norm", 3.0, "l2 max-norm of each classifier weight vector (Kim's s; 0 = off)", 0.0),
                  [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                    const int64_t vocab = text::embedding_rows(cfg.get<int64_t>("model.vocab_size"), info, "text_cnn");
                    return std::make_shared<TextCNNImpl>(vocab, cfg.get<int64_t>("model.embed_dim"),
                                                         cfg.get<std::vector<int64_t>>("model.kernel_sizes"),
                                                         cfg.get<int64_t>("model.filters"), cfg.get<double>("model.dropout"),
                                                         cfg.get<double>("model.max_norm"), output_width(info),
                                                         info.piece_ngrams);
                  }, InputKind::Tokens});
}

}  // namespace smlab::models
