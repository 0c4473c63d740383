// End-to-end training on generated data: learning happens, the run folder is complete,
// resume after SIGKILL is bit-identical, and a NaN stops the run keeping the last good checkpoint.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <chrono>
#include <map>
#include <thread>

#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "trainers/checkpoint.h"
#include "trainers/cuda_graph.h"
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

namespace {

/// The validation records of a run folder's metrics.jsonl by step (a resumed run may repeat the
/// evaluations after its checkpoint; the later record of a step wins, and must equal the earlier).
std::map<int64_t, std::string> val_records(const fs::path& run) {
  std::map<int64_t, std::string> out;
  std::istringstream lines(smlab::read_file(run / "metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto r = json::parse(line);
    if (r["split"] == "val") out[r["step"].get<int64_t>()] = r.dump();
  }
  return out;
}

/// Trains the same config uninterrupted and killed with SIGKILL mid-epoch then resumed; the final
/// weights, best weights, validation records and test metrics must be bit-identical.
void expect_resume_after_sigkill_is_bit_identical(const std::vector<std::string>& extra) {
  const auto dir = smlab::testing::temp_dir();
  // Wide enough that a run takes a few seconds, with dropout so the RNG state matters.
  std::vector<std::string> ov = {"model.hidden=[512, 512]", "model.dropout=0.1", "data.train_size=4000",
                                 "data.batch_size=16",       "train.epochs=2",    "train.checkpoint_every=25",
                                 "experiment.threads=1",     "data.workers=1"};
  ov.insert(ov.end(), extra.begin(), extra.end());
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
  const auto ba = smlab::testing::final_weights(full, cfg, "best.pt"),
             bb = smlab::testing::final_weights(killed, cfg, "best.pt");
  for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i], bb[i])) << "best parameter " << i << " differs";
  const auto full_summary = json::parse(smlab::read_file(full / "summary.json"));
  EXPECT_EQ(full_summary["test"].dump(), resumed["test"].dump());
  EXPECT_EQ(full_summary["best"].dump(), resumed["best"].dump());
  EXPECT_EQ(full_summary["steps"], resumed["steps"]);
  EXPECT_EQ(val_records(full), val_records(killed));
}

}  // namespace

TEST(Trainer, ResumeAfterSigkillIsBitIdentical) { expect_resume_after_sigkill_is_bit_identical({}); }

TEST(Trainer, ResumeAfterSigkillWithMixupIsBitIdentical) {
  // MixUp draws its lambdas and pairs from the step's generator: the resumed run mixes the same way.
  expect_resume_after_sigkill_is_bit_identical({"augment.train=[{name: mixup, alpha: 0.2}]"});
}

TEST(Trainer, ResumeAfterSigkillWithStepEvaluationIsBitIdentical) {
  // Evaluations mid-epoch (every 20 steps, between the checkpoints every 25): the kill lands after
  // some, the resumed run repeats those after its checkpoint, and nothing of the training changes.
  expect_resume_after_sigkill_is_bit_identical({"train.eval_every_steps=20", "train.ema_decay=0.9"});
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

namespace {
/// Keeps a copy of the weights at every evaluation, by step.
struct WeightsAtEval : smlab::trainers::HookBase {
  std::map<int64_t, std::vector<torch::Tensor>> weights;
  void after_eval(smlab::trainers::Trainer& t, const json& rec) override {
    auto& w = weights[rec["step"].get<int64_t>()];
    for (auto& p : t.model().parameters()) w.push_back(p.detach().clone());
  }
};
}  // namespace

TEST(Trainer, StepEvaluationSelectsTheBestCheckpoint) {
  // 600 / 32 -> 19 steps per epoch; evaluations every 10 steps and at every epoch end (19, 38, 57).
  const auto dir = smlab::testing::temp_dir();
  auto hook = std::make_shared<WeightsAtEval>();
  smlab::trainers::TrainOptions opt;
  opt.hooks.push_back(hook);
  const auto cfg = blobs(dir, {"train.eval_every_steps=10", "data.spread=4.0", "train.best_metric=loss"});
  const auto result = smlab::trainers::train(cfg, opt);
  EXPECT_EQ(result.summary["status"], "completed");
  const auto recs = val_records(result.run_dir);
  std::vector<int64_t> steps;
  for (const auto& [s, r] : recs) steps.push_back(s);
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 19, 20, 30, 38, 40, 50, 57}));
  // The oracle: the smallest validation loss among the records (the first one on ties).
  int64_t best_step = -1;
  double best = 0;
  for (const auto& [s, r] : recs) {
    const double loss = json::parse(r)["loss"].get<double>();
    if (best_step < 0 || loss < best) best = loss, best_step = s;
  }
  EXPECT_EQ(result.summary["best"]["step"], best_step);
  EXPECT_EQ(result.summary["best"]["value"].get<double>(), best);
  EXPECT_EQ(result.summary["best"]["epoch"], best_step / 19);  // epochs completed at that step
  // best.pt holds the weights evaluated at that step.
  const auto saved = smlab::testing::final_weights(result.run_dir, cfg, "best.pt");
  const auto& at = hook->weights.at(best_step);
  ASSERT_EQ(saved.size(), at.size());
  for (size_t i = 0; i < at.size(); ++i) EXPECT_TRUE(torch::equal(saved[i], at[i])) << "parameter " << i;
  EXPECT_EQ(hook->weights.size(), recs.size());
}

TEST(Trainer, StepEvaluationEarlyStopsMidEpoch) {
  // best_mode=max on the validation loss: while the model learns the loss only falls, so no
  // evaluation after the first improves; with patience 2 the run stops at the third evaluation.
  const auto dir = smlab::testing::temp_dir();
  const auto cfg = blobs(dir, {"train.eval_every_steps=5", "train.best_metric=loss", "train.best_mode=max",
                               "train.early_stop_patience=2"});
  const auto result = smlab::trainers::train(cfg);
  const auto recs = val_records(result.run_dir);
  ASSERT_EQ(recs.size(), 3u);
  const double first = json::parse(recs.at(5))["loss"].get<double>();
  ASSERT_LT(json::parse(recs.at(10))["loss"].get<double>(), first) << "precondition: the loss falls";
  ASSERT_LT(json::parse(recs.at(15))["loss"].get<double>(), first) << "precondition: the loss falls";
  EXPECT_EQ(result.outcome, smlab::trainers::Outcome::EarlyStopped);
  EXPECT_EQ(result.summary["status"], "early_stopped");
  EXPECT_EQ(result.summary["steps"], 15);
  EXPECT_EQ(result.summary["epochs"], 0);  // stopped inside the first epoch (19 steps)
  EXPECT_EQ(result.summary["best"]["step"], 5);
  EXPECT_TRUE(result.summary.contains("test"));  // the best (step 5) weights are tested
  auto ds = smlab::datasets::build(cfg, smlab::datasets::Split::Train);
  auto model = smlab::models::build(cfg, ds->info());
  const auto st = smlab::trainers::load_checkpoint(result.run_dir / "checkpoints" / "last.pt", *model, nullptr, nullptr, false);
  EXPECT_EQ(st.step, 15);
  EXPECT_EQ(st.batch, 15);
  EXPECT_EQ(st.bad_evals, 2);
}

TEST(Trainer, MaxStepsMidEpochEndsWithAnEvaluation) {
  const auto dir = smlab::testing::temp_dir();
  const auto result = smlab::trainers::train(blobs(dir, {"train.max_steps=25", "train.eval_every_steps=10"}));
  EXPECT_EQ(result.summary["status"], "max_steps");
  EXPECT_EQ(result.summary["steps"], 25);
  std::vector<int64_t> steps;
  for (const auto& [s, r] : val_records(result.run_dir)) steps.push_back(s);
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 19, 20, 25}));
  EXPECT_TRUE(result.summary.contains("test"));
  // Resuming the finished run trains no further step and evaluates nothing again.
  auto again = smlab::trainers::train(blobs(dir, {"train.max_steps=25", "train.eval_every_steps=10"}),
                                      {result.run_dir, /*resume=*/true, {}});
  EXPECT_EQ(again.summary["steps"], 25);
  EXPECT_EQ(val_records(result.run_dir).size(), 4u);
}

TEST(Trainer, CudaGraphsAreRefusedOnCpuNamingTheKey) {
  const auto dir = smlab::testing::temp_dir();
  try {
    smlab::trainers::train(blobs(dir, {"train.cuda_graphs=true", "data.drop_last=true"}));
    FAIL() << "train.cuda_graphs on CPU was accepted";
  } catch (const smlab::UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("train.cuda_graphs"), std::string::npos) << what;
    EXPECT_NE(what.find("needs a CUDA device"), std::string::npos) << what;
    EXPECT_NE(what.find("cpu"), std::string::npos) << what;
  }
  EXPECT_TRUE(fs::is_empty(dir)) << "nothing is written before the refusal";
}

TEST(Trainer, CudaGraphConstraintsAreStatedPlainly) {
  // The refusal reasons, checked in order, on a (pretend) CUDA device: no GPU is needed to ask.
  const auto dir = smlab::testing::temp_dir();
  const c10::Device gpu(c10::kCUDA, 0);
  auto why = [&](std::vector<std::string> ov) {
    ov.push_back("train.cuda_graphs=true");
    return smlab::trainers::cuda_graph_refusal(blobs(dir, ov), gpu, 1);
  };
  if (!smlab::trainers::cuda_graphs_compiled()) GTEST_SKIP() << "built without CUDA";
  EXPECT_EQ(why({"data.drop_last=true"}), "");
  EXPECT_NE(why({}).find("data.drop_last=true"), std::string::npos);
  EXPECT_NE(why({"data.drop_last=true", "train.grad_accum=2"}).find("train.grad_accum=1"), std::string::npos);
  EXPECT_NE(why({"data.drop_last=true", "train.amp=fp16"}).find("fp16"), std::string::npos);
  EXPECT_NE(smlab::trainers::cuda_graph_refusal(blobs(dir, {"train.cuda_graphs=true", "data.drop_last=true"}), gpu, 2)
                .find("single-process"),
            std::string::npos);
  EXPECT_EQ(why({"data.drop_last=true", "optim.name=adamw"}), "");
}
