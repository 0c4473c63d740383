// Trainer hooks chosen by name in train.hooks: the grad_norm_logger against the norm recomputed
// from the model's gradients, and the errors for unknown or core hook names.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "trainers/hooks.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kBase =
    "model: {name: mlp, hidden: [32], dropout: 0.1}\n"
    "data: {name: synthetic_blobs, features: 8, classes: 3, spread: 1.0, train_size: 300, val_size: 100, "
    "test_size: 100, batch_size: 32, workers: 0}\n"
    "optim: {name: sgd, lr: 0.5, momentum: 0.9}\n";
const std::string kBlobs = kBase + "train: {epochs: 2, progress: none, log_every: 1, grad_clip: 0.1}\n";

smlab::config::Config blobs(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> ov = {"experiment.output_dir=" + dir.string(), "experiment.device=cpu"};
  ov.insert(ov.end(), extra.begin(), extra.end());
  return smlab::config::load_string(kBlobs, "hooks.yaml", ov);
}

/// The oracle: the global L2 norm recomputed in float64 from the model's gradients, by step.
struct NormOracle : smlab::trainers::HookBase {
  std::map<int64_t, double> norm;
  void on_gradients(smlab::trainers::Trainer& t) override {
    double sq = 0;
    for (const auto& p : t.model().parameters())
      if (p.grad().defined()) sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
    norm[t.step() + 1] = std::sqrt(sq);  // the step these gradients make
  }
};

std::vector<json> train_records(const fs::path& run) {
  std::vector<json> out;
  std::istringstream in(smlab::read_file(run / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    auto r = json::parse(line);
    if (r["split"] == "train") out.push_back(r);
  }
  return out;
}

}  // namespace

TEST(Hooks, GradNormLoggerLogsTheGlobalGradientNormBeforeClipping) {
  const auto dir = smlab::testing::temp_dir();
  auto oracle = std::make_shared<NormOracle>();
  smlab::trainers::TrainOptions opt;
  opt.run_dir = dir / "with";
  opt.hooks.push_back(oracle);
  const auto cfg = blobs(dir, {"train.hooks=[grad_norm_logger]"});
  const auto with = smlab::trainers::train(cfg, opt);
  ASSERT_EQ(with.summary["status"], "completed");
  const auto recs = train_records(with.run_dir);
  ASSERT_EQ(recs.size(), 2u * 10u);  // ceil(300 / 32) = 10 steps per epoch, logged every step
  ASSERT_EQ(oracle->norm.size(), recs.size());
  int above_clip = 0;
  for (const auto& r : recs) {
    const int64_t step = r["step"].get<int64_t>();
    ASSERT_TRUE(r.contains("grad_norm")) << r.dump();
    const double want = oracle->norm.at(step);
    EXPECT_NEAR(r["grad_norm"].get<double>(), want, 1e-5 * want + 1e-7) << "step " << step;
    above_clip += want > 0.1;
  }
  EXPECT_GT(above_clip, 0) << "grad_clip 0.1 never applied: the pre-clip norm is not tested";
  // TensorBoard gets the tag too.
  std::string events;
  for (auto& e : fs::directory_iterator(with.run_dir / "tb")) events += smlab::read_file(e.path());
  EXPECT_NE(events.find("train/grad_norm"), std::string::npos);

  // The hook only reads: without it, training is bit-identical and the records lack grad_norm.
  smlab::trainers::TrainOptions plain;
  plain.run_dir = dir / "without";
  const auto cfg0 = blobs(dir);
  const auto without = smlab::trainers::train(cfg0, plain);
  const auto a = smlab::testing::final_weights(with.run_dir, cfg, "last.pt");
  const auto b = smlab::testing::final_weights(without.run_dir, cfg0, "last.pt");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  EXPECT_EQ(with.summary["test"].dump(), without.summary["test"].dump());
  for (const auto& r : train_records(without.run_dir)) EXPECT_FALSE(r.contains("grad_norm"));
}

TEST(Hooks, UnknownHookNameSaysWhereAndDidYouMean) {
  const auto dir = smlab::testing::temp_dir();
  smlab::testing::expect_user_error(
      [&] {
        smlab::config::load_string(kBase + "train:\n  epochs: 1\n  hooks: [grad_norm_loger]\n", "hooks.yaml",
                                   {"experiment.output_dir=" + dir.string()});
      },
      {"hooks.yaml:6", "train.hooks", "grad_norm_loger", "did you mean 'grad_norm_logger'"});
}

TEST(Hooks, CoreHookInTrainHooksIsRefused) {
  const auto dir = smlab::testing::temp_dir();
  smlab::testing::expect_user_error([&] { smlab::trainers::train(blobs(dir, {"train.hooks=[ema]"})); },
                                    {"command line: train.hooks", "'ema' is a core hook", "train.ema_decay"});
  smlab::testing::expect_user_error(
      [&] { smlab::trainers::train(blobs(dir, {"train.hooks=[grad_norm_logger, grad_norm_logger]"})); },
      {"train.hooks", "listed twice"});
  EXPECT_FALSE(fs::exists(dir / "hooks")) << "a refused hook must stop the run before its folder is written";
}

TEST(Hooks, RegistryHasTheCoreAndOptionalHooks) {
  const auto& names = smlab::trainers::hook_registry().names();
  for (const auto& core : smlab::trainers::core_hook_names())
    EXPECT_NE(std::find(names.begin(), names.end(), core), names.end()) << core;
  EXPECT_NE(std::find(names.begin(), names.end(), "grad_norm_logger"), names.end());
}
