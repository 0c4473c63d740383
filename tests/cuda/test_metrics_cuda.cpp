// Metrics on CUDA inputs give the CPU results. Skipped with a message where no GPU is present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_util.h"
#include "trainers/metrics.h"

TEST(Metrics, ClassificationParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(11);
  const int64_t N = 3000, K = 10;
  auto x = torch::randn({N, K}) * 2;
  auto t = torch::randint(0, K, {N}, torch::kLong);
  smlab::metrics::ClassificationMetrics cpu(K), gpu(K);
  cpu.update(x, t);
  gpu.update(x.cuda(), t.cuda());
  auto a = cpu.compute(), b = gpu.compute();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) EXPECT_NEAR(v, b.at(k), 1e-9) << k;
  EXPECT_TRUE(torch::equal(cpu.confusion(), gpu.confusion()));
  EXPECT_TRUE(gpu.state().device().is_cpu());
}

TEST(Metrics, RegressionParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(12);
  auto y = torch::randn({64, 48}), yh = y + 0.3 * torch::randn({64, 48}), nv = y + torch::randn({64, 48});
  smlab::metrics::RegressionMetrics cpu, gpu;
  cpu.update(yh, y, nv);
  gpu.update(yh.cuda(), y.cuda(), nv.cuda());
  auto a = cpu.compute(), b = gpu.compute();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) EXPECT_NEAR(v, b.at(k), 1e-9) << k;
}
