// Streaming metrics against values worked out by hand on small examples, plus streaming /
// state-merging invariants, a cross-check against the sklearn formulas written with torch ops,
// and the error messages for bad inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "trainers/metrics.h"

using smlab::metrics::ClassificationMetrics;
using smlab::metrics::RegressionMetrics;

namespace {

/// Logits that make `pred[n]` the argmax with a clear margin (5 vs 0).
torch::Tensor logits_for(const std::vector<int64_t>& pred, int64_t K) {
  auto x = torch::zeros({static_cast<int64_t>(pred.size()), K});
  for (size_t n = 0; n < pred.size(); ++n) x[n][pred[n]] = 5.0;
  return x;
}

torch::Tensor longs(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); }
torch::Tensor doubles(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); }

/// Expects `fn` to throw c10::Error whose message contains every one of `needles`.
template <typename Fn>
void expect_error_mentions(Fn&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected c10::Error";
  } catch (const c10::Error& e) {
    const std::string msg = e.what();
    for (const auto& s : needles) EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
  }
}

void expect_same_maps(const std::map<std::string, double>& a, const std::map<std::string, double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) {
    ASSERT_TRUE(b.count(k)) << k;
    if (std::isnan(v)) EXPECT_TRUE(std::isnan(b.at(k))) << k;
    else EXPECT_NEAR(v, b.at(k), tol) << k;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------

TEST(Metrics, ThreeClassConfusionByHand) {
  // targets: 0 0 0 0 1 1 2 2 2 2
  // preds:   0 0 0 1 1 2 2 0 0 2
  // Confusion (rows true, cols predicted):
  //        p0 p1 p2 | row sum (TP+FN)
  //   t0 [  3  1  0 ]  4
  //   t1 [  0  1  1 ]  2
  //   t2 [  2  0  2 ]  4
  //  col     5  2  3   (TP+FP)
  ClassificationMetrics m(3);
  m.update(logits_for({0, 0, 0, 1, 1, 2, 2, 0, 0, 2}, 3), longs({0, 0, 0, 0, 1, 1, 2, 2, 2, 2}));
  EXPECT_TRUE(torch::equal(m.confusion(), torch::tensor({3, 1, 0, 0, 1, 1, 2, 0, 2}, torch::kLong).view({3, 3})));
  EXPECT_EQ(m.confusion().scalar_type(), torch::kLong);

  auto r = m.compute();
  EXPECT_EQ(r["count"], 10);
  EXPECT_DOUBLE_EQ(r["top1"], 0.6);  // (3 + 1 + 2) / 10
  EXPECT_EQ(r.count("top5"), 0u);    // K = 3 < 5
  // precision = TP / col sum
  EXPECT_DOUBLE_EQ(r["precision/0"], 0.6);        // 3/5
  EXPECT_DOUBLE_EQ(r["precision/1"], 0.5);        // 1/2
  EXPECT_DOUBLE_EQ(r["precision/2"], 2.0 / 3.0);  // 2/3
  // recall = TP / row sum
  EXPECT_DOUBLE_EQ(r["recall/0"], 0.75);  // 3/4
  EXPECT_DOUBLE_EQ(r["recall/1"], 0.5);   // 1/2
  EXPECT_DOUBLE_EQ(r["recall/2"], 0.5);   // 2/4
  // F1 = 2PR/(P+R)
  EXPECT_NEAR(r["f1/0"], 0.6666666666666666, 1e-15);  // 2·0.6·0.75/1.35 = 0.9/1.35 = 2/3
  EXPECT_NEAR(r["f1/1"], 0.5, 1e-15);                 // 2·0.5·0.5/1.0
  EXPECT_NEAR(r["f1/2"], 0.5714285714285714, 1e-15);  // 2·(2/3)(1/2)/(7/6) = 4/7
  // macro = unweighted mean over the 3 classes
  EXPECT_NEAR(r["macro_precision"], 0.5888888888888889, 1e-15);  // (3/5 + 1/2 + 2/3)/3 = 53/90
  EXPECT_NEAR(r["macro_recall"], 0.5833333333333334, 1e-15);     // (3/4 + 1/2 + 1/2)/3 = 7/12
  EXPECT_NEAR(r["macro_f1"], 0.5793650793650794, 1e-15);         // (2/3 + 1/2 + 4/7)/3 = 73/126
  // Keys: top1, macro×3, {precision,recall,f1}/k ×9, ece, nll, count.
  EXPECT_EQ(r.size(), 1u + 3u + 9u + 3u);
}

TEST(Metrics, ClassNeverPredictedNorPresentScoresZero) {
  // targets: 0 1 1, preds: 0 1 0, K = 3 (class 2 neither occurs nor is predicted)
  //   t0 [1 0 0]   t1 [1 1 0]   t2 [0 0 0];  col sums 2 1 0, row sums 1 2 0
  ClassificationMetrics m(3);
  m.update(logits_for({0, 1, 0}, 3), longs({0, 1, 1}));
  auto r = m.compute();
  EXPECT_DOUBLE_EQ(r["precision/0"], 0.5);  // 1/2
  EXPECT_DOUBLE_EQ(r["precision/1"], 1.0);  // 1/1
  EXPECT_DOUBLE_EQ(r["precision/2"], 0.0);  // 0/0 -> 0 (zero_division = 0)
  EXPECT_DOUBLE_EQ(r["recall/0"], 1.0);     // 1/1
  EXPECT_DOUBLE_EQ(r["recall/1"], 0.5);     // 1/2
  EXPECT_DOUBLE_EQ(r["recall/2"], 0.0);     // 0/0 -> 0
  EXPECT_NEAR(r["f1/0"], 2.0 / 3.0, 1e-15);  // 2·0.5·1/1.5
  EXPECT_NEAR(r["f1/1"], 2.0 / 3.0, 1e-15);  // 2·1·0.5/1.5
  EXPECT_DOUBLE_EQ(r["f1/2"], 0.0);          // P + R = 0 -> 0
  EXPECT_NEAR(r["macro_precision"], 0.5, 1e-15);     // (0.5 + 1 + 0)/3
  EXPECT_NEAR(r["macro_recall"], 0.5, 1e-15);        // (1 + 0.5 + 0)/3
  EXPECT_NEAR(r["macro_f1"], 4.0 / 9.0, 1e-15);      // (2/3 + 2/3 + 0)/3
}

TEST(Metrics, EceTwoBinsFromProbabilitiesByHand) {
  // K = 3, B = 2 bins: [0, 0.5) and [0.5, 1].
  //   row                 target  conf  pred  correct  bin
  //   [0.4, 0.3, 0.3]       0     0.4    0      1       0
  //   [0.2, 0.45, 0.35]     2     0.45   1      0       0
  //   [0.9, 0.05, 0.05]     0     0.9    0      1       1
  //   [0.1, 0.7, 0.2]       0     0.7    1      0       1
  //   [0.2, 0.2, 0.6]       2     0.6    2      1       1
  // bin 0: |b| = 2, acc = 1/2, conf = (0.4 + 0.45)/2 = 0.425 -> (2/5)·|0.5 − 0.425| = 0.03
  // bin 1: |b| = 3, acc = 2/3, conf = (0.9 + 0.7 + 0.6)/3 = 2.2/3 -> (3/5)·|2/3 − 2.2/3| = 0.2/5 = 0.04
  // ECE = 0.07
  auto p = doubles({0.4, 0.3, 0.3, 0.2, 0.45, 0.35, 0.9, 0.05, 0.05, 0.1, 0.7, 0.2, 0.2, 0.2, 0.6}).view({5, 3});
  auto t = longs({0, 2, 0, 0, 2});
  ClassificationMetrics m(3, /*ece_bins=*/2);
  m.update(p, t);
  auto r = m.compute();
  EXPECT_NEAR(r["ece"], 0.07, 1e-12);
  EXPECT_DOUBLE_EQ(r["top1"], 0.6);  // 3 of 5 correct
  // nll = −(ln 0.4 + ln 0.35 + ln 0.9 + ln 0.1 + ln 0.6)/5
  //     = (0.916291 + 1.049822 + 0.105361 + 2.302585 + 0.510826)/5 = 4.884885/5
  EXPECT_NEAR(r["nll"], 0.976977, 1e-6);

  // The same probabilities in float32 are still read as probabilities (row sums within 1e-3).
  ClassificationMetrics m32(3, 2);
  m32.update(p.to(torch::kFloat), t);
  EXPECT_NEAR(m32.compute()["ece"], 0.07, 1e-6);

  // log-probabilities given as logits are softmaxed back to the same probabilities.
  ClassificationMetrics mlog(3, 2);
  mlog.update(p.log(), t);
  expect_same_maps(mlog.compute(), r, 1e-12);
}

TEST(Metrics, EceAndNllFromLogitsAreSoftmaxed) {
  // K = 2, B = 2.
  //   logits [ln 3, 0] -> softmax [0.75, 0.25], target 0: correct, conf 0.75
  //   logits [0, ln 4] -> softmax [0.2, 0.8],   target 0: wrong,   conf 0.8
  // Both in bin 1 ([0.5, 1]): acc = 1/2, conf = (0.75 + 0.8)/2 = 0.775 -> ECE = |0.5 − 0.775| = 0.275
  // nll = −(ln 0.75 + ln 0.2)/2 = (0.287682 + 1.609438)/2 = 0.948560
  auto x = doubles({std::log(3.0), 0.0, 0.0, std::log(4.0)}).view({2, 2});
  ClassificationMetrics m(2, 2);
  m.update(x, longs({0, 0}));
  auto r = m.compute();
  EXPECT_NEAR(r["ece"], 0.275, 1e-12);
  EXPECT_NEAR(r["nll"], 0.948560, 1e-6);
  EXPECT_DOUBLE_EQ(r["top1"], 0.5);
}

TEST(Metrics, Top5OnSixClasses) {
  // K = 6: top-5 leaves out exactly the lowest-scoring class.
  //   [6 5 4 3 2 1] target 5 (lowest)   top1 miss, top5 miss
  //   [6 5 4 3 2 1] target 4 (5th)      top1 miss, top5 hit
  //   [6 5 4 3 2 1] target 0 (1st)      top1 hit,  top5 hit
  //   [1 2 3 4 5 6] target 0 (lowest)   top1 miss, top5 miss
  // top1 = 1/4, top5 = 2/4
  auto down = torch::arange(6, 0, -1, torch::kFloat);
  auto x = torch::stack({down, down, down, down.flip(0)});
  ClassificationMetrics m(6);
  m.update(x, longs({5, 4, 0, 0}));
  auto r = m.compute();
  EXPECT_DOUBLE_EQ(r["top1"], 0.25);
  ASSERT_EQ(r.count("top5"), 1u);
  EXPECT_DOUBLE_EQ(r["top5"], 0.5);
}

TEST(Metrics, TargetsMayBeInt32AndEmptyBatchesAreNoOps) {
  ClassificationMetrics a(3), b(3);
  auto x = logits_for({0, 1, 2, 2}, 3);
  a.update(x, longs({0, 1, 1, 2}));
  b.update(x, longs({0, 1, 1, 2}).to(torch::kInt));
  b.update(torch::zeros({0, 3}), torch::zeros({0}, torch::kLong));
  expect_same_maps(a.compute(), b.compute(), 0);
}

TEST(Metrics, EmptyAccumulatorReportsNaN) {
  ClassificationMetrics m(5);
  auto r = m.compute();
  EXPECT_EQ(r["count"], 0);
  EXPECT_TRUE(std::isnan(r["top1"]));
  EXPECT_TRUE(std::isnan(r["top5"]));
  EXPECT_TRUE(std::isnan(r["macro_f1"]));
  m.update(logits_for({1}, 5), longs({1}));
  EXPECT_DOUBLE_EQ(m.compute()["top1"], 1.0);
  m.reset();
  EXPECT_EQ(m.compute()["count"], 0);
  EXPECT_EQ(m.confusion().sum().item<int64_t>(), 0);
}

TEST(Metrics, ClassificationStreamingHalvesEqualOneUpdate) {
  torch::manual_seed(3);
  const int64_t N = 101, K = 7;
  auto x = torch::randn({N, K}) * 3;
  auto t = torch::randint(0, K, {N}, torch::kLong);
  ClassificationMetrics whole(K, 10), halves(K, 10);
  whole.update(x, t);
  halves.update(x.slice(0, 0, 50), t.slice(0, 0, 50));
  halves.update(x.slice(0, 50), t.slice(0, 50));
  expect_same_maps(whole.compute(), halves.compute(), 1e-12);
  EXPECT_TRUE(torch::equal(whole.confusion(), halves.confusion()));
}

TEST(Metrics, ClassificationSummedStatesEqualUnion) {
  torch::manual_seed(4);
  const int64_t K = 6;
  auto x1 = torch::randn({40, K}), x2 = torch::randn({23, K});
  auto t1 = torch::randint(0, K, {40}, torch::kLong), t2 = torch::randint(0, K, {23}, torch::kLong);
  ClassificationMetrics rank0(K), rank1(K), all(K), merged(K);
  rank0.update(x1, t1);
  rank1.update(x2, t2);
  all.update(torch::cat({x1, x2}), torch::cat({t1, t2}));
  auto s = rank0.state() + rank1.state();  // what an all-reduce SUM does
  EXPECT_EQ(s.scalar_type(), torch::kDouble);
  EXPECT_EQ(s.numel(), 3 + K * K + 3 * 15);
  merged.load_state(s);
  expect_same_maps(merged.compute(), all.compute(), 1e-12);
  EXPECT_TRUE(torch::equal(merged.confusion(), all.confusion()));
  // state() is a copy: changing it does not change the accumulator.
  auto copy = all.state();
  copy.zero_();
  EXPECT_EQ(all.compute()["count"], 63);
}

TEST(Metrics, ClassificationMatchesSklearnFormulasWithTorchOps) {
  torch::manual_seed(5);
  const int64_t N = 500, K = 5, B = 8;
  auto x = torch::randn({N, K}) * 2;
  auto t = torch::randint(0, K, {N}, torch::kLong);
  ClassificationMetrics m(K, B);
  m.update(x, t);
  auto r = m.compute();

  auto pred = x.argmax(1);
  double mp = 0, mr = 0, mf = 0;
  for (int64_t k = 0; k < K; ++k) {
    const double tp = ((pred == k) & (t == k)).sum().item<double>();
    const double np = (pred == k).sum().item<double>(), nt = (t == k).sum().item<double>();
    const double p = np > 0 ? tp / np : 0, rc = nt > 0 ? tp / nt : 0;
    const double f = 2 * tp / (np + nt);  // sklearn's F1 = 2TP / (2TP + FP + FN)
    EXPECT_NEAR(r["precision/" + std::to_string(k)], p, 1e-12);
    EXPECT_NEAR(r["recall/" + std::to_string(k)], rc, 1e-12);
    EXPECT_NEAR(r["f1/" + std::to_string(k)], f, 1e-12);
    mp += p / K, mr += rc / K, mf += f / K;
  }
  EXPECT_NEAR(r["macro_precision"], mp, 1e-12);
  EXPECT_NEAR(r["macro_recall"], mr, 1e-12);
  EXPECT_NEAR(r["macro_f1"], mf, 1e-12);
  EXPECT_NEAR(r["top1"], (pred == t).to(torch::kDouble).mean().item<double>(), 1e-12);
  EXPECT_NEAR(r["nll"], torch::nll_loss(torch::log_softmax(x.to(torch::kDouble), 1), t).item<double>(), 1e-12);

  // ECE via an explicit loop over bins.
  auto prob = torch::softmax(x.to(torch::kDouble), 1);
  auto conf = std::get<0>(prob.max(1));
  auto correct = (pred == t).to(torch::kDouble);
  double ece = 0;
  for (int64_t b = 0; b < B; ++b) {
    auto in = (conf >= double(b) / B) & (conf < double(b + 1) / B);
    if (b == B - 1) in = in | (conf == 1.0);
    const double nb = in.sum().item<double>();
    if (nb == 0) continue;
    ece += nb / N * std::abs(correct.masked_select(in).mean().item<double>() - conf.masked_select(in).mean().item<double>());
  }
  EXPECT_NEAR(r["ece"], ece, 1e-12);
}

TEST(Metrics, ClassificationBadInputsNameTheProblem) {
  ClassificationMetrics m(5);
  expect_error_mentions([&] { m.update(torch::zeros({4, 3}), longs({0, 1, 2, 3})); }, {"[4, 3]", "num_classes = 5"});
  expect_error_mentions([&] { m.update(torch::zeros({4, 5}), longs({0, 1, 2})); }, {"[4, 5]", "[3]"});
  expect_error_mentions([&] { m.update(torch::zeros({3, 5}), longs({0, 7, 2})); },
                        {"target value 7 at index 1", "num_classes = 5"});
  expect_error_mentions([&] { m.update(torch::zeros({2, 5}), longs({0, -1})); }, {"target value -1 at index 1"});
  expect_error_mentions([&] { m.update(torch::zeros({2, 5}), torch::zeros({2})); }, {"integer", "Float"});
  expect_error_mentions([&] { m.update(torch::zeros({2, 5}, torch::kLong), longs({0, 1})); }, {"floating-point", "Long"});
  auto nan = torch::zeros({2, 5});
  nan[1][2] = NAN;
  expect_error_mentions([&] { m.update(nan, longs({0, 1})); }, {"1 NaN"});
  expect_error_mentions([&] { m.load_state(torch::zeros({7}, torch::kDouble)); }, {"[73]", "[7]"});
  expect_error_mentions([] { ClassificationMetrics bad(0); }, {"num_classes", "0"});
  // Nothing was added by the failed calls.
  EXPECT_EQ(m.compute()["count"], 0);
}

// ---------------------------------------------------------------------------
// Regression
// ---------------------------------------------------------------------------

TEST(Metrics, RegressionFourPointsByHand) {
  // y      = [ 1,  2, -4,  0]
  // ŷ      = [ 2,  2, -2,  1]
  // naive  = [ 0,  1, -1,  2]
  // |y−ŷ|  = [ 1,  0,  2,  1]            MAE = 4/4 = 1
  // (y−ŷ)² = [ 1,  0,  4,  1]            RMSE = sqrt(6/4) = 1.224744871391589
  // ȳ = −1/4; SS_tot = 1.25² + 2.25² + 3.75² + 0.25² = 20.75; R² = 1 − 6/20.75 = 59/83 = 0.710843373493976
  // MAPE: y = 0 skipped; (1/1 + 0/2 + 2/4)/3 = 0.5
  // sMAPE: 2·1/(1+2) + 0/4 + 2·2/(4+2) + 2·1/(0+1) = 2/3 + 0 + 2/3 + 2 = 10/3; /4 = 5/6
  // MASE: |y−naive| = [1, 1, 3, 2] -> MAE(naive) = 7/4; MASE = 1/(7/4) = 4/7
  RegressionMetrics m;
  m.update(doubles({2, 2, -2, 1}), doubles({1, 2, -4, 0}), doubles({0, 1, -1, 2}));
  auto r = m.compute();
  EXPECT_EQ(r["count"], 4);
  EXPECT_DOUBLE_EQ(r["mae"], 1.0);
  EXPECT_NEAR(r["rmse"], 1.224744871391589, 1e-15);
  EXPECT_NEAR(r["r2"], 0.710843373493976, 1e-14);
  EXPECT_DOUBLE_EQ(r["mape"], 0.5);
  EXPECT_EQ(r["mape_skipped"], 1);
  EXPECT_NEAR(r["smape"], 0.8333333333333334, 1e-15);
  EXPECT_NEAR(r["mase"], 0.5714285714285714, 1e-15);
  EXPECT_EQ(r.size(), 8u);

  // Without a naive forecast there is no "mase"; float32 inputs give the same values.
  RegressionMetrics f;
  f.update(torch::tensor({2.f, 2.f, -2.f, 1.f}), torch::tensor({1.f, 2.f, -4.f, 0.f}));
  auto rf = f.compute();
  EXPECT_EQ(rf.count("mase"), 0u);
  EXPECT_NEAR(rf["r2"], 0.710843373493976, 1e-14);
  EXPECT_NEAR(rf["smape"], 0.8333333333333334, 1e-15);
}

TEST(Metrics, RegressionZeroCasesAndConstantTargets) {
  // y = [0, 1, 0, 3], ŷ = [0, 1, 2, 3]: sMAPE terms 0 (both zero), 0, 2·2/(0+2) = 2, 0 -> 2/4 = 0.5
  // MAPE skips both zeros: (0/1 + 0/3)/2 = 0, mape_skipped = 2
  RegressionMetrics m;
  m.update(doubles({0, 1, 2, 3}), doubles({0, 1, 0, 3}));
  auto r = m.compute();
  EXPECT_DOUBLE_EQ(r["smape"], 0.5);
  EXPECT_DOUBLE_EQ(r["mape"], 0.0);
  EXPECT_EQ(r["mape_skipped"], 2);

  // Constant targets: SS_tot = 0 -> sklearn's rule, 1 for a perfect fit and 0 otherwise.
  RegressionMetrics perfect, off;
  perfect.update(doubles({0.1, 0.1, 0.1, 0.1}), doubles({0.1, 0.1, 0.1, 0.1}));
  off.update(doubles({0.1, 0.2, 0.1, 0.1}), doubles({0.1, 0.1, 0.1, 0.1}));
  EXPECT_EQ(perfect.compute()["r2"], 1.0);
  EXPECT_EQ(off.compute()["r2"], 0.0);

  // All targets zero: MAPE has nothing to average.
  RegressionMetrics zeros;
  zeros.update(doubles({1, 2}), doubles({0, 0}));
  EXPECT_TRUE(std::isnan(zeros.compute()["mape"]));
  EXPECT_EQ(zeros.compute()["mape_skipped"], 2);

  RegressionMetrics empty;
  EXPECT_EQ(empty.compute()["count"], 0);
  EXPECT_TRUE(std::isnan(empty.compute()["mae"]));
}

TEST(Metrics, RegressionStreamingAndSummedStatesEqualUnion) {
  torch::manual_seed(6);
  auto y = torch::randn({6, 20}) * 4 + 1, yh = y + torch::randn({6, 20}), nv = y + 2 * torch::randn({6, 20});
  RegressionMetrics whole, halves, r0, r1, merged;
  whole.update(yh, y, nv);
  halves.update(yh.slice(0, 0, 3), y.slice(0, 0, 3), nv.slice(0, 0, 3));
  halves.update(yh.slice(0, 3), y.slice(0, 3), nv.slice(0, 3));
  expect_same_maps(whole.compute(), halves.compute(), 1e-12);

  r0.update(yh.slice(0, 0, 2), y.slice(0, 0, 2), nv.slice(0, 0, 2));
  r1.update(yh.slice(0, 2), y.slice(0, 2), nv.slice(0, 2));
  merged.load_state(r0.state() + r1.state());
  expect_same_maps(whole.compute(), merged.compute(), 1e-12);

  // Cross-check against the direct formulas.
  auto yd = y.to(torch::kDouble), e = yd - yh.to(torch::kDouble);
  auto r = whole.compute();
  EXPECT_NEAR(r["mae"], e.abs().mean().item<double>(), 1e-12);
  EXPECT_NEAR(r["rmse"], e.pow(2).mean().sqrt().item<double>(), 1e-12);
  EXPECT_NEAR(r["r2"], 1 - e.pow(2).sum().item<double>() / (yd - yd.mean()).pow(2).sum().item<double>(), 1e-12);
  EXPECT_NEAR(r["mase"], e.abs().mean().item<double>() / (yd - nv.to(torch::kDouble)).abs().mean().item<double>(),
              1e-12);
}

TEST(Metrics, MaseCountsOnlyPointsWithNaiveForecast) {
  // Batch 1 with naive: |e| = [1, 1], |y−naive| = [2, 2]; batch 2 without naive: |e| = [10].
  // MASE = (1 + 1)/(2 + 2) = 0.5 (batch 2 is not part of it); MAE = (1 + 1 + 10)/3 = 4.
  RegressionMetrics m;
  m.update(doubles({1, 1}), doubles({0, 0}), doubles({2, -2}));
  m.update(doubles({10}), doubles({0}));
  auto r = m.compute();
  EXPECT_DOUBLE_EQ(r["mase"], 0.5);
  EXPECT_DOUBLE_EQ(r["mae"], 4.0);
}

TEST(Metrics, RegressionBadInputsNameTheProblem) {
  RegressionMetrics m;
  expect_error_mentions([&] { m.update(torch::zeros({3}), torch::zeros({4})); }, {"[3]", "[4]"});
  expect_error_mentions([&] { m.update(torch::zeros({2, 2}), torch::zeros({2, 2}), torch::zeros({4})); },
                        {"[2, 2]", "[4]"});
  expect_error_mentions([&] { m.update(torch::zeros({2}, torch::kLong), torch::zeros({2})); }, {"floating-point", "Long"});
  expect_error_mentions([&] { m.update(doubles({1, NAN}), doubles({1, 2})); }, {"1 NaN or infinite"});
  expect_error_mentions([&] { m.load_state(torch::zeros({12}, torch::kFloat)); }, {"[12]", "Float"});
  EXPECT_EQ(m.compute()["count"], 0);
}
