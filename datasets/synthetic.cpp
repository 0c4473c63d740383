// Generated datasets for demos, unit tests and sweeps in CI. Deterministic by data.seed.
//
// synthetic_blobs:  K Gaussian clusters in D dimensions (tabular classification).
// synthetic_images: C x S x S images; class k draws an oriented sinusoidal grating with
//                   angle pi*k/K, random phase and additive noise (image classification).
// synthetic_regression: y = W x + noise with a fixed random W (tabular regression).
#include <torch/torch.h>

#include <cmath>

#include "datasets/dataset.h"

namespace smlab::datasets {
namespace {

int64_t split_count(const config::Config& cfg, Split split) {
  switch (split) {
    case Split::Train: return cfg.get<int64_t>("data.train_size");
    case Split::Val: return cfg.get<int64_t>("data.val_size");
    case Split::Test: return cfg.get<int64_t>("data.test_size");
  }
  return 0;
}

// Each split gets its own stream so that changing one split's size leaves the others intact.
torch::Generator split_generator(const config::Config& cfg, Split split) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(cfg.get<uint64_t>("data.seed") * 7919 +
                                                         static_cast<uint64_t>(split) + 1);
  return gen;
}

config::Schema sizes_schema(int64_t train, int64_t val, int64_t test) {
  return config::Schema()
      .integer("train_size", train, "training samples", 1)
      .integer("val_size", val, "validation samples", 1)
      .integer("test_size", test, "test samples", 1)
      .integer("seed", 1234, "generator seed (independent of experiment.seed)", 0);
}

std::shared_ptr<Dataset> make_blobs(const config::Config& cfg, Split split) {
  const int64_t n = split_count(cfg, split), d = cfg.get<int64_t>("data.features"),
                k = cfg.get<int64_t>("data.classes");
  const double spread = cfg.get<double>("data.spread");
  // Class centres come from the seed alone (shared by every split).
  auto centre_gen = torch::make_generator<at::CPUGeneratorImpl>(cfg.get<uint64_t>("data.seed"));
  const auto centres = torch::randn({k, d}, centre_gen) * 2.0;
  auto gen = split_generator(cfg, split);
  const auto y = torch::randint(0, k, {n}, gen, torch::kInt64);
  const auto x = centres.index_select(0, y) + spread * torch::randn({n, d}, gen);
  DatasetInfo info;
  info.task = Task::Classification;
  info.num_classes = k;
  info.input_shape = {d};
  for (int64_t i = 0; i < k; ++i) info.class_names.push_back("class_" + std::to_string(i));
  return std::make_shared<TensorDataset>(x.to(torch::kFloat), y, info);
}

std::shared_ptr<Dataset> make_images(const config::Config& cfg, Split split) {
  const int64_t n = split_count(cfg, split), c = cfg.get<int64_t>("data.channels"), s = cfg.get<int64_t>("data.size"),
                k = cfg.get<int64_t>("data.classes");
  const double noise = cfg.get<double>("data.noise");
  auto gen = split_generator(cfg, split);
  const auto y = torch::randint(0, k, {n}, gen, torch::kInt64);
  const auto angle = y.to(torch::kDouble) * (M_PI / static_cast<double>(k));
  const auto phase = torch::rand({n}, gen, torch::kDouble) * 2 * M_PI;
  const auto coords = torch::arange(s, torch::kDouble) / static_cast<double>(s) * 2 * M_PI * 2.0;  // 2 periods
  const auto yy = coords.view({1, s, 1}), xx = coords.view({1, 1, s});
  const auto proj = torch::cos(angle).view({n, 1, 1}) * xx + torch::sin(angle).view({n, 1, 1}) * yy;
  auto img = torch::sin(proj + phase.view({n, 1, 1}));                                  // [n, s, s]
  img = img.unsqueeze(1).expand({n, c, s, s}) + noise * torch::randn({n, c, s, s}, gen, torch::kDouble);
  DatasetInfo info;
  info.task = Task::Classification;
  info.num_classes = k;
  info.input_shape = {c, s, s};
  for (int64_t i = 0; i < k; ++i) info.class_names.push_back("angle_" + std::to_string(i));
  return std::make_shared<TensorDataset>(img.to(torch::kFloat).contiguous(), y, info);
}

std::shared_ptr<Dataset> make_regression(const config::Config& cfg, Split split) {
  const int64_t n = split_count(cfg, split), d = cfg.get<int64_t>("data.features"),
                o = cfg.get<int64_t>("data.outputs");
  auto w_gen = torch::make_generator<at::CPUGeneratorImpl>(cfg.get<uint64_t>("data.seed"));
  const auto w = torch::randn({d, o}, w_gen) / std::sqrt(static_cast<double>(d));
  auto gen = split_generator(cfg, split);
  const auto x = torch::randn({n, d}, gen);
  const auto y = torch::matmul(x, w) + cfg.get<double>("data.noise") * torch::randn({n, o}, gen);
  DatasetInfo info;
  info.task = Task::Regression;
  info.output_dim = o;
  info.input_shape = {d};
  return std::make_shared<TensorDataset>(x, y, info);
}

// Token sequences of length L over a vocabulary of V ids (0 = padding). Every sequence is random
// background tokens plus `signal` planted tokens from its class's own band of ids, at random places.
std::shared_ptr<Dataset> make_tokens(const config::Config& cfg, Split split) {
  const int64_t n = split_count(cfg, split), len = cfg.get<int64_t>("data.length"),
                vocab = cfg.get<int64_t>("data.vocab_size"), k = cfg.get<int64_t>("data.classes"),
                signal = cfg.get<int64_t>("data.signal");
  TORCH_CHECK(vocab > 2 * k, "synthetic_tokens: vocab_size ", vocab, " must exceed 2 x classes (", 2 * k, ")");
  auto gen = split_generator(cfg, split);
  const auto y = torch::randint(0, k, {n}, gen, torch::kInt64);
  auto x = torch::randint(1 + k, vocab, {n, len}, gen, torch::kInt64);
  const auto pos = torch::randint(0, len, {n, signal}, gen, torch::kInt64);
  x.scatter_(1, pos, (y + 1).view({n, 1}).expand({n, signal}));  // class k plants token id k + 1
  DatasetInfo info;
  info.task = Task::Classification;
  info.num_classes = k;
  info.input_shape = {len};
  info.vocab_size = vocab;
  for (int64_t i = 0; i < k; ++i) info.class_names.push_back("class_" + std::to_string(i));
  return std::make_shared<TensorDataset>(x, y, info);
}

}  // namespace

void register_synthetic() {
  registry().add("synthetic_tokens",
                 {"token sequences with class-specific planted tokens (generated; text classification)",
                  sizes_schema(2000, 500, 500)
                      .integer("length", 64, "tokens per sequence", 1)
                      .integer("vocab_size", 8000, "vocabulary size including padding id 0", 4)
                      .integer("classes", 3, "number of classes", 2)
                      .integer("signal", 3, "planted class tokens per sequence", 1),
                  make_tokens});
  registry().add("synthetic_blobs",
                 {"Gaussian clusters in D dimensions (generated; tabular classification)",
                  sizes_schema(2000, 500, 500)
                      .integer("features", 16, "input dimensions", 1)
                      .integer("classes", 4, "number of classes", 2)
                      .number("spread", 1.5, "standard deviation of each cluster", 0.0, std::nullopt, true),
                  make_blobs});
  registry().add("synthetic_images",
                 {"oriented gratings, one angle per class (generated; image classification)",
                  sizes_schema(2000, 500, 500)
                      .integer("channels", 3, "image channels", 1, 4)
                      .integer("size", 16, "image height and width", 4)
                      .integer("classes", 4, "number of classes (angles)", 2)
                      .number("noise", 0.5, "standard deviation of additive noise", 0.0),
                  make_images});
  registry().add("synthetic_regression",
                 {"y = W x + noise with a fixed random W (generated; tabular regression)",
                  sizes_schema(2000, 500, 500)
                      .integer("features", 16, "input dimensions", 1)
                      .integer("outputs", 1, "regression targets per sample", 1)
                      .number("noise", 0.1, "standard deviation of target noise", 0.0),
                  make_regression});
}

}  // namespace smlab::datasets
