// Interrupted and finished runs (issue 22): SIGTERM during training saves a checkpoint and exits 143
// (it exited 0, so schedulers took it for a finished run), a resumed finished run keeps its summary,
// and a run killed after its final checkpoint keeps `val` and its timing when resumed (item 8: `val`
// went missing and a sweep then showed "± 0.0000 (2/2 seeds)" computed from one seed).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "trainers/sweep.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

smlab::config::Config tiny(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> ov = {"experiment.output_dir=" + dir.string(), "experiment.device=cpu"};
  ov.insert(ov.end(), extra.begin(), extra.end());
  return smlab::config::load_string(
      "model: {name: mlp, hidden: [16]}\n"
      "data: {name: synthetic_blobs, features: 4, classes: 3, train_size: 96, val_size: 48, test_size: 48, "
      "batch_size: 16, workers: 0}\n"
      "train: {epochs: 2, progress: none, tensorboard: false}\n",
      "tiny.yaml", ov);
}

json summary_of(const fs::path& run) { return json::parse(smlab::read_file(run / "summary.json")); }

smlab::trainers::TrainResult resume(const fs::path& run) {
  smlab::trainers::TrainOptions o;
  o.run_dir = run;
  o.resume = true;
  return smlab::trainers::train(smlab::config::load(run / "config.yaml"), o);
}

}  // namespace

TEST(Interrupts, SigtermDuringTrainingCheckpointsAndExits143ThenResumes) {
  const auto dir = smlab::testing::temp_dir();
  // Long enough to be signalled mid-run: many small steps, a checkpoint every 10.
  const auto cfg = tiny(dir, {"data.train_size=20000", "data.batch_size=8", "train.epochs=50",
                              "train.checkpoint_every=10", "experiment.threads=1"});
  smlab::write_file_atomic(dir / "exp.yaml", cfg.dump());
  const fs::path run = dir / "run";
  const pid_t pid = smlab::testing::spawn_smlab({"train", (dir / "exp.yaml").string(), "--run-dir", run.string()});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(run / "checkpoints" / "last.pt") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGTERM);
  EXPECT_EQ(smlab::testing::wait_exit(pid), 128 + SIGTERM) << "an interrupted run must not exit 0";
  const auto s = summary_of(run);
  EXPECT_EQ(s["status"], "interrupted");
  EXPECT_LT(s["epochs"].get<int>(), 50);
  // The resume continues from the checkpoint; it is stopped the same way, to keep the test short.
  const pid_t again = smlab::testing::spawn_smlab({"train", "--resume", run.string(), "train.epochs=" + std::to_string(s["epochs"].get<int>() + 1)});
  EXPECT_EQ(smlab::testing::wait_exit(again), 0);
  EXPECT_EQ(summary_of(run)["status"], "completed");
}

TEST(Interrupts, ResumingAFinishedRunKeepsItsSummaryAndMetrics) {
  const auto dir = smlab::testing::temp_dir();
  smlab::trainers::TrainOptions o;
  o.run_dir = dir / "run";
  smlab::trainers::train(tiny(dir), o);
  const std::string summary = smlab::read_file(o.run_dir / "summary.json");
  const std::string metrics = smlab::read_file(o.run_dir / "metrics.jsonl");
  const auto r = resume(o.run_dir);
  EXPECT_EQ(r.summary.dump(), json::parse(summary).dump());
  EXPECT_EQ(smlab::read_file(o.run_dir / "summary.json"), summary);
  EXPECT_EQ(smlab::read_file(o.run_dir / "metrics.jsonl"), metrics) << "the test split was evaluated and logged again";
}

TEST(Interrupts, AKillAfterTheFinalCheckpointKeepsValAndTiming) {
  const auto dir = smlab::testing::temp_dir();
  smlab::trainers::TrainOptions o;
  o.run_dir = dir / "run";
  smlab::trainers::train(tiny(dir, {"data.train_size=16000"}), o);  // long enough that timing resets show
  const auto before = summary_of(o.run_dir);
  ASSERT_TRUE(before.contains("val"));
  fs::remove(o.run_dir / "summary.json");  // killed after last.pt, before the summary was written
  const auto after = resume(o.run_dir).summary;
  EXPECT_EQ(after["status"], "completed");
  ASSERT_TRUE(after.contains("val")) << after.dump();
  EXPECT_EQ(after["val"].dump(), before["val"].dump());
  EXPECT_EQ(after["test"].dump(), before["test"].dump());
  // The checkpoint holds the training time up to its own write; the resume adds no training.
  EXPECT_GT(after["train_seconds"].get<double>(), 0.8 * before["train_seconds"].get<double>());
  EXPECT_GE(after["wall_seconds"].get<double>(), before["train_seconds"].get<double>())
      << "the wall time restarted from the resume";
}

TEST(Interrupts, ASweepCellComputedFromFewerRunsSaysSo) {
  const auto dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "base.yaml", tiny(dir, {"train.epochs=1"}).dump());
  smlab::write_file_atomic(dir / "grid.yaml", "base: base.yaml\nseeds: [0, 1]\noutput_dir: " + (dir / "out").string() +
                                                  "\ngrid:\n  optim.lr: [0.1]\nmetrics: [val.top1, test.top1]\n");
  const auto spec = smlab::trainers::load_sweep(dir / "grid.yaml");
  const fs::path out = smlab::trainers::run_sweep(spec, {});
  auto s = summary_of(out / "p0-s1");
  s.erase("val");  // what item 8 left behind
  smlab::write_file_atomic(out / "p0-s1" / "summary.json", s.dump(2));
  const auto res = smlab::trainers::write_results(spec);
  EXPECT_EQ(res["points"][0]["metrics"]["val.top1"]["n"], 1);
  const std::string md = smlab::read_file(out / "results.md");
  EXPECT_NE(md.find("(1/2 runs)"), std::string::npos) << md;
  EXPECT_EQ(md.find("± 0.0000"), std::string::npos) << "one value has no spread to show:\n" << md;
}
