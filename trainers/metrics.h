// Streaming evaluation metrics for the trainer: classification (top-k, per-class and macro
// precision / recall / F1, confusion matrix, ECE, NLL) and regression / forecasting (MAE, RMSE,
// R², MAPE, sMAPE, MASE).
//
// Both accumulators keep only additive sufficient statistics in float64, so that
//   * update() can be called batch by batch and gives the same result as one call on the union;
//   * state() of several accumulators (e.g. one per distributed rank) can be summed element-wise
//     (an all-reduce SUM) and load_state() back into any of them to get the metrics of the union.
// Inputs may live on any device; the per-batch reductions run there and one small float64 vector
// comes back to the CPU per update().
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

namespace smlab::metrics {

/// Streaming classification metrics. update() takes logits or probabilities [N,K] (float) and
/// integer targets [N].
///
/// A batch is read as probabilities when all its values are in [0,1] and every row sums to 1
/// (within 1e-3); otherwise it is read as logits and softmaxed. Top-1 is the argmax (the first
/// index on ties), top-5 counts a hit when the target is among the 5 largest scores.
///
/// ECE uses `ece_bins` equal-width bins over the confidence (max softmax probability):
/// bin b holds confidences in [b/B, (b+1)/B), the last bin also holds 1.0.
///
/// Example:
///   smlab::metrics::ClassificationMetrics m(10);
///   for (auto& [x, y] : loader) m.update(model->forward(x), y);
///   auto r = m.compute();   // r["top1"], r["macro_f1"], r["f1/3"], r["ece"], ...
class ClassificationMetrics {
 public:
  /// `num_classes` >= 1, `ece_bins` >= 1.
  explicit ClassificationMetrics(int64_t num_classes, int ece_bins = 15);

  /// Adds a batch. logits: floating [N,K] with K == num_classes (logits or probabilities, see
  /// above); targets: integer [N] with values in [0,K). N may be 0. NaN or +inf scores, and rows
  /// that are entirely -inf, are rejected; nothing is added when update() throws.
  void update(const at::Tensor& logits, const at::Tensor& targets);

  /// Forgets everything seen so far.
  void reset();

  /// Flat name -> value map: "top1", "top5" (only when K >= 5), "macro_precision",
  /// "macro_recall", "macro_f1", "precision/<k>", "recall/<k>", "f1/<k>" for each class k,
  /// "ece", "nll", "count". Percent values are in [0,1] fractions. A class with no predictions
  /// (no support) has precision (recall) 0, as sklearn's zero_division=0; macro = unweighted
  /// mean over all K classes. "nll" is the mean natural-log negative log-likelihood of the
  /// target (infinite when a probability input gives a target probability 0).
  /// With nothing seen, "count" is 0 and every other value is NaN.
  std::map<std::string, double> compute() const;

  /// [K,K] int64 confusion matrix, rows = true class, cols = predicted.
  at::Tensor confusion() const;

  /// Sufficient statistics as one CPU float64 tensor of num_classes² + 3·ece_bins + 3 values,
  /// so that distributed ranks can all-reduce (sum) and load_state() back.
  /// Layout: [count, top5_hits, nll_sum, confusion (K·K, row-major), bin_count (B),
  /// bin_correct (B), bin_confidence_sum (B)].
  at::Tensor state() const;

  /// Replaces the statistics with `s` (as returned by state(), possibly summed over ranks).
  /// Throws c10::Error when `s` does not have the size of this accumulator's state.
  void load_state(const at::Tensor& s);

  int64_t num_classes() const { return num_classes_; }
  int ece_bins() const { return ece_bins_; }

 private:
  int64_t num_classes_;
  int ece_bins_;
  at::Tensor state_;  // CPU float64, layout as in state()
};

/// Streaming regression / forecasting metrics on float tensors of any (equal) shape.
/// Every element is one point.
///
/// Example:
///   smlab::metrics::RegressionMetrics m;
///   m.update(pred, target, seasonal_naive);   // last argument optional
///   auto r = m.compute();                      // r["mae"], r["rmse"], r["r2"], r["mase"], ...
class RegressionMetrics {
 public:
  RegressionMetrics();

  /// Adds a batch of points. `pred`, `target` (and `naive` when given) must be floating tensors
  /// of the same shape; NaN or infinite values are rejected (nothing is added). `naive` is the seasonal-naive forecast for the
  /// same points (optional, undefined tensor = absent); it enables "mase".
  void update(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& naive = {});

  /// Forgets everything seen so far.
  void reset();

  /// "mae", "rmse", "r2", "mape", "smape", "mase" (when naive given), "count". MAPE skips targets
  /// with |y| < 1e-12 and says how many via "mape_skipped". MAPE and sMAPE are fractions.
  /// MASE = MAE(model)/MAE(naive) over the points that came with a naive forecast.
  /// R² follows sklearn when the targets are constant: 1 for a perfect fit, else 0.
  /// With nothing seen, "count" is 0 and every other value is NaN.
  std::map<std::string, double> compute() const;

  /// Sufficient statistics as one CPU float64 tensor of 12 values (sum them across ranks).
  /// Layout: [n, Σ|e|, Σe², Σy, Σy², Σ|e|/|y| (kept points), n_kept, n_skipped,
  /// Σ sMAPE terms, Σ|e| on naive points, Σ|y−naive|, n_naive], with e = y − ŷ.
  at::Tensor state() const;

  /// Replaces the statistics with `s` (as returned by state(), possibly summed over ranks).
  void load_state(const at::Tensor& s);

 private:
  at::Tensor state_;  // CPU float64 [12]
};

}  // namespace smlab::metrics
