// Statistics, clustering and anomaly scoring against values worked out by hand or in closed
// form: Student t CDF (df 1, 2, 3 closed forms; a tabulated quantile), Welch's t-test (by hand;
// p-values from numerical integration of the t density), k-means and silhouette on a 1-D toy,
// the elbow rule, residual robust z-scores, hit counting and the NAB score; plus the
// lstm_forecaster trace check (traced at batch 2, run at batch 3).
#include <gtest/gtest.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>

#include <cmath>
#include <numbers>

#include "core/config.h"
#include "models/model.h"
#include "analysis/anomaly.h"
#include "analysis/kmeans.h"
#include "analysis/stats.h"

using namespace smlab;

TEST(Stats, StudentTCdfMatchesClosedForms) {
  const double pi = std::numbers::pi;
  for (double t : {-7.5, -2.0, -0.3, 0.0, 0.4, 1.0, 3.7, 40.0}) {
    EXPECT_NEAR(analysis::stats::student_t_cdf(t, 1), 0.5 + std::atan(t) / pi, 1e-12) << t;                    // Cauchy
    EXPECT_NEAR(analysis::stats::student_t_cdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-12) << t;        // df 2
    const double u = t / std::sqrt(3.0);
    EXPECT_NEAR(analysis::stats::student_t_cdf(t, 3), 0.5 + (u / (1 + u * u) + std::atan(u)) / pi, 1e-12) << t;  // df 3
  }
  // tabulated two-sided 5% point of t with 10 df: 2.228138851986
  EXPECT_NEAR(analysis::stats::student_t_cdf(2.228138851986, 10), 0.975, 1e-12);
  EXPECT_NEAR(analysis::stats::incomplete_beta(2, 3, 0.4), 0.5248, 1e-12);  // I_x(2,3) = 6x^2 - 8x^3 + 3x^4 at 0.4
  EXPECT_EQ(analysis::stats::student_t_cdf(INFINITY, 4), 1.0);
  EXPECT_THROW(analysis::stats::incomplete_beta(1, 1, 1.5), std::invalid_argument);
}

TEST(Stats, WelchTTestByHand) {
  // a = {1,2,3,4}: mean 2.5, var 5/3; b = {2,4,6,8,10}: mean 6, var 10
  // t = (2.5 - 6) / sqrt(5/12 + 2) = -2.2514363231593695
  // df = (5/12 + 2)^2 / ((5/12)^2/3 + 2^2/4) = 5.520787746170677
  const auto r = analysis::stats::welch_t_test({1, 2, 3, 4}, {2, 4, 6, 8, 10});
  EXPECT_DOUBLE_EQ(r.mean_a, 2.5);
  EXPECT_DOUBLE_EQ(r.mean_b, 6.0);
  EXPECT_NEAR(r.var_a, 5.0 / 3, 1e-15);
  EXPECT_NEAR(r.var_b, 10.0, 1e-15);
  EXPECT_NEAR(r.t, -2.2514363231593695, 1e-13);
  EXPECT_NEAR(r.df, 5.520787746170677, 1e-12);
  // p-values from Simpson integration (2e6 panels) of the t density with df = 5.5208 (Python, stdlib)
  EXPECT_NEAR(r.p_two_sided, 0.06913359319238982, 1e-9);
  EXPECT_NEAR(r.p_greater, 0.9654332034038051, 1e-9);
  // swapping the samples flips t and the one-sided p
  const auto s = analysis::stats::welch_t_test({2, 4, 6, 8, 10}, {1, 2, 3, 4});
  EXPECT_NEAR(s.t, 2.2514363231593695, 1e-13);
  EXPECT_NEAR(s.p_greater, 0.03456679659619491, 1e-9);
  // zero variance in both samples: infinite t
  const auto z = analysis::stats::welch_t_test({5, 5, 5}, {1, 1});
  EXPECT_TRUE(std::isinf(z.t));
  EXPECT_EQ(z.p_greater, 0.0);
  EXPECT_THROW(analysis::stats::welch_t_test({1}, {1, 2}), std::invalid_argument);
}

TEST(Cluster, LloydAndSilhouetteOnAOneDimensionalToy) {
  // points 0, 1, 10, 11; start from centroids 0 and 1:
  //   step 1: labels 0,1,1,1 -> centroids 0, 22/3;  step 2: labels 0,0,1,1 -> centroids 0.5, 10.5;  step 3: stable
  const auto x = torch::tensor({0.0, 1.0, 10.0, 11.0}, torch::kDouble).view({4, 1});
  const auto r = analysis::cluster::lloyd(x, torch::tensor({0.0, 1.0}, torch::kDouble).view({2, 1}), 100, 0.0);
  EXPECT_EQ(r.iterations, 3);
  EXPECT_TRUE(torch::equal(r.labels, torch::tensor({0, 0, 1, 1}, torch::kLong)));
  EXPECT_NEAR(r.centroids[0][0].item<double>(), 0.5, 1e-15);
  EXPECT_NEAR(r.centroids[1][0].item<double>(), 10.5, 1e-15);
  EXPECT_NEAR(r.inertia, 1.0, 1e-12);  // 4 * 0.5^2
  // silhouette: a = 1 for every point; b = 10.5 (points 0 and 11) or 9.5 (points 1 and 10)
  const auto s = analysis::cluster::silhouette_samples(x, r.labels, 2, /*chunk=*/3);  // chunk 3 exercises the blocks
  EXPECT_NEAR(s[0].item<double>(), 1 - 1 / 10.5, 1e-12);
  EXPECT_NEAR(s[1].item<double>(), 1 - 1 / 9.5, 1e-12);
  EXPECT_NEAR(s[2].item<double>(), 1 - 1 / 9.5, 1e-12);
  EXPECT_NEAR(s[3].item<double>(), 1 - 1 / 10.5, 1e-12);
  EXPECT_NEAR(analysis::cluster::silhouette(x, r.labels, 2), (19.0 / 21 + 17.0 / 19) / 2, 1e-12);
  // a singleton cluster scores 0: {0,1} | {10} | {11}: s = (1 - 1/10), (1 - 1/9), 0, 0 ... per definition
  const auto s3 = analysis::cluster::silhouette_samples(x, torch::tensor({0, 0, 1, 2}, torch::kLong), 3);
  EXPECT_NEAR(s3[0].item<double>(), 1 - 1.0 / 10, 1e-12);  // a = 1, b = min(10, 11)
  EXPECT_NEAR(s3[1].item<double>(), 1 - 1.0 / 9, 1e-12);   // a = 1, b = min(9, 10)
  EXPECT_EQ(s3[2].item<double>(), 0.0);
  EXPECT_EQ(s3[3].item<double>(), 0.0);
}

TEST(Cluster, KMeansFindsSeparatedBlobsReproducibly) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto centres = torch::tensor({0.0, 0.0, 8.0, 0.0, 0.0, 8.0}, torch::kDouble).view({3, 2});
  const auto truth = torch::arange(300, torch::kLong) % 3;
  const auto x = centres.index_select(0, truth) + 0.5 * torch::randn({300, 2}, gen, torch::kDouble);
  analysis::cluster::KMeansOptions o;
  o.k = 3;
  o.n_init = 4;
  o.seed = 1;
  const auto a = analysis::cluster::kmeans(x, o), b = analysis::cluster::kmeans(x, o);
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  EXPECT_EQ(a.inertia, b.inertia);
  // each found cluster is exactly one true blob
  for (int64_t c = 0; c < 3; ++c) {
    const auto members = truth.index({a.labels == c});
    ASSERT_EQ(members.numel(), 100);
    EXPECT_TRUE((members == members[0]).all().item<bool>());
  }
  // a Lloyd fixed point: every point is nearest to its own centroid
  const auto d = torch::cdist(x, a.centroids);
  EXPECT_TRUE(torch::equal(d.argmin(1), a.labels));
  EXPECT_GT(analysis::cluster::silhouette(x, a.labels, 3), 0.8);
  EXPECT_THROW(analysis::cluster::kmeans(x.slice(0, 0, 2), o), std::invalid_argument);
}

TEST(Cluster, ElbowIsThePointFarthestBelowTheChord) {
  // normalised: k 2..6 -> u 0, .25, .5, .75, 1; inertia 100, 40, 30, 25, 20 -> v 1, .25, .125, .0625, 0
  // gap = (1 - u) - v: 0, .5, .375, .1875, 0 -> k = 3
  EXPECT_EQ(analysis::cluster::elbow({2, 3, 4, 5, 6}, {100, 40, 30, 25, 20}), 3);
  EXPECT_EQ(analysis::cluster::elbow({2, 3, 4, 5, 6}, {100, 90, 80, 30, 20}), 5);
  EXPECT_EQ(analysis::cluster::elbow({2, 3}, {10, 5}), 2);
}

TEST(Anomaly, RobustZScoresByHand) {
  analysis::anomaly::ScoreOptions o;
  o.window = 4;
  o.min_count = 3;
  o.min_scale = 1e-9;
  const double nan = std::nan("");
  const auto s = analysis::anomaly::residual_scores({1, 2, 3, 4, 10, nan, -6}, o);
  EXPECT_TRUE(std::isnan(s[0]) && std::isnan(s[1]) && std::isnan(s[2]));  // fewer than 3 before
  // scale = max(1.4826 MAD, 1.2533 mean |dev|, min_scale)
  EXPECT_NEAR(s[3], 2.0 / 1.4826, 1e-12);   // before: 1,2,3 -> median 2, MAD 1, mean |dev| 2/3
  EXPECT_NEAR(s[4], 7.5 / 1.4826, 1e-12);   // before: 1,2,3,4 -> median 2.5, MAD 1, mean |dev| 1
  EXPECT_TRUE(std::isnan(s[5]));            // no residual, no score
  // window r[2..5] = 3,4,10,NaN -> 3,4,10: median 4, MAD 1, mean |dev| 7/3 (the larger)
  EXPECT_NEAR(s[6], 10.0 / (1.2533 * 7 / 3), 1e-12);
  // MAD 0 (most residuals equal): the mean absolute deviation sets the scale
  o.window = 5;
  const auto flat = analysis::anomaly::residual_scores({0, 0, 0, 0, 1, 5}, o);
  EXPECT_NEAR(flat[5], 5.0 / (1.2533 * 0.2), 1e-12);  // before: 0,0,0,0,1 -> median 0, MAD 0, mean |dev| 0.2
  EXPECT_DOUBLE_EQ(flat[4], 1.0 / 1e-9);  // the four before are all 0: both scales are 0, min_scale (1e-9) holds
  o.window = 4;
  o.one_sided = true;
  const auto one = analysis::anomaly::residual_scores({1, 2, 3, 4, 10, nan, -6}, o);
  EXPECT_EQ(one[6], 0.0);
  EXPECT_NEAR(one[4], s[4], 1e-15);
}

TEST(Anomaly, HitStatsByHand) {
  const double nan = std::nan("");
  // windows [2,4] and [8,9]; flags (>= 5) at 3, 6, 7 and 11
  const std::vector<double> s = {nan, 1, 1, 6, 1, 1, 9, 7, 1, 1, 1, 5};
  const auto h = analysis::anomaly::hit_stats(s, {{2, 4}, {8, 9}}, 5.0);
  EXPECT_EQ(h.windows, 2);
  EXPECT_EQ(h.hit, 1);
  EXPECT_EQ(h.first_flag, (std::vector<int64_t>{3, -1}));
  EXPECT_EQ(h.scored, 11);
  EXPECT_EQ(h.outside, 6);  // 1, 5, 6, 7, 10, 11
  EXPECT_EQ(h.flagged_outside, 3);
  EXPECT_EQ(h.alarm_events, 2);  // {6,7} and {11}
  EXPECT_DOUBLE_EQ(h.false_alarm_rate(), 0.5);
  const auto tail = analysis::anomaly::hit_stats(s, {{2, 4}, {8, 9}}, 5.0, 5);  // only points 5..11
  EXPECT_EQ(tail.windows, 1);
  EXPECT_EQ(tail.hit, 0);
}

TEST(Anomaly, RefractoryDetections) {
  const double nan = std::nan("");
  const std::vector<double> s = {6, 7, nan, 1, 9, 1, 1, 8, 6};
  EXPECT_EQ(analysis::anomaly::detections(s, 5), (std::vector<bool>{1, 1, 0, 0, 1, 0, 0, 1, 1}));
  // refractory 3: after a flag at t, nothing at t+1..t+3
  EXPECT_EQ(analysis::anomaly::detections(s, 5, 3), (std::vector<bool>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  const auto h = analysis::anomaly::hit_stats(s, {{4, 5}}, 5, 0, -1, 3);
  EXPECT_EQ(h.hit, 1);
  EXPECT_EQ(h.flagged_outside, 2);  // t = 0 and t = 8
}

TEST(Anomaly, NabScoreFollowsTheSweeperRules) {
  // 100 points: probation = min(floor(15), 750) = 15; one window [40, 49] (width 10).
  auto sig = [](double pos) { return 2.0 / (1.0 + std::exp(5.0 * pos)) - 1.0; };
  EXPECT_NEAR(analysis::anomaly::nab_scaled_sigmoid(-1.0), 0.9866142981514303, 1e-15);
  EXPECT_EQ(analysis::anomaly::nab_scaled_sigmoid(0.0), 0.0);
  EXPECT_EQ(analysis::anomaly::nab_scaled_sigmoid(3.0), -1.0);
  std::vector<double> s(100, 0.0);
  const std::vector<analysis::anomaly::Window> w = {{40, 49}};
  EXPECT_DOUBLE_EQ(analysis::anomaly::nab_score(s, w, 1.0), -1.0);  // missed window: -fn
  s[10] = 1;  // in probation: ignored
  s[45] = 1;  // in the window: position -(49 - 45 + 1)/10 = -0.5, weight sig(-0.5)/sig(-1)
  s[47] = 1;  // later detection in the same window: only the best (earliest) counts
  s[52] = 1;  // 3 points after the window: position 3/9, fp * sig(1/3)
  s[80] = 1;  // far after: position 31/9 >= 3 -> -fp
  const double expect = sig(-0.5) / sig(-1.0) + 0.11 * sig(3.0 / 9) - 0.11;
  EXPECT_NEAR(analysis::anomaly::nab_score(s, w, 1.0), expect, 1e-12);
  // before any window a false positive costs the full -fp
  std::vector<double> early(100, 0.0);
  early[20] = 1;
  EXPECT_NEAR(analysis::anomaly::nab_score(early, w, 1.0), -1.0 - 0.11, 1e-12);
  EXPECT_EQ(analysis::anomaly::nab_window_count(100, w), 1);
  EXPECT_EQ(analysis::anomaly::nab_window_count(100, {{2, 9}}), 0);  // entirely in probation
}

namespace {

/// Traces `model` at `x2` (parameters frozen as constants) and returns the graph's output at `x3`.
torch::Tensor run_trace(models::Model& model, const torch::Tensor& x2, const torch::Tensor& x3) {
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  torch::NoGradGuard ng;
  auto traced = torch::jit::tracer::trace(
      {x2}, [&](torch::jit::Stack in) -> torch::jit::Stack { return {model.forward(in.at(0).toTensor())}; },
      [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/true);
  torch::jit::GraphExecutor exec(traced.first->graph, "forward");
  torch::jit::Stack st{x3};
  exec.run(st);
  return st.at(0).toTensor();
}

}  // namespace

TEST(LstmForecaster, TracedAtBatchTwoRunsAtBatchThree) {
  for (const char* cell : {"lstm", "gru"}) {
    const auto cfg = config::load_string(std::string("model:\n  name: lstm_forecaster\n  cell: ") + cell +
                                             "\n  hidden: 8\n  layers: 2\n  head_hidden: 4\n",
                                         "mem.yaml");
    datasets::DatasetInfo info;
    info.task = datasets::Task::Regression;
    info.output_dim = 2;
    info.input_shape = {6, 5};
    torch::manual_seed(0);
    auto model = models::build(cfg, info);
    model->eval();
    {  // a non-zero highway so that both paths matter
      torch::NoGradGuard ng;
      for (auto& p : model->named_parameters())
        if (p.key().rfind("highway", 0) == 0) p.value().normal_(0, 0.1);
    }
    const auto x2 = torch::randn({2, 6, 5}), x3 = torch::randn({3, 6, 5});
    torch::Tensor eager;
    {
      torch::NoGradGuard ng;
      eager = model->forward(x3);
    }
    const auto traced = run_trace(*model, x2, x3);
    ASSERT_EQ(traced.sizes(), (std::vector<int64_t>{3, 2})) << cell;
    EXPECT_TRUE(torch::allclose(traced, eager, 1e-5, 1e-6)) << cell;
    EXPECT_EQ(models::input_kind("lstm_forecaster"), models::InputKind::Series);
  }
}
