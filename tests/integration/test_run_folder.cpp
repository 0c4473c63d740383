// Run folders are never silently shared: an explicit --run-dir that already holds a run is refused
// (issue 22, item 3), and a second writer on a run folder is refused by its lock (item 4).
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/run_dir.h"
#include "test_util.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;

namespace {

smlab::config::Config tiny(const fs::path& dir, int epochs, double lr) {
  const std::string yaml =
      "model: {name: mlp, hidden: [8]}\n"
      "data: {name: synthetic_blobs, features: 4, classes: 2, train_size: 64, val_size: 32, test_size: 32, "
      "batch_size: 16, workers: 0}\n"
      "train: {progress: none, tensorboard: false}\n";
  return smlab::config::load_string(yaml, "tiny.yaml",
                                    {"experiment.output_dir=" + dir.string(), "experiment.device=cpu",
                                     "train.epochs=" + std::to_string(epochs), "optim.lr=" + std::to_string(lr)});
}

}  // namespace

TEST(RunFolder, ExplicitRunDirHoldingARunIsRefusedAndLeftUntouched) {
  const auto dir = smlab::testing::temp_dir();
  smlab::trainers::TrainOptions opt;
  opt.run_dir = dir / "run";
  smlab::trainers::train(tiny(dir, 1, 0.1), opt);
  const auto summary = smlab::read_file(dir / "run" / "summary.json");
  const auto config = smlab::read_file(dir / "run" / "config.yaml");
  const auto metrics = smlab::read_file(dir / "run" / "metrics.jsonl");
  smlab::testing::expect_user_error([&] { smlab::trainers::train(tiny(dir, 2, 0.05), opt); },
                                    {"already holds a run", "--resume", (dir / "run").string()});
  EXPECT_EQ(smlab::read_file(dir / "run" / "summary.json"), summary);
  EXPECT_EQ(smlab::read_file(dir / "run" / "config.yaml"), config);
  EXPECT_EQ(smlab::read_file(dir / "run" / "metrics.jsonl"), metrics);
  // An empty folder (or one that does not exist yet) is fine.
  fs::create_directories(dir / "empty");
  opt.run_dir = dir / "empty";
  EXPECT_EQ(smlab::trainers::train(tiny(dir, 1, 0.1), opt).summary["status"], "completed");
}

TEST(RunFolder, ASecondWriterIsRefusedByTheLockUntilTheFirstIsGone) {
  const auto dir = smlab::testing::temp_dir();
  smlab::trainers::TrainOptions opt;
  opt.run_dir = dir / "run";
  smlab::trainers::train(tiny(dir, 1, 0.1), opt);
  const auto summary = smlab::read_file(dir / "run" / "summary.json");
  smlab::trainers::TrainOptions resume = opt;
  resume.resume = true;
  {
    const auto holder = smlab::RunDir::open_for_writing(dir / "run");  // stands for another trainer
    smlab::testing::expect_user_error([&] { smlab::trainers::train(smlab::config::load(dir / "run" / "config.yaml"), resume); },
                                      {"in use by another smlab process", ".lock"});
    smlab::testing::expect_user_error([&] { smlab::RunDir::open_for_writing(dir / "run"); }, {"in use"});
    EXPECT_EQ(smlab::read_file(dir / "run" / "summary.json"), summary);
    // Readers take no lock.
    EXPECT_NO_THROW(smlab::RunDir::open(dir / "run"));
  }
  // The lock went with its holder: resuming the finished run now works.
  EXPECT_NO_THROW(smlab::trainers::train(smlab::config::load(dir / "run" / "config.yaml"), resume));
}

// Issue 22: a classifier's run folder passed to `score --model` complained about `data.path` (the series
// reader's key); it now says that only forecaster runs are scored from their folder, and how to export.
TEST(RunFolder, AClassifierRunFolderGivenToScoreSaysToExportIt) {
  const auto dir = smlab::testing::temp_dir();
  smlab::trainers::TrainOptions opt;
  opt.run_dir = dir / "run";
  smlab::trainers::train(tiny(dir, 1, 0.1), opt);
  smlab::write_file_atomic(dir / "in.csv", "id,f0,f1,f2,f3\na,1,2,3,4\n");
  const auto c = smlab::testing::capture_cli({"score", "--model", (dir / "run").string(), "--input",
                                              (dir / "in.csv").string(), "--output", (dir / "out.csv").string()});
  EXPECT_EQ(c.rc, 2);
  EXPECT_NE(c.err.find("is a run folder of a mlp model on synthetic_blobs data"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("smlab export " + (dir / "run").string()), std::string::npos) << c.err;
  EXPECT_EQ(c.err.find("data.path"), std::string::npos) << c.err;
  EXPECT_FALSE(fs::exists(dir / "out.csv"));
}
