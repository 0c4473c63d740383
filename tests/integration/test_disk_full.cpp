// A full disk, simulated with RLIMIT_FSIZE and SIGXFSZ ignored (so writes fail with EFBIG, as they
// fail with ENOSPC on a full disk), ends `smlab train` with one line and exit status 2, keeps the
// previous checkpoint, and leaves no temporary file behind (issue 22, item 1). Before the fix,
// PyTorch's archive writer aborted the process (exit 134, a C++ trace) and left .last.pt.tmp.*.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

/// Runs `smlab ARGS` under `ulimit -f KB` with SIGXFSZ ignored; returns the exit status, output in `log`.
int smlab_with_file_limit(int kb, const std::string& args, const fs::path& log) {
  const std::string cmd = "bash -c \"ulimit -f " + std::to_string(kb) + "; trap '' XFSZ; exec '" +
                          std::string(SMLAB_BINARY_DIR) + "/smlab' " + args + "\" >'" + log.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
  return out;
}

}  // namespace

TEST(DiskFull, CheckpointWriteFailsWithOneLineAndLeavesNothingBehind) {
  const auto dir = smlab::testing::temp_dir();
  // The checkpoint (a 64x512x4 MLP with momentum: > 200 KB) cannot fit under 64 KB; the config,
  // meta.json and metrics lines can.
  smlab::write_file_atomic(dir / "wide.yaml",
                           "model: {name: mlp, hidden: [512]}\n"
                           "data: {name: synthetic_blobs, features: 64, classes: 4, train_size: 64, val_size: 32, "
                           "test_size: 32, batch_size: 32, workers: 0}\n"
                           "optim: {name: sgd, lr: 0.1, momentum: 0.9}\n"
                           "experiment: {device: cpu}\n"
                           "train: {epochs: 2, progress: none, tensorboard: false}\n");
  const fs::path run = dir / "run";
  const int rc = smlab_with_file_limit(64, "train '" + (dir / "wide.yaml").string() + "' --run-dir '" + run.string() + "'",
                                       dir / "log.txt");
  const std::string log = smlab::read_file(dir / "log.txt");
  EXPECT_EQ(rc, 2) << log;
  // The first checkpoint to be written (best.pt after the first evaluation, or last.pt) fails.
  EXPECT_NE(log.find("cannot write " + (run / "checkpoints").string() + "/"), std::string::npos) << log;
  EXPECT_NE(log.find("File too large"), std::string::npos) << log;
  for (const char* bad : {"what():", "terminate called", "enforce fail", "Aborted"})
    EXPECT_EQ(log.find(bad), std::string::npos) << bad << " in: " << log;
  EXPECT_TRUE(temporaries(run).empty()) << temporaries(run).front();
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "last.pt"));
  // With room again, the same folder resumes (no checkpoint yet: from the start) and completes.
  const int again = smlab_with_file_limit(1 << 20, "train --resume '" + run.string() + "'", dir / "log2.txt");
  EXPECT_EQ(again, 0) << smlab::read_file(dir / "log2.txt");
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "last.pt"));
  EXPECT_TRUE(temporaries(run).empty());
}

// Issue 22, item 2: a full disk while HDF5 shards are written printed the right error and then
// segfaulted at exit (139): HDF5 kept the file whose close had failed and crashed flushing it in its
// exit-time cleanup. Shards are now built in memory and written by smlab's own atomic writer.
TEST(DiskFull, PackIntoHdf5FailsWithOneLineAndExitsCleanly) {
  const auto dir = smlab::testing::temp_dir();
  std::string tsv;
  for (int i = 0; i < 4000; ++i)
    tsv += std::to_string(i) + "\t" + (i % 2 ? "pos" : "neg") + "\tsome words that take room, number " + std::to_string(i * 7919) + "\n";
  smlab::write_file_atomic(dir / "texts.tsv", tsv);  // ~200 KB of text: its shard cannot fit under 64 KB
  const int rc = smlab_with_file_limit(64, "pack '" + (dir / "texts.tsv").string() + "' '" + (dir / "packed").string() + "'",
                                       dir / "log.txt");
  const std::string log = smlab::read_file(dir / "log.txt");
  EXPECT_EQ(rc, 2) << log;
  EXPECT_NE(log.find("File too large"), std::string::npos) << log;
  for (const char* bad : {"what():", "terminate called", "Segmentation", "HDF5-DIAG"})
    EXPECT_EQ(log.find(bad), std::string::npos) << bad << " in: " << log;
  if (fs::exists(dir / "packed")) {
    EXPECT_TRUE(temporaries(dir / "packed").empty());
    EXPECT_FALSE(fs::exists(dir / "packed" / "manifest.json"));
  }
  // With room, the same command packs every record.
  ASSERT_EQ(smlab_with_file_limit(1 << 20, "pack '" + (dir / "texts.tsv").string() + "' '" + (dir / "packed").string() + "'",
                                  dir / "log2.txt"), 0) << smlab::read_file(dir / "log2.txt");
  EXPECT_EQ(nlohmann::json::parse(smlab::read_file(dir / "packed" / "manifest.json"))["count"], 4000);
}
