// The statistics behind the sweep tables, on inputs whose answers are known in closed form.
// tests/python/test_sweep_stats_oracle.py checks the same functions against scipy end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "analysis/stats.h"

namespace st = smlab::analysis::stats;

TEST(SweepStats, TQuantileInvertsTheCdfAndMatchesClosedForms) {
  // df = 1 is Cauchy: t_p = tan(pi (p - 1/2)); df = 2: t_p = (2p - 1) sqrt(2 / (4 p (1 - p))).
  EXPECT_NEAR(st::student_t_quantile(0.975, 1), std::tan(std::numbers::pi * 0.475), 1e-9);
  EXPECT_NEAR(st::student_t_quantile(0.975, 2), 0.95 * std::sqrt(2 / (4 * 0.975 * 0.025)), 1e-11);
  EXPECT_NEAR(st::student_t_quantile(0.025, 2), -0.95 * std::sqrt(2 / (4 * 0.975 * 0.025)), 1e-11);
  EXPECT_EQ(st::student_t_quantile(0.5, 7), 0.0);
  for (double df : {1.0, 3.0, 9.0, 29.0})
    for (double p : {0.6, 0.9, 0.975, 0.995}) EXPECT_NEAR(st::student_t_cdf(st::student_t_quantile(p, df), df), p, 1e-13);
  EXPECT_THROW(st::student_t_quantile(1.0, 3), std::invalid_argument);
}

TEST(SweepStats, TIntervalByHand) {
  // {1, 2, 3}: mean 2, sd 1, half-width t_{0.975,2} / sqrt(3).
  const auto ci = st::t_interval({1, 2, 3}, 0.95);
  const double half = st::student_t_quantile(0.975, 2) / std::sqrt(3.0);
  EXPECT_NEAR(ci.low, 2 - half, 1e-12);
  EXPECT_NEAR(ci.high, 2 + half, 1e-12);
  EXPECT_EQ(ci.method, "t");
  EXPECT_THROW(st::t_interval({1}, 0.95), std::invalid_argument);
}

TEST(SweepStats, PairedTTestByHand) {
  // d = {1, 2, 2}: mean 5/3, sd 1/sqrt(3), t = 5 on 2 df; P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2 for 2 df.
  const auto r = st::paired_t_test({1, 2, 3}, {0, 0, 1});
  EXPECT_EQ(r.n, 3);
  EXPECT_NEAR(r.mean_diff, 5.0 / 3, 1e-15);
  EXPECT_NEAR(r.t, 5, 1e-12);
  EXPECT_NEAR(r.p_two_sided, 1 - 5 / std::sqrt(27.0), 1e-12);
  EXPECT_NEAR(r.d_z, (5.0 / 3) * std::sqrt(3.0), 1e-12);
  // Every difference equal: no spread, so the test is decided by the sign alone.
  const auto same = st::paired_t_test({2, 3}, {1, 2});
  EXPECT_TRUE(std::isinf(same.t));
  EXPECT_EQ(same.p_two_sided, 0.0);
  EXPECT_EQ(st::paired_t_test({1, 2}, {1, 2}).p_two_sided, 1.0);
  EXPECT_THROW(st::paired_t_test({1}, {2}), std::invalid_argument);
}

TEST(SweepStats, SignFlipIsExactForSmallN) {
  // {1, 2, 3}: only the all-plus and all-minus patterns reach |sum| = 6, so p = 2/8.
  auto r = st::sign_flip_test({1, 2, 3});
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.patterns, 8);
  EXPECT_DOUBLE_EQ(r.p_two_sided, 0.25);
  // {1, -2, 3, 4}: |sum| = 6; the patterns with |s| >= 6 are +-(1,-2,3,4) = +-6, +-(1,2,3,4) = +-10 and
  // +-(-1,2,3,4) = +-8: 6 of 16.
  r = st::sign_flip_test({1, -2, 3, 4});
  EXPECT_DOUBLE_EQ(r.p_two_sided, 6.0 / 16);
  EXPECT_DOUBLE_EQ(st::sign_flip_test({0.5, 0.5, 0.5, 0.5, 0.5}).p_two_sided, 2.0 / 32);
  EXPECT_DOUBLE_EQ(st::sign_flip_test({1, -1}).p_two_sided, 1.0);
}

TEST(SweepStats, SignFlipMonteCarloAboveSixteenPairs) {
  std::vector<double> all_up(20, 1.0), balanced;
  for (int i = 0; i < 20; ++i) balanced.push_back(i % 2 ? 1.0 : -1.0);
  const auto r = st::sign_flip_test(all_up, 20000, 7);
  EXPECT_FALSE(r.exact);
  EXPECT_EQ(r.patterns, 20000);
  EXPECT_LT(r.p_two_sided, 3.0 / 20001);  // exact p is 2^-19; at most a couple of hits in 20000
  EXPECT_DOUBLE_EQ(st::sign_flip_test(balanced, 20000, 7).p_two_sided, 1.0);
  EXPECT_EQ(st::sign_flip_test(all_up, 20000, 7).p_two_sided, r.p_two_sided);  // seeded
}

TEST(SweepStats, HolmByHand) {
  // sorted 0.01, 0.03, 0.04, 0.2 -> 4*0.01, 3*0.03, max(0.09, 2*0.04), 0.2; back in input order.
  const auto adj = st::holm_adjust({0.01, 0.04, 0.03, 0.2});
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_NEAR(adj[0], 0.04, 1e-15);
  EXPECT_NEAR(adj[1], 0.09, 1e-15);
  EXPECT_NEAR(adj[2], 0.09, 1e-15);
  EXPECT_NEAR(adj[3], 0.2, 1e-15);
  EXPECT_DOUBLE_EQ(st::holm_adjust({0.6, 0.5})[0], 1.0);  // capped at 1
  EXPECT_TRUE(st::holm_adjust({}).empty());
}

TEST(SweepStats, BootstrapIsSeededAndUsedFromTenValues) {
  std::vector<double> v;
  for (int i = 0; i < 12; ++i) v.push_back(0.8 + 0.01 * ((i * 7) % 5));
  const auto a = st::bootstrap_interval(v, 0.95, 5000, 3), b = st::bootstrap_interval(v, 0.95, 5000, 3);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_LT(a.low, st::mean(v));
  EXPECT_GT(a.high, st::mean(v));
  EXPECT_GE(a.low, 0.8);
  EXPECT_LE(a.high, 0.84);
  EXPECT_EQ(st::mean_interval(v, 0.95).method, "bootstrap");
  EXPECT_EQ(st::mean_interval({1, 2, 3}, 0.95).method, "t");
}
