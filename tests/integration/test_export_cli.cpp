// `smlab export` on a real run: the quick-start demo is trained for one epoch, exported, and the
// artifact's outputs on the test split equal those of the C++ model loaded from the same checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "tools/register_all.h"
#include "datasets/dataset.h"
#include "inference/export.h"
#include "test_util.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"

TEST(ExportCli, QuickstartRunExportsAndMatchesItsCheckpoint) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  const auto run = dir / "run";
  const std::string cfg_file = smlab::testing::source_dir() + "/experiments/quickstart.yaml";
  ASSERT_EQ(smlab::cli::run({"train", cfg_file, "--run-dir", run.string(), "train.epochs=1", "train.progress=none",
                             "train.tensorboard=false", "experiment.device=cpu"}),
            0);
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
