// `smlab export` on a real run: the quick-start demo is trained for one epoch, exported, and the
// artifact's outputs on the test split equal those of the C++ model loaded from the same checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/config.h"
#include "tools/register_all.h"
#include "datasets/dataset.h"
#include "inference/export.h"
#include "test_util.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"

namespace {

/// The quick-start demo trained for one epoch into `run`.
void train_quickstart(const std::filesystem::path& run) {
  const std::string cfg_file = smlab::testing::source_dir() + "/experiments/quickstart.yaml";
  ASSERT_EQ(smlab::cli::run({"train", cfg_file, "--run-dir", run.string(), "train.epochs=1", "train.progress=none",
                             "train.tensorboard=false", "experiment.device=cpu"}),
            0);
}

}  // namespace

TEST(ExportCli, QuickstartRunExportsAndMatchesItsCheckpoint) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  const auto run = dir / "run";
  train_quickstart(run);
  ASSERT_EQ(smlab::cli::run({"export", run.string(), "--output", (dir / "q.pt").string(), "--checkpoint", "last"}), 0);
  auto a = smlab::inference::load_artifact(dir / "q.pt");
  EXPECT_EQ(a.spec.model, "mlp");
  EXPECT_EQ(a.spec.checkpoint, "last");
  EXPECT_EQ(a.spec.input.kind, smlab::models::InputKind::Features);
  EXPECT_EQ(a.spec.input.shape, std::vector<int64_t>({16}));
  EXPECT_EQ(a.spec.output.classes.size(), 4u);

  const auto cfg = smlab::config::load(run / "config.yaml");
  EXPECT_EQ(a.spec.config_hash, cfg.hash());
  auto test = smlab::datasets::build(cfg, smlab::datasets::Split::Test);
  auto model = smlab::models::build(cfg, test->info());
  smlab::trainers::load_checkpoint(run / "checkpoints" / "last.pt", *model, nullptr, nullptr, false);
  model->eval();
  std::vector<int64_t> idx(257);
  std::iota(idx.begin(), idx.end(), 0);
  const auto batch = test->get(idx);
  torch::NoGradGuard ng;
  EXPECT_LE(smlab::inference::relative_error(a.forward(batch.input), model->forward(batch.input)), 1e-5);

  // Bad usage is refused with status 2.
  EXPECT_EQ(smlab::cli::run({"export", run.string(), "--checkpoint", "newest"}), 2);
}

// Issue 22: `export --output` pointing at the run's own files (item 12) or at a folder is refused
// with nothing changed, and a read-only destination is one line naming the path (no "enforce fail").
// A flipped byte inside an artifact's weights is refused on load (the zip CRC, item 9).
TEST(ExportCli, OutputNeverReplacesTheRunsOwnFilesAndCorruptArtifactsAreRefused) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  const auto run = dir / "run";
  train_quickstart(run);
  const auto best = smlab::read_file(run / "checkpoints" / "best.pt");
  const auto config = smlab::read_file(run / "config.yaml");
  const std::vector<std::filesystem::path> owned = {run / "checkpoints" / "best.pt", run / "config.yaml",
                                                    run / "summary.json", run / "checkpoints"};
  for (const auto& out : owned)
    EXPECT_EQ(smlab::cli::run({"export", run.string(), "--output", out.string()}), 2) << out;
  EXPECT_EQ(smlab::read_file(run / "checkpoints" / "best.pt"), best);
  EXPECT_EQ(smlab::read_file(run / "config.yaml"), config);
  // A new file inside the run folder (the default place) is fine.
  ASSERT_EQ(smlab::cli::run({"export", run.string(), "--output", (run / "model-v2.pt").string()}), 0);

  if (::geteuid() != 0) {  // root ignores permission bits
    std::filesystem::create_directories(dir / "ro");
    std::filesystem::permissions(dir / "ro", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    smlab::testing::expect_user_error(
        [&] {
          auto a = smlab::inference::load_artifact(run / "model-v2.pt");
          smlab::inference::save_artifact(a, dir / "ro" / "m.pt");
        },
        {"cannot write " + (dir / "ro" / "m.pt").string(), "Permission denied"});
  }

  std::string bytes = smlab::read_file(run / "model-v2.pt");
  auto a = smlab::inference::load_artifact(run / "model-v2.pt");
  torch::Tensor w;
  for (const auto& p : a.module.parameters()) {
    w = p.contiguous();
    break;
  }
  ASSERT_TRUE(w.defined() && w.numel() >= 4);
  const std::string pattern(static_cast<const char*>(w.data_ptr()), 16);
  const auto at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 2] ^= 0x01;
  smlab::write_file_atomic(dir / "flipped.pt", bytes);
  smlab::testing::expect_user_error([&] { smlab::inference::load_artifact(dir / "flipped.pt"); },
                                    {"artifact " + (dir / "flipped.pt").string() + " is corrupt", "CRC-32"});
}
