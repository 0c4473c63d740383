// The CI smoke versions of the Moving-MNIST experiments (experiments/video/*_smoke.yaml) on the
// real MNIST test digits ($SMLAB_DATA/mnist_test_digits): each trains in seconds on a CPU, and
// on the direction label (4 classes, chance 0.25) the 3D model must read the motion, the
// single-frame 2D model must not be able to, and shuffling the frames must take most of the 3D
// model's advantage away. Skips with a message when the digits are absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "core/config.h"
#include "tools/register_all.h"
#include "test_util.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;

TEST(VideoExperiments, SmokeRunsShowThe3DModelUsesFrameOrder) {
  const char* root = std::getenv("SMLAB_DATA");
  if (!root || !*root || !fs::exists(fs::path(root) / "mnist_test_digits" / "t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "SMLAB_DATA is not set or lacks mnist_test_digits (see /work/shared/datasets)";
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  std::map<std::string, double> top1;
  for (const std::string name : {"moving_mnist_r3d_smoke", "moving_mnist_frame2d_smoke",
                                 "moving_mnist_r3d_shuffled_smoke"}) {
    SCOPED_TRACE(name);
    const auto cfg = smlab::config::load(fs::path(smlab::testing::source_dir()) / "experiments/video" / (name + ".yaml"),
                                         {"experiment.output_dir=" + dir.string(), "train.progress=none"});
    ASSERT_EQ(cfg.get<std::string>("data.label"), "direction");
    const auto result = smlab::trainers::train(cfg);
    ASSERT_EQ(result.summary["status"], "completed");
    top1[name] = result.summary["test"]["top1"].get<double>();
    std::cout << "[video smoke] " << name << ": test top1 " << top1[name] << "\n";
  }
  // One frame cannot show the direction: the 2D model stays near chance (0.25).
  EXPECT_LT(top1["moving_mnist_frame2d_smoke"], 0.40);
  EXPECT_GT(top1["moving_mnist_r3d_smoke"], 0.60);
  EXPECT_GT(top1["moving_mnist_r3d_smoke"], top1["moving_mnist_frame2d_smoke"] + 0.30);
  // Shuffled frames still show the axis of motion but not its sign.
  EXPECT_GT(top1["moving_mnist_r3d_smoke"], top1["moving_mnist_r3d_shuffled_smoke"] + 0.15);
}
