// datasets::Loader: the order is a function of (seed, epoch) only, worker threads change nothing
// but speed, ranks split an epoch like DistributedSampler, a resumed position continues the same
// epoch, and a dataset error reaches the caller.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <set>
#include <stdexcept>

#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "test_util.h"

namespace {

using smlab::datasets::Batch;
using smlab::datasets::Loader;
using smlab::datasets::LoaderOptions;

/// Sample i has input [i, 2i] (float) and target i: a batch tells which samples it holds.
std::shared_ptr<smlab::datasets::TensorDataset> indexed(int64_t n) {
  const auto i = torch::arange(n, torch::kLong);
  return std::make_shared<smlab::datasets::TensorDataset>(torch::stack({i, 2 * i}, 1).to(torch::kFloat), i,
                                                          smlab::testing::classification_info(n, {2}));
}

std::vector<std::vector<int64_t>> epoch_batches(Loader& loader, int64_t epoch, int64_t first = 0) {
  std::vector<std::vector<int64_t>> out;
  loader.start_epoch(epoch, first);
  while (auto b = loader.next()) {
    EXPECT_TRUE(torch::equal(b->input.select(1, 0).to(torch::kLong), b->target));
    EXPECT_TRUE(torch::equal(b->input.select(1, 1), 2 * b->input.select(1, 0)));
    out.emplace_back(b->target.data_ptr<int64_t>(), b->target.data_ptr<int64_t>() + b->target.numel());
  }
  return out;
}

LoaderOptions opts(int64_t batch, int workers, int rank = 0, int world = 1) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.seed = 7;
  o.rank = rank;
  o.world = world;
  return o;
}

}  // namespace

TEST(Loader, EveryEpochIsAPermutationDrawnFromSeedAndEpoch) {
  auto ds = indexed(103);
  Loader a(ds, opts(10, 0)), b(ds, opts(10, 0));
  const auto e0 = epoch_batches(a, 0), e1 = epoch_batches(a, 1);
  ASSERT_EQ(e0.size(), 11u);  // 10 full batches and a last one of 3
  EXPECT_EQ(e0.back().size(), 3u);
  std::multiset<int64_t> seen;
  for (const auto& bt : e0) seen.insert(bt.begin(), bt.end());
  EXPECT_EQ(seen.size(), 103u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 103u);
  EXPECT_NE(e0, e1);
  // The same (seed, epoch) gives the same order whatever ran before it.
  EXPECT_EQ(epoch_batches(b, 1), e1);
  EXPECT_EQ(epoch_batches(b, 0), e0);
  auto other = opts(10, 0);
  other.seed = 8;
  Loader c(ds, other);
  EXPECT_NE(epoch_batches(c, 0), e0);
  auto drop = opts(10, 0);
  drop.drop_last = true;
  Loader d(ds, drop);
  EXPECT_EQ(d.batches_per_epoch(), 10);
}

TEST(Loader, WorkerThreadsDeliverTheSameBatchesInOrder) {
  auto ds = indexed(1000);
  Loader serial(ds, opts(32, 0));
  for (int workers : {1, 3}) {
    auto o = opts(32, workers);
    o.prefetch = 4;
    Loader threaded(ds, o);
    for (int64_t e : {0, 1}) EXPECT_EQ(epoch_batches(threaded, e), epoch_batches(serial, e)) << workers << " workers";
  }
}

TEST(Loader, RanksSplitTheEpochLikeDistributedSampler) {
  // 101 samples over 2 ranks: padded to 102 by wrapping around, rank r takes positions r, r+2, ...
  auto ds = indexed(101);
  Loader whole(ds, opts(10, 0));
  Loader r0(ds, opts(10, 0, 0, 2)), r1(ds, opts(10, 0, 1, 2));
  EXPECT_EQ(r0.batches_per_epoch(), 11);  // 51 samples in batches of 5
  std::vector<int64_t> order, s0, s1;
  for (const auto& b : epoch_batches(whole, 3)) order.insert(order.end(), b.begin(), b.end());
  for (const auto& b : epoch_batches(r0, 3)) s0.insert(s0.end(), b.begin(), b.end());
  for (const auto& b : epoch_batches(r1, 3)) s1.insert(s1.end(), b.begin(), b.end());
  ASSERT_EQ(s0.size(), 51u);
  ASSERT_EQ(s1.size(), 51u);
  for (size_t i = 0; i < 51; ++i) {
    EXPECT_EQ(s0[i], order[(2 * i) % 101]);
    EXPECT_EQ(s1[i], order[(2 * i + 1) % 101]);
  }
  std::set<int64_t> both(s0.begin(), s0.end());
  both.insert(s1.begin(), s1.end());
  EXPECT_EQ(both.size(), 101u);
}

TEST(Loader, AResumedPositionContinuesTheSameEpoch) {
  auto ds = indexed(250);
  for (int workers : {0, 2}) {
    Loader full(ds, opts(16, workers)), resumed(ds, opts(16, workers));
    const auto all = epoch_batches(full, 5);
    const auto rest = epoch_batches(resumed, 5, 6);
    ASSERT_EQ(rest.size(), all.size() - 6);
    for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i], all[i + 6]);
    // position() is the index of the batch next() returns: what a checkpoint stores.
    resumed.start_epoch(5, 3);
    EXPECT_EQ(resumed.position(), 3);
    resumed.next();
    EXPECT_EQ(resumed.position(), 4);
  }
}

TEST(Loader, ADatasetErrorReachesTheCaller) {
  struct Failing : smlab::datasets::Dataset {
    smlab::datasets::DatasetInfo info_;
    int64_t size() const override { return 64; }
    const smlab::datasets::DatasetInfo& info() const override { return info_; }
    Batch get(const std::vector<int64_t>& idx) const override {
      for (auto i : idx)
        if (i == 40) throw std::runtime_error("record 40 is corrupt");
      return {torch::zeros({static_cast<int64_t>(idx.size()), 1}), torch::zeros({static_cast<int64_t>(idx.size())})};
    }
  };
  for (int workers : {0, 2}) {
    auto o = opts(8, workers);
    o.shuffle = false;
    Loader loader(std::make_shared<Failing>(), o);
    loader.start_epoch(0);
    int ok = 0;
    try {
      while (loader.next()) ++ok;
      ADD_FAILURE() << "expected the dataset's error";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "record 40 is corrupt");
    }
    EXPECT_EQ(ok, 5) << workers << " workers";  // batches 0..4 hold samples 0..39
  }
}
