// Loader delivering on a GPU: workers pin each batch and copy it on a side stream; next() makes
// the caller's stream wait. The host loader is the oracle: same batches, same order, same values.
// Skipped with a message where no GPU is present.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "test_util.h"

TEST(Loader, SideStreamCopiesDeliverTheHostBatches_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(5);
  auto ds = std::make_shared<smlab::datasets::TensorDataset>(torch::rand({2000, 3, 32, 32}),
                                                             torch::randint(0, 10, {2000}, torch::kLong),
                                                             smlab::testing::classification_info(10, {3, 32, 32}));
  smlab::datasets::LoaderOptions host;
  host.batch_size = 128;
  host.workers = 2;
  host.prefetch = 3;
  auto gpu = host;
  gpu.device = torch::Device(torch::kCUDA, 0);
  smlab::datasets::Loader a(ds, host), b(ds, gpu);
  for (int64_t epoch : {0, 1}) {
    a.start_epoch(epoch);
    b.start_epoch(epoch);
    int64_t n = 0;
    while (auto x = a.next()) {
      auto y = b.next();
      ASSERT_TRUE(y.has_value());
      ASSERT_TRUE(y->input.is_cuda());
      ASSERT_TRUE(y->target.is_cuda());
      // Use the batch on the current stream right away, as a training step would.
      EXPECT_TRUE(torch::equal((y->input * 2).cpu(), x->input * 2));
      EXPECT_TRUE(torch::equal(y->target.cpu(), x->target));
      ++n;
    }
    EXPECT_FALSE(b.next().has_value());
    EXPECT_EQ(n, a.batches_per_epoch());
  }
}
