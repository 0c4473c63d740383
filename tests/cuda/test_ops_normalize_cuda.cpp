// CUDA kernels against their CPU references. Skipped with a message where no GPU is present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cuda/ops.h"
#include "test_util.h"

TEST(OpsNormalize, Parity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  for (auto shape : std::vector<std::vector<int64_t>>{{1, 1, 1, 3}, {4, 33, 17, 3}, {2, 224, 224, 3}, {3, 8, 8, 1}}) {
    auto x = torch::randint(0, 256, shape, torch::kUInt8);
    std::vector<double> mean(shape[3], 0.45), stdv(shape[3], 0.23);
    auto cpu = smlab::ops::normalize_u8(x, mean, stdv);
    auto gpu = smlab::ops::normalize_u8(x.cuda(), mean, stdv);
    // Same float32 formula on both sides; fma contraction may differ by 1 ulp.
    EXPECT_TRUE(torch::allclose(cpu, gpu.cpu(), /*rtol=*/0, /*atol=*/1e-6)) << shape;
  }
}
