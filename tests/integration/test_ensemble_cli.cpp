// `smlab ensemble` over two quick-start runs: summary fields, the artifact's probabilities, and
// the reported ensemble accuracy recomputed from the artifact on the test split.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "tools/register_all.h"
#include "datasets/dataset.h"
#include "inference/export.h"
#include "test_util.h"
#include "tools/cli/cli.h"

TEST(EnsembleCli, TwoQuickstartRunsCombineCalibrateAndExport) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  const std::string cfg_file = smlab::testing::source_dir() + "/experiments/quickstart.yaml";
  for (int seed : {0, 1}) {
    ASSERT_EQ(smlab::cli::run({"train", cfg_file, "--run-dir", (dir / std::string("r").append(std::to_string(seed))).string(),
                               "train.epochs=1", "train.progress=none", "train.tensorboard=false",
                               "experiment.device=cpu", "experiment.seed=" + std::to_string(seed)}),
              0);
  }
  ASSERT_EQ(smlab::cli::run({"ensemble", (dir / "r0").string(), (dir / "r1").string(), "--method", "weighted",
                             "--calibrate", "--output", (dir / "ens").string(), "--device", "cpu"}),
            0);
  const auto summary = nlohmann::json::parse(smlab::read_file(dir / "ens" / "summary.json"));
  ASSERT_EQ(summary["members"].size(), 2u);
  for (const auto& m : summary["members"]) {
    EXPECT_GT(m["temperature"].get<double>(), 0.0);
    // Calibration on validation should not make the test NLL much worse than uncalibrated.
    EXPECT_LE(m["test_calibrated"]["nll"].get<double>(), m["test"]["nll"].get<double>() + 0.05);
  }
  EXPECT_NEAR(summary["weights"][0].get<double>() + summary["weights"][1].get<double>(), 1.0, 1e-5);
  const double best = std::max(summary["members"][0]["test"]["top1"].get<double>(),
                               summary["members"][1]["test"]["top1"].get<double>());
  EXPECT_NEAR(summary["gain_over_best_member_top1"].get<double>(), summary["ensemble_test"]["top1"].get<double>() - best,
              1e-12);

  auto a = smlab::inference::load_artifact(dir / "ens" / "model.pt");
  EXPECT_EQ(a.spec.model, "ensemble");
  EXPECT_EQ(a.spec.output.outputs, smlab::inference::OutputKind::Probabilities);
  ASSERT_TRUE(a.spec.output.ensemble.has_value());
  EXPECT_EQ(a.spec.output.ensemble->members.size(), 2u);
  const auto cfg = smlab::config::load(dir / "r0" / "config.yaml");
  auto test = smlab::datasets::build(cfg, smlab::datasets::Split::Test);
  std::vector<int64_t> idx(test->size());
  std::iota(idx.begin(), idx.end(), 0);
  const auto batch = test->get(idx);
  torch::NoGradGuard ng;
  const auto p = a.forward(batch.input);
  EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({p.size(0)}), 1e-5, 1e-5));
  const double top1 = (p.argmax(1) == batch.target).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(top1, summary["ensemble_test"]["top1"].get<double>(), 1e-9);

  EXPECT_EQ(smlab::cli::run({"ensemble", (dir / "r0").string(), "--output", (dir / "x").string()}), 2);
}
