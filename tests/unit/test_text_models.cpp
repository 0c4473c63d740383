// Text models (text_cnn, bilstm, transformer_text): padding never changes a result, and each
// model agrees with a reference computation built from LibTorch's own modules on the unpadded
// sequence (a bidirectional nn::LSTM, nn::MultiheadAttention, a plain wide conv1d), with the
// same weights.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "tools/register_all.h"
#include "models/model.h"
#include "models/text_layers.h"

namespace {

namespace F = torch::nn::functional;
using smlab::models::ModelPtr;

constexpr int64_t kVocab = 50, kClasses = 3;

smlab::datasets::DatasetInfo token_info(int64_t max_len, torch::Tensor ngrams = {}, int64_t buckets = 0) {
  smlab::datasets::DatasetInfo info;
  info.task = smlab::datasets::Task::Classification;
  info.num_classes = kClasses;
  info.input_shape = {max_len};
  info.vocab_size = kVocab;
  info.piece_ngrams = std::move(ngrams);
  info.ngram_buckets = buckets;
  return info;
}

ModelPtr build(const std::string& name, std::vector<std::string> overrides, const smlab::datasets::DatasetInfo& info) {
  smlab::register_all();
  overrides.insert(overrides.begin(), "model.name=" + name);
  torch::manual_seed(3);
  auto m = smlab::models::build(smlab::config::load_string("version: 1\n", "text.yaml", overrides), info);
  m->eval();
  return m;
}

// Rows of real ids (lengths 5, 1, 9, 3) right-padded with 0 to `len` (>= 9).
const std::vector<std::vector<int64_t>> kRows = {{4, 8, 15, 16, 23}, {42}, {7, 1, 2, 3, 4, 5, 6, 9, 10}, {11, 12, 13}};

torch::Tensor padded(int64_t len, const std::vector<std::vector<int64_t>>& rows = kRows) {
  auto x = torch::zeros({static_cast<int64_t>(rows.size()), len}, torch::kLong);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t j = 0; j < rows[r].size(); ++j) x[r][j] = rows[r][j];
  return x;
}

torch::Tensor unpadded(size_t r) { return torch::tensor(kRows[r], torch::kLong).unsqueeze(0); }

std::map<std::string, torch::Tensor> params(const ModelPtr& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m->named_parameters()) out[p.key()] = p.value().detach();
  for (const auto& b : m->named_buffers()) out[b.key()] = b.value().detach();
  return out;
}

// Padding changes nothing: batches padded to 12 and to 20, and each row alone without padding.
void expect_padding_invariant(const ModelPtr& m) {
  torch::NoGradGuard g;
  const auto a = m->forward(padded(12)), b = m->forward(padded(20));
  ASSERT_EQ(a.sizes().vec(), (std::vector<int64_t>{4, kClasses}));
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << a << "\n" << b;
  for (size_t r = 0; r < kRows.size(); ++r) {
    const auto alone = m->forward(unpadded(r));
    EXPECT_TRUE(torch::allclose(a[r], alone[0], 1e-5, 1e-6)) << "row " << r << ": " << a[r] << " vs " << alone[0];
  }
  // A row without any real token gives finite outputs.
  EXPECT_TRUE(torch::isfinite(m->forward(torch::zeros({2, 6}, torch::kLong))).all().item<bool>());
}

}  // namespace

TEST(TextModels, PaddingNeverChangesTheOutput) {
  const auto info = token_info(20);
  for (const auto& [name, over] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"text_cnn", {}},
           {"text_cnn", {"model.kernel_sizes=[2, 7]"}},
           {"bilstm", {"model.pooling=max"}},
           {"bilstm", {"model.pooling=mean", "model.layers=2"}},
           {"bilstm", {"model.pooling=attention", "model.layers=2"}},
           {"transformer_text", {"model.pooling=mean"}},
           {"transformer_text", {"model.pooling=cls", "model.positions=sinusoidal"}},
       }) {
    SCOPED_TRACE(name + (over.empty() ? "" : " " + over[0]));
    expect_padding_invariant(build(name, over, info));
  }
}

TEST(TextModels, PaddingNeverChangesTheOutputWithCharacterNgrams) {
  // A hand-made table: piece v has up to 3 n-gram ids in [kVocab, kVocab + 10), some slots unused.
  auto table = torch::zeros({kVocab, 3}, torch::kLong);
  for (int64_t v = 2; v < kVocab; ++v)
    for (int64_t j = 0; j < 1 + v % 3; ++j) table[v][j] = kVocab + (v * 7 + j) % 10;
  const auto info = token_info(20, table, 10);
  for (const std::string name : {"text_cnn", "bilstm", "transformer_text"}) {
    SCOPED_TRACE(name);
    auto m = build(name, {}, info);
    expect_padding_invariant(m);
    // The embedding is the mean of the piece's row and its n-gram rows.
    auto p = params(m);
    const auto w = p.at("embedding.embedding.weight");
    EXPECT_EQ(w.size(0), kVocab + 10);
    EXPECT_TRUE(torch::equal(p.at("embedding.ngrams"), table));
  }
  // The averaging itself: piece 4 has 1 + 4 % 3 = 2 n-grams, piece 3 has 1, padding stays 0.
  auto m = build("text_cnn", {}, info);
  auto* emb = m->named_modules()["embedding"]->as<smlab::models::text::TokenEmbeddingImpl>();
  ASSERT_NE(emb, nullptr);
  const auto w = params(m).at("embedding.embedding.weight");
  torch::NoGradGuard g;
  const auto e = emb->forward(torch::tensor({{4, 3, 0}}, torch::kLong))[0];
  const auto t = [&](int64_t v, int64_t j) { return w[table[v][j].item<int64_t>()]; };
  EXPECT_TRUE(torch::allclose(e[0], (w[4] + t(4, 0) + t(4, 1)) / 3.0, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(e[1], (w[3] + t(3, 0)) / 2.0, 1e-6, 1e-6));
  EXPECT_EQ(e[2].abs().sum().item<double>(), 0.0);
}

TEST(TextModels, BiLSTMMatchesABidirectionalTorchLSTMOnUnpaddedRows) {
  const int64_t E = 16, H = 12;
  for (const std::string pooling : {"max", "mean", "attention"}) {
    for (const int64_t layers : {1, 2}) {
      SCOPED_TRACE(pooling + " layers=" + std::to_string(layers));
      auto m = build("bilstm",
                     {"model.pooling=" + pooling, "model.layers=" + std::to_string(layers), "model.embed_dim=16",
                      "model.hidden=12", "model.attention_dim=8"},
                     token_info(20));
      auto p = params(m);
      // The reference: one bidirectional nn::LSTM with the same weights per layer and direction.
      torch::nn::LSTM ref(torch::nn::LSTMOptions(E, H).num_layers(layers).bidirectional(true).batch_first(true));
      ref->eval();
      {
        torch::NoGradGuard g;
        auto rp = ref->named_parameters();
        for (int64_t l = 0; l < layers; ++l) {
          for (const std::string w : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
            const std::string ls = std::to_string(l);
            rp[w + "_l" + ls].copy_(p.at("fwd." + ls + "." + w + "_l0"));
            rp[w + "_l" + ls + "_reverse"].copy_(p.at("bwd." + ls + "." + w + "_l0"));
          }
        }
      }
      torch::NoGradGuard g;
      const auto out = m->forward(padded(14));
      for (size_t r = 0; r < kRows.size(); ++r) {
        const auto x = unpadded(r);
        const auto h = std::get<0>(ref->forward(F::embedding(x, p.at("embedding.embedding.weight"))))[0];  // [n, 2H]
        torch::Tensor pooled;
        if (pooling == "max") {
          pooled = std::get<0>(h.max(0));
        } else if (pooling == "mean") {
          pooled = h.mean(0);
        } else {
          const auto s = F::linear(torch::tanh(F::linear(h, p.at("attention.proj.weight"), p.at("attention.proj.bias"))),
                                   p.at("attention.score.weight"))
                             .squeeze(-1);
          pooled = (torch::softmax(s, 0).unsqueeze(-1) * h).sum(0);
        }
        const auto want = F::linear(pooled, p.at("fc.weight"), p.at("fc.bias"));
        EXPECT_TRUE(torch::allclose(out[r], want, 1e-5, 1e-6)) << "row " << r << ": " << out[r] << " vs " << want;
      }
    }
  }
}

TEST(TextModels, TextCNNMatchesAWideConvolutionOnUnpaddedRows) {
  auto m = build("text_cnn", {"model.embed_dim=8", "model.filters=5"}, token_info(20));
  auto p = params(m);
  torch::NoGradGuard g;
  const auto out = m->forward(padded(16));
  for (size_t r = 0; r < kRows.size(); ++r) {
    const auto e = F::embedding(unpadded(r), p.at("embedding.embedding.weight")).transpose(1, 2);  // [1, E, n]
    std::vector<torch::Tensor> feats;
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t k = 3 + i;  // Kim's windows 3, 4, 5, zero-padded by k - 1 on both sides
      const auto c = F::conv1d(e, p.at("convs." + std::to_string(i) + ".weight"),
                               F::Conv1dFuncOptions().bias(p.at("convs." + std::to_string(i) + ".bias")).padding(k - 1));
      feats.push_back(std::get<0>(torch::relu(c)[0].max(1)));
    }
    const auto want = F::linear(torch::cat(feats), p.at("fc.weight"), p.at("fc.bias"));
    EXPECT_TRUE(torch::allclose(out[r], want, 1e-5, 1e-6)) << "row " << r << ": " << out[r] << " vs " << want;
  }
}

// The window mask (one replicate-padded row for all kernels) against the plain wide convolution,
// for kernels given in any order, a single width-1 kernel, and a row with no real token, whose
// every window is padding: its features are 0, the classifier's bias alone.
TEST(TextModels, TextCNNWindowMaskForAnyKernelsAndAnEmptyRow) {
  for (const std::vector<int64_t>& ks : std::vector<std::vector<int64_t>>{{5, 2, 3}, {1}, {4}}) {
    std::string list = "[";
    for (size_t i = 0; i < ks.size(); ++i) list += (i ? "," : "") + std::to_string(ks[i]);
    SCOPED_TRACE("kernels " + list + "]");
    auto m = build("text_cnn", {"model.embed_dim=8", "model.filters=5", "model.kernel_sizes=" + list + "]"},
                   token_info(20));
    auto p = params(m);
    torch::NoGradGuard g;
    auto rows = kRows;
    rows.push_back({});
    const auto out = m->forward(padded(14, rows));
    const int64_t F_ = 5;
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<torch::Tensor> feats;
      for (size_t i = 0; i < ks.size(); ++i) {
        if (rows[r].empty()) {
          feats.push_back(torch::zeros({F_}));
          continue;
        }
        const auto e = F::embedding(torch::tensor(rows[r], torch::kLong).unsqueeze(0),
                                    p.at("embedding.embedding.weight")).transpose(1, 2);
        const auto c = F::conv1d(e, p.at("convs." + std::to_string(i) + ".weight"),
                                 F::Conv1dFuncOptions().bias(p.at("convs." + std::to_string(i) + ".bias")).padding(ks[i] - 1));
        feats.push_back(std::get<0>(torch::relu(c)[0].max(1)));
      }
      const auto want = F::linear(torch::cat(feats), p.at("fc.weight"), p.at("fc.bias"));
      EXPECT_TRUE(torch::allclose(out[r], want, 1e-5, 1e-6)) << "row " << r << ": " << out[r] << " vs " << want;
    }
  }
}

TEST(TextModels, TextCNNKeepsKimsMaxNormOnTheClassifier) {
  auto m = build("text_cnn", {"model.max_norm=0.5"}, token_info(20));
  {
    torch::NoGradGuard g;
    params(m).at("fc.weight").mul_(100.0);
  }
  m->eval();
  m->forward(padded(12));  // eval mode leaves the weights alone
  EXPECT_GT(params(m).at("fc.weight").norm(2, 1).max().item<double>(), 1.0);
  m->train();
  m->forward(padded(12));
  const auto norms = params(m).at("fc.weight").norm(2, 1);
  EXPECT_LE(norms.max().item<double>(), 0.5 + 1e-5) << norms;
}

TEST(TextModels, TransformerMatchesTorchMultiheadAttentionOnUnpaddedRows) {
  const int64_t D = 16, heads = 4;
  for (const std::string pooling : {"mean", "cls"}) {
    for (const std::string positions : {"learned", "sinusoidal"}) {
      SCOPED_TRACE(pooling + " " + positions);
      auto m = build("transformer_text",
                     {"model.dim=16", "model.heads=4", "model.layers=2", "model.ff=24", "model.pooling=" + pooling,
                      "model.positions=" + positions},
                     token_info(20));
      auto p = params(m);
      std::vector<torch::nn::MultiheadAttention> mha;
      for (int l = 0; l < 2; ++l) {
        mha.emplace_back(torch::nn::MultiheadAttentionOptions(D, heads));
        mha.back()->eval();
        torch::NoGradGuard g;
        const std::string pre = "layers." + std::to_string(l) + ".attn.";
        mha.back()->in_proj_weight.copy_(p.at(pre + "in_proj.weight"));
        mha.back()->in_proj_bias.copy_(p.at(pre + "in_proj.bias"));
        mha.back()->out_proj->weight.copy_(p.at(pre + "out_proj.weight"));
        mha.back()->out_proj->bias.copy_(p.at(pre + "out_proj.bias"));
      }
      auto ln = [&](const torch::Tensor& x, const std::string& name) {
        return F::layer_norm(x, F::LayerNormFuncOptions({D}).weight(p.at(name + ".weight")).bias(p.at(name + ".bias")));
      };
      auto lin = [&](const torch::Tensor& x, const std::string& name) {
        return F::linear(x, p.at(name + ".weight"), p.at(name + ".bias"));
      };
      torch::NoGradGuard g;
      const auto out = m->forward(padded(13));
      for (size_t r = 0; r < kRows.size(); ++r) {
        auto x = F::embedding(unpadded(r), p.at("embedding.embedding.weight"))[0];  // [n, D]
        if (pooling == "cls") x = torch::cat({p.at("cls").view({1, D}), x});
        const int64_t n = x.size(0);
        const auto pos = torch::arange(n, torch::kLong);
        if (positions == "learned") {
          x = x + p.at("pos_embedding.weight").index_select(0, pos);
        } else {  // PE(t, 2i) = sin(t / 10000^(2i/D)), PE(t, 2i+1) = cos(...)
          auto pe = torch::zeros({n, D});
          for (int64_t t = 0; t < n; ++t)
            for (int64_t i = 0; i < D / 2; ++i) {
              const double a = t / std::pow(10000.0, 2.0 * i / D);
              pe[t][2 * i] = std::sin(a);
              pe[t][2 * i + 1] = std::cos(a);
            }
          x = x + pe;
        }
        for (int l = 0; l < 2; ++l) {
          const std::string pre = "layers." + std::to_string(l) + ".";
          const auto q = ln(x, pre + "norm1").unsqueeze(1);  // [n, 1, D] (sequence-first)
          x = x + std::get<0>(mha[l]->forward(q, q, q)).squeeze(1);
          x = x + lin(torch::gelu(lin(ln(x, pre + "norm2"), pre + "ff1")), pre + "ff2");
        }
        x = ln(x, "norm");
        const auto pooled = pooling == "cls" ? x[0] : x.mean(0);
        const auto want = lin(pooled, "fc");
        EXPECT_TRUE(torch::allclose(out[r], want, 1e-4, 1e-5)) << "row " << r << ": " << out[r] << " vs " << want;
      }
    }
  }
}

TEST(TextModels, TransformerRejectsSequencesLongerThanItsPositionTable) {
  auto m = build("transformer_text", {"model.max_positions=8"}, token_info(20));
  torch::NoGradGuard g;
  EXPECT_NO_THROW(m->forward(padded(8, {{1, 2}})));
  EXPECT_THROW(m->forward(padded(9, {{1, 2}})), c10::Error);
}
