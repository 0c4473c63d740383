// TextCNN (Kim 2014, "Convolutional Neural Networks for Sentence Classification"):
//   token ids [B, L] -> embedding [B, L, E] -> Conv1d(E, F, k) for k in kernel_sizes -> ReLU
//   -> max over time -> concat [B, F * |k|] -> dropout -> Linear -> logits
#include <torch/torch.h>

#include "models/model.h"

namespace smlab::models {
namespace {

class TextCNNImpl : public Model {
 public:
  TextCNNImpl(int64_t vocab, int64_t embed_dim, const std::vector<int64_t>& kernels, int64_t filters, double dropout,
              int64_t out)
      : embedding_(torch::nn::EmbeddingOptions(vocab, embed_dim).padding_idx(0)),
        dropout_(dropout),
        fc_(filters * static_cast<int64_t>(kernels.size()), out) {
    register_module("embedding", embedding_);
    for (size_t i = 0; i < kernels.size(); ++i) {
      convs_->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(embed_dim, filters, kernels[i])));
    }
    register_module("convs", convs_);
    register_module("dropout", dropout_);
    register_module("fc", fc_);
  }

  torch::Tensor forward(const torch::Tensor& tokens) override {
    TORCH_CHECK(tokens.dim() == 2, "text_cnn expects token ids [B, L], got shape ", tokens.sizes());
    auto e = embedding_->forward(tokens).transpose(1, 2);  // [B, E, L]
    std::vector<torch::Tensor> pooled;
    for (const auto& m : *convs_) {
      auto conv = m->as<torch::nn::Conv1d>();
      pooled.push_back(torch::relu(conv->forward(e)).amax(2));  // max over time
    }
    return fc_->forward(dropout_->forward(torch::cat(pooled, 1)));
  }

 private:
  torch::nn::Embedding embedding_;
  torch::nn::ModuleList convs_;
  torch::nn::Dropout dropout_;
  torch::nn::Linear fc_;
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
                      .number("dropout", 0.5, "dropout before the classifier", 0.0, 0.95),
                  [](const config::Config& cfg, const datasets::DatasetInfo& info) -> ModelPtr {
                    int64_t vocab = cfg.get<int64_t>("model.vocab_size");
                    if (vocab == 0) vocab = info.vocab_size;
                    TORCH_CHECK(vocab > 0, "text_cnn needs model.vocab_size or a token dataset that reports its vocabulary");
                    return std::make_shared<TextCNNImpl>(vocab, cfg.get<int64_t>("model.embed_dim"),
                                                         cfg.get<std::vector<int64_t>>("model.kernel_sizes"),
                                                         cfg.get<int64_t>("model.filters"), cfg.get<double>("model.dropout"),
                                                         output_width(info));
                  }});
  set_input_kind("text_cnn", InputKind::Tokens);
}

}  // namespace smlab::models
