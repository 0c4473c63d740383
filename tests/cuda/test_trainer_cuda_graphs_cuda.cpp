// train.cuda_graphs: a run whose steps are captured into a CUDA graph and replayed reaches the
// weights of the same run trained eagerly (same seed, same batches). Skipped where no GPU is present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "test_util.h"
#include "trainers/checkpoint.h"
#include "trainers/cuda_graph.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;

namespace {

smlab::config::Config images(const fs::path& dir, std::vector<std::string> extra) {
  std::vector<std::string> ov = {"experiment.output_dir=" + dir.string(), "experiment.device=cuda"};
  ov.insert(ov.end(), extra.begin(), extra.end());
  return smlab::config::load_string(
      "model: {name: small_cnn, channels: [8, 16]}\n"
      "data: {name: synthetic_images, size: 16, train_size: 640, val_size: 128, test_size: 128, batch_size: 32,\n"
      "       drop_last: true, workers: 0}\n"
      "train: {epochs: 2, progress: none, log_every: 5}\n",
      "images.yaml", ov);
}

/// Trains with and without train.cuda_graphs and compares the final weights: 40 steps, of which the
/// first GraphedStep::kWarmupSteps are eager and the rest replays. The update arithmetic is the
/// same but scalars come from device tensors and kernels may fuse differently, hence a tolerance.
void expect_graphs_match_eager(const std::vector<std::string>& extra, double rtol, double atol) {
  const auto dir = smlab::testing::temp_dir();
  auto with = extra, without = extra;
  with.push_back("train.cuda_graphs=true");
  const auto cfg_graph = images(dir / "graph", with), cfg_eager = images(dir / "eager", without);
  const auto graph = smlab::trainers::train(cfg_graph);
  const auto eager = smlab::trainers::train(cfg_eager);
  ASSERT_EQ(graph.summary["status"], "completed");
  ASSERT_EQ(eager.summary["status"], "completed");
  EXPECT_EQ(graph.summary["steps"], 40);
  const auto a = smlab::testing::final_weights(graph.run_dir, cfg_graph);
  const auto b = smlab::testing::final_weights(eager.run_dir, cfg_eager);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(a[i], b[i], rtol, atol))
        << "parameter " << i << ": max |graph - eager| = " << (a[i] - b[i]).abs().max().item<double>();
  }
  // Both learned (4 classes: an untrained model's loss is about ln 4 = 1.39), so the weights compared
  // are not two copies of the initialisation.
  EXPECT_LT(eager.summary["val"]["loss"].get<double>(), 1.3);
  EXPECT_NEAR(graph.summary["val"]["loss"].get<double>(), eager.summary["val"]["loss"].get<double>(),
              std::max(1e-3, 10 * atol));
}

}  // namespace

TEST(CudaGraphs, SgdNesterovWeightDecayClipMatchesEager_CUDA) {
  SMLAB_REQUIRE_CUDA();
  expect_graphs_match_eager({"optim.name=sgd", "optim.lr=0.05", "optim.weight_decay=5e-4", "train.grad_clip=1.0",
                             "sched.warmup_epochs=0.5"},
                            1e-3, 1e-5);
}

TEST(CudaGraphs, AdamWMatchesEager_CUDA) {
  SMLAB_REQUIRE_CUDA();
  expect_graphs_match_eager({"optim.name=adamw", "optim.lr=0.002", "optim.weight_decay=0.05"}, 1e-3, 1e-5);
}

TEST(CudaGraphs, Bf16AutocastAndChannelsLastMatchEager_CUDA) {
  SMLAB_REQUIRE_CUDA();
  // bf16 rounds differently when a kernel changes, so the tolerance is that of bf16.
  expect_graphs_match_eager({"train.amp=bf16", "train.channels_last=true", "train.ema_decay=0.9"}, 2e-2, 2e-3);
}

TEST(CudaGraphs, ResumedRunCapturesAgainAndFinishes_CUDA) {
  SMLAB_REQUIRE_CUDA();
  const auto dir = smlab::testing::temp_dir();
  const auto cfg = images(dir, {"train.cuda_graphs=true", "optim.name=adamw", "optim.lr=0.002"});
  smlab::trainers::TrainOptions first;
  first.run_dir = dir / "run";
  struct StopAt : smlab::trainers::HookBase {
    void after_step(smlab::trainers::Trainer& t) override {
      if (t.step() == 10) t.request_stop();
    }
  };
  first.hooks.push_back(std::make_shared<StopAt>());
  const auto a = smlab::trainers::train(cfg, first);
  ASSERT_EQ(a.summary["status"], "interrupted");
  const auto b = smlab::trainers::train(cfg, {dir / "run", /*resume=*/true, {}});
  EXPECT_EQ(b.summary["status"], "completed");
  EXPECT_EQ(b.summary["steps"], 40);
  // AdamW's host-side step count followed the replays into the checkpoint.
  auto ds = smlab::datasets::build(cfg, smlab::datasets::Split::Train);
  auto model = smlab::models::build(cfg, ds->info());
  model->to(torch::kCUDA);
  auto opt = smlab::trainers::build_optimizer(*model, cfg);
  smlab::trainers::load_checkpoint(dir / "run" / "checkpoints" / "last.pt", *model, opt.get(), nullptr, false);
  for (const auto& [key, st] : opt->state())
    EXPECT_EQ(static_cast<const torch::optim::AdamWParamState&>(*st).step(), 40);
}

TEST(CudaGraphs, ShapeChangeIsReportedNamingTheKey_CUDA) {
  SMLAB_REQUIRE_CUDA();
  auto model = torch::nn::Linear(4, 2);
  model->to(torch::kCUDA);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  smlab::trainers::GraphedStep g(
      opt, [&](const torch::Tensor& x, const torch::Tensor& y) { return torch::nn::functional::cross_entropy(model(x), y); },
      0.0, c10::Device(c10::kCUDA, 0));
  const auto opts = torch::TensorOptions().device(torch::kCUDA);
  for (int i = 0; i < smlab::trainers::GraphedStep::kWarmupSteps + 2; ++i)
    g.step(torch::randn({8, 4}, opts), torch::randint(0, 2, {8}, opts.dtype(torch::kLong)));
  EXPECT_TRUE(g.captured());
  try {
    g.step(torch::randn({5, 4}, opts), torch::randint(0, 2, {5}, opts.dtype(torch::kLong)));
    FAIL() << "a batch of another shape was replayed";
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("train.cuda_graphs"), std::string::npos) << e.what();
  }
}
