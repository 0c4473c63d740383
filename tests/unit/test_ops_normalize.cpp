// normalize_u8 against its analytic definition and torch's own arithmetic.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cuda/ops.h"

TEST(OpsNormalize, MatchesTorchReference) {
  torch::manual_seed(1);
  auto x = torch::randint(0, 256, {3, 5, 7, 3}, torch::kUInt8);
  const std::vector<double> mean = {0.485, 0.456, 0.406}, stdv = {0.229, 0.224, 0.225};
  auto y = smlab::ops::normalize_u8(x, mean, stdv);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, 3, 5, 7}));
  auto m = torch::tensor(mean, torch::kDouble).view({1, 3, 1, 1});
  auto s = torch::tensor(stdv, torch::kDouble).view({1, 3, 1, 1});
  auto ref = (x.permute({0, 3, 1, 2}).to(torch::kDouble) / 255.0 - m) / s;
  // float32 arithmetic on values of magnitude <= ~2.7: a few ulp.
  EXPECT_LT((y.to(torch::kDouble) - ref).abs().max().item<double>(), 1e-6);
}

TEST(OpsNormalize, IdentityWhenMeanZeroStdOneOver255) {
  auto x = torch::arange(0, 256, torch::kInt64).to(torch::kUInt8).view({1, 16, 16, 1});
  auto y = smlab::ops::normalize_u8(x, {0.0}, {1.0 / 255.0});
  EXPECT_TRUE(torch::equal(y.view({-1}), torch::arange(0, 256, torch::kFloat)));
}

TEST(OpsNormalize, NonContiguousInput) {
  auto base = torch::randint(0, 256, {2, 9, 9, 3}, torch::kUInt8);
  auto x = base.slice(/*dim=*/2, 1, 9, 2);  // non-contiguous view
  ASSERT_FALSE(x.is_contiguous());
  auto y = smlab::ops::normalize_u8(x, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5});
  auto ref = smlab::ops::normalize_u8(x.contiguous(), {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5});
  EXPECT_TRUE(torch::equal(y, ref));
}

TEST(OpsNormalize, BadArgumentsAreClear) {
  auto x = torch::zeros({1, 4, 4, 3}, torch::kUInt8);
  try {
    smlab::ops::normalize_u8(x, {0.5}, {0.5});
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("one value per channel (3)"), std::string::npos);
  }
  EXPECT_THROW(smlab::ops::normalize_u8(x.to(torch::kFloat), {0, 0, 0}, {1, 1, 1}), c10::Error);
}

TEST(OpsNormalize, CallableThroughDispatcherByName) {
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow("smlab::normalize_u8", "");
  EXPECT_EQ(op.schema().name(), "smlab::normalize_u8");
}
