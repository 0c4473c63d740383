// k-means, silhouette and the forecaster on CUDA give the CPU results. Skipped with a message
// where no GPU is present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "models/model.h"
#include "test_util.h"
#include "analysis/kmeans.h"

using namespace smlab;

TEST(Cluster, LloydAndSilhouetteParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto x = torch::randn({2000, 5}, gen, torch::kDouble) + (torch::arange(2000) % 4).unsqueeze(1).to(torch::kDouble) * 3;
  const auto init = x.slice(0, 0, 4).clone();
  const auto cpu = analysis::cluster::lloyd(x, init, 100, 0.0);
  const auto gpu = analysis::cluster::lloyd(x.cuda(), init.cuda(), 100, 0.0);
  EXPECT_TRUE(torch::equal(cpu.labels, gpu.labels.cpu()));
  EXPECT_EQ(cpu.iterations, gpu.iterations);
  EXPECT_NEAR(cpu.inertia, gpu.inertia, 1e-9 * cpu.inertia);
  EXPECT_TRUE(torch::allclose(cpu.centroids, gpu.centroids.cpu(), 1e-12, 1e-12));
  EXPECT_NEAR(analysis::cluster::silhouette(x, cpu.labels, 4), analysis::cluster::silhouette(x.cuda(), gpu.labels, 4), 1e-10);
  // the full k-means++ run: same seeded draws, so the same result
  analysis::cluster::KMeansOptions o;
  o.k = 4;
  o.n_init = 3;
  o.seed = 5;
  const auto a = analysis::cluster::kmeans(x, o), b = analysis::cluster::kmeans(x.cuda(), o);
  EXPECT_TRUE(torch::equal(a.labels, b.labels.cpu()));
  EXPECT_NEAR(a.inertia, b.inertia, 1e-9 * a.inertia);
}

TEST(LstmForecaster, CudnnMatchesCpu_CUDA) {
  SMLAB_REQUIRE_CUDA();
  for (const char* cell : {"lstm", "gru"}) {
    const auto cfg = config::load_string(std::string("model:\n  name: lstm_forecaster\n  cell: ") + cell + "\n  hidden: 32\n",
                                         "mem.yaml");
    datasets::DatasetInfo info;
    info.task = datasets::Task::Regression;
    info.output_dim = 2;
    info.input_shape = {48, 16};
    torch::manual_seed(0);
    auto model = models::build(cfg, info);
    model->eval();
    const auto x = torch::randn({5, 48, 16});
    torch::NoGradGuard ng;
    const auto cpu = model->forward(x);
    model->to(torch::kCUDA);
    const auto gpu = model->forward(x.cuda()).cpu();
    EXPECT_TRUE(torch::allclose(cpu, gpu, 1e-4, 1e-4)) << cell << ": " << (cpu - gpu).abs().max().item<double>();
  }
}
