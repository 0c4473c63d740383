// End-to-end training on generated data: learning happens, the run folder is complete,
// resume after SIGKILL is bit-identical, and a NaN stops the run keeping the last good checkpoint.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <chrono>
#include <thread>

#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "trainers/checkpoint.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;


namespace {

const std::string kBlobs =
    "model: {name: mlp, hidden: [32]}\n"
    "data: {name: synthetic_blobs, features: 8, classes: 3, spread: 1.0, train_size: 600, val_size: 200, "
    "test_size: 200, batch_size: 32, workers: 0}\n"
    "optim: {name: sgd, lr: 0.1}\n"
    "train: {epochs: 3, progress: none}\n";

smlab::config::Config blobs(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> ov = {"experiment.output_dir=" + dir.string(), "experiment.device=cpu"};
  ov.insert(ov.end(), extra.begin(), extra.end());  // the test's own overrides win
  return smlab::config::load_string(kBlobs, "blobs.yaml", ov);
}

using smlab::testing::wait_exit;
pid_t spawn(const std::vector<std::string>& args) { return smlab::testing::spawn_smlab(args); }

}  // namespace

TEST(Trainer, LearnsBlobsAndWritesACompleteRunFolder) {
  const auto dir = smlab::testing::temp_dir();
  auto result = smlab::trainers::train(blobs(dir));
  const auto& s = result.summary;
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["epochs"], 3);
  EXPECT_EQ(s["steps"], 3 * 19);  // ceil(600 / 32) = 19 steps per epoch
  // Three well-separated clusters: far above chance (1/3).
  EXPECT_GT(s["test"]["top1"].get<double>(), 0.85);
  for (const char* f : {"config.yaml", "meta.json", "metrics.jsonl", "summary.json", "checkpoints/last.pt",
                        "checkpoints/best.pt"}) {
    EXPECT_TRUE(fs::exists(result.run_dir / f)) << f;
  }
  bool has_tb = false;
  for (auto& e : fs::directory_iterator(result.run_dir / "tb")) has_tb |= e.path().filename().string().rfind("events.out.tfevents", 0) == 0;
  EXPECT_TRUE(has_tb);
  const auto meta = json::parse(smlab::read_file(result.run_dir / "meta.json"));
  EXPECT_EQ(meta["seed"], 0);
  EXPECT_TRUE(meta["git"].contains("dirty"));
  EXPECT_EQ(meta["build"]["libtorch"], "2.11.0");
  // metrics.jsonl: train records every log_every steps, one val record per epoch, one test record.
  int val = 0, test = 0;
  std::istringstream lines(smlab::read_file(result.run_dir / "metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto r = json::parse(line);
    val += r["split"] == "val";
    test += r["split"] == "test";
  }
  EXPECT_EQ(val, 3);
  EXPECT_EQ(test, 1);
  // The resolved config in the run folder loads back to the same config.
  EXPECT_EQ(smlab::config::load(result.run_dir / "config.yaml").hash(), blobs(dir).hash());
}

TEST(Trainer, SameSeedSameMetricsBitIdentical) {
  const auto dir = smlab::testing::temp_dir();
  auto a = smlab::trainers::train(blobs(dir / "a", {"model.dropout=0.2", "augment.train=[gaussian_noise]"}));
  auto b = smlab::trainers::train(blobs(dir / "b", {"model.dropout=0.2", "augment.train=[gaussian_noise]"}));
  EXPECT_EQ(a.summary["val"].dump(), b.summary["val"].dump());
  EXPECT_EQ(a.summary["test"].dump(), b.summary["test"].dump());
  auto c = smlab::trainers::train(blobs(dir / "c", {"model.dropout=0.2", "experiment.seed=1"}));
  EXPECT_NE(a.summary["val"].dump(), c.summary["val"].dump());
}

TEST(Trainer, ResumeAfterSigkillIsBitIdentical) {
  const auto dir = smlab::testing::temp_dir();
  // Wide enough that a run takes a few seconds, with dropout so the RNG state matters.
  const std::vector<std::string> ov = {"model.hidden=[512, 512]", "model.dropout=0.1", "data.train_size=4000",
                                       "data.batch_size=16",       "train.epochs=2",    "train.checkpoint_every=25",
                                       "experiment.threads=1",     "data.workers=1"};
  // Write the config to a file the subprocesses can read.
  const auto cfg = blobs(dir, ov);
  smlab::write_file_atomic(dir / "exp.yaml", cfg.dump());
  const fs::path full = dir / "full", killed = dir / "killed";
  ASSERT_EQ(wait_exit(spawn({"train", (dir / "exp.yaml").string(), "--run-dir", full.string()})), 0);

  const pid_t pid = spawn({"train", (dir / "exp.yaml").string(), "--run-dir", killed.string()});
  const fs::path ckpt = killed / "checkpoints" / "last.pt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(ckpt) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // land somewhere after the first checkpoint
  ::kill(pid, SIGKILL);
  ASSERT_EQ(wait_exit(pid), 128 + SIGKILL);
  ASSERT_FALSE(fs::exists(killed / "summary.json")) << "the run finished before it could be killed";
  ASSERT_TRUE(fs::exists(ckpt));
  ASSERT_EQ(wait_exit(spawn({"train", "--resume", killed.string()})), 0);
  const auto resumed = json::parse(smlab::read_file(killed / "summary.json"));
  EXPECT_EQ(resumed["status"], "completed");
  const auto a = smlab::testing::final_weights(full, cfg), b = smlab::testing::final_weights(killed, cfg);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i << " differs";
  const auto full_summary = json::parse(smlab::read_file(full / "summary.json"));
  EXPECT_EQ(full_summary["test"].dump(), resumed["test"].dump());
  EXPECT_EQ(full_summary["steps"], resumed["steps"]);
}

namespace {
struct PoisonAt : smlab::trainers::HookBase {
  int64_t at;
  explicit PoisonAt(int64_t s) : at(s) {}
  void after_step(smlab::trainers::Trainer& t) override {
    if (t.step() != at) return;
    torch::NoGradGuard ng;
    t.model().parameters()[0].fill_(std::numeric_limits<float>::quiet_NaN());
  }
};
}  // namespace

TEST(Trainer, NanStopsTheRunAndKeepsTheLastGoodCheckpoint) {
  const auto dir = smlab::testing::temp_dir();
  smlab::trainers::TrainOptions opt;
  opt.hooks.push_back(std::make_shared<PoisonAt>(12));
  auto cfg = blobs(dir, {"train.checkpoint_every=5", "train.log_every=1"});
  auto result = smlab::trainers::train(cfg, opt);
  EXPECT_EQ(result.outcome, smlab::trainers::Outcome::NonFinite);
  EXPECT_EQ(result.summary["status"], "nonfinite_loss");
  EXPECT_NE(result.summary["error"].get<std::string>().find("last good checkpoint"), std::string::npos);
  auto ds = smlab::datasets::build(cfg, smlab::datasets::Split::Train);
  auto model = smlab::models::build(cfg, ds->info());
  const auto st = smlab::trainers::load_checkpoint(result.run_dir / "checkpoints" / "last.pt", *model, nullptr, nullptr, false);
  EXPECT_EQ(st.step, 10);  // the checkpoint before the poisoned step 12
  for (auto& p : model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

TEST(Trainer, CudaRequestedWithoutGpuSaysSoPlainly) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  const auto dir = smlab::testing::temp_dir();
  try {
    smlab::trainers::train(blobs(dir, {"experiment.device=cuda"}));
    FAIL();
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA GPU is present"), std::string::npos) << e.what();
  }
}

TEST(Trainer, CorruptCheckpointNamesTheFile) {
  const auto dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "bad.pt", "not a checkpoint");
  auto cfg = blobs(dir);
  auto ds = smlab::datasets::build(cfg, smlab::datasets::Split::Train);
  auto model = smlab::models::build(cfg, ds->info());
  try {
    smlab::trainers::load_checkpoint(dir / "bad.pt", *model);
    FAIL();
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "bad.pt").string()), std::string::npos) << e.what();
  }
}

TEST(Trainer, Bf16AutocastAndChannelsLastTrainLikeFloat32) {
  const auto dir = smlab::testing::temp_dir();
  auto with = [&](const fs::path& d, std::vector<std::string> extra) {
    std::vector<std::string> ov = {"experiment.output_dir=" + d.string(), "experiment.device=cpu"};
    ov.insert(ov.end(), extra.begin(), extra.end());
    const auto cfg = smlab::config::load_string(
        "model: {name: small_cnn, channels: [8, 16]}\n"
        "data: {name: synthetic_images, size: 16, train_size: 400, val_size: 100, test_size: 200, workers: 0}\n"
        "optim: {name: sgd, lr: 0.05}\ntrain: {epochs: 4, progress: none}\n",
        "images.yaml", ov);
    return smlab::trainers::train(cfg).summary;
  };
  const auto fp32 = with(dir / "fp32", {});
  const auto bf16 = with(dir / "bf16", {"train.amp=bf16"});
  const auto cl = with(dir / "cl", {"train.channels_last=true"});
  // The fp32 run is the oracle: same data, same seed; bf16 rounding and a different memory layout
  // change the arithmetic slightly but not what is learned.
  const double ref = fp32["test"]["top1"].get<double>();
  EXPECT_GT(ref, 0.6);
  EXPECT_NEAR(bf16["test"]["top1"].get<double>(), ref, 0.1);
  EXPECT_NEAR(cl["test"]["top1"].get<double>(), ref, 0.02);
  EXPECT_NEAR(cl["test"]["loss"].get<double>(), fp32["test"]["loss"].get<double>(), 1e-3);
}

TEST(Trainer, EmaWeightsAreTheExponentialAverage) {
  // ema_decay close to 1 with few steps: the EMA model barely moves from its initialisation, so its
  // validation accuracy stays near chance while the raw weights learn.
  const auto dir = smlab::testing::temp_dir();
  const auto raw = smlab::trainers::train(blobs(dir / "raw", {"train.epochs=2"})).summary;
  const auto ema = smlab::trainers::train(blobs(dir / "ema", {"train.epochs=2", "train.ema_decay=0.999"})).summary;
  EXPECT_GT(raw["val"]["top1"].get<double>(), 0.85);
  EXPECT_LT(ema["val"]["top1"].get<double>(), raw["val"]["top1"].get<double>() - 0.2);
}
