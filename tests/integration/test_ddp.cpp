// Data parallel over c10d: 2 Gloo ranks on CPU reach the same weights as 1 process with the same
// global batch (within 1e-5), with and without gradient accumulation (DDP's no_sync path).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "trainers/checkpoint.h"

namespace fs = std::filesystem;

namespace {

int run_smlab(const std::vector<std::string>& args) {
  return smlab::testing::wait_exit(smlab::testing::spawn_smlab(args));
}

void expect_same_training(const std::string& extra) {
  const auto dir = smlab::testing::temp_dir();
  // 600 samples, global batch 64: both ranks always get equal shares, so the averaged gradient
  // equals the single-process one up to float summation order. No dropout: each rank draws its own masks.
  const std::string yaml =
      "model: {name: mlp, hidden: [32, 32]}\n"
      "data: {name: synthetic_blobs, features: 8, classes: 3, train_size: 600, val_size: 100, test_size: 100, "
      "batch_size: 64, workers: 0}\n"
      "optim: {name: sgd, lr: 0.05, momentum: 0.9}\n"
      "train: {epochs: 2, progress: none, log_every: 5" + extra + "}\n"
      "experiment: {device: cpu, threads: 1}\n";
  smlab::write_file_atomic(dir / "ddp.yaml", yaml);
  ASSERT_EQ(run_smlab({"train", (dir / "ddp.yaml").string(), "--run-dir", (dir / "one").string()}), 0);
  ASSERT_EQ(run_smlab({"train", (dir / "ddp.yaml").string(), "--run-dir", (dir / "two").string(), "--nproc", "2"}), 0);
  const auto cfg = smlab::config::load(dir / "ddp.yaml");
  const auto a = smlab::testing::final_weights(dir / "one", cfg), b = smlab::testing::final_weights(dir / "two", cfg);
  const auto s1 = nlohmann::json::parse(smlab::read_file(dir / "one" / "summary.json"));
  const auto s2 = nlohmann::json::parse(smlab::read_file(dir / "two" / "summary.json"));
  EXPECT_EQ(s1["world_size"], 1);
  EXPECT_EQ(s2["world_size"], 2);
  EXPECT_EQ(s1["steps"], s2["steps"]);
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  EXPECT_LE(worst, 1e-5) << "max |w_1proc - w_2proc| = " << worst;
  // And the runs did train: the weights moved away from the (shared) initialisation.
  EXPECT_GT(s2["test"]["top1"].get<double>(), 0.6);
}

}  // namespace

TEST(DDP, TwoGlooRanksMatchOneProcess) { expect_same_training(""); }

TEST(DDP, TwoGlooRanksMatchOneProcessWithGradAccumulation) { expect_same_training(", grad_accum: 2"); }
