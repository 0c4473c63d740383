// Anomaly scores from forecast residuals, and how they compare with labelled anomaly windows.
//
// residual_scores() turns the residuals r_t = y_t - yhat_t of a forecaster into a per-point
// score: a robust z-score of r_t against the residuals just before it (median and MAD of a
// trailing window), so a point scores high when the forecaster misses it by much more than it
// usually misses. `smlab forecast-eval` writes these scores for every point of every series;
// a scorer that has a series and its forecasts calls residual_scores() on the residuals in
// time order and flags points with score >= threshold.
//
// hit_stats() counts labelled windows hit and false alarms; nab_score() is the Numenta Anomaly
// Benchmark's scoring of binary detections (numenta/NAB nab/sweeper.py, Lavin & Ahmad 2015).
//
// Example:
//   auto s = smlab::anomaly::residual_scores(residuals, {});
//   auto h = smlab::anomaly::hit_stats(s, windows, 5.0);   // h.hit of h.windows, h.false_alarm_rate()
#pragma once
#include <cstdint>
#include <vector>

namespace smlab::analysis::anomaly {

struct ScoreOptions {
  int64_t window = 2016;     ///< trailing residuals that set the median and MAD (2016 = 1 week of 5-minute steps)
  int64_t min_count = 288;   ///< fewer finite residuals before t: no score (NaN)
  double min_scale = 0.05;   ///< floor of the scale (in residual units), so a flat stretch does not divide by ~0
  bool one_sided = false;    ///< score only residuals above the median (more than forecast)
};

/// Robust z-scores: score_t = |r_t - med_t| / scale_t, where med_t is the median of the finite
/// residuals among the `window` points before t (t itself excluded) and scale_t is the larger of
/// 1.4826 * MAD (median absolute deviation from med_t), 1.2533 * the mean absolute deviation from
/// med_t, and min_scale. Both estimates equal sigma for Gaussian residuals; the second keeps the
/// scale honest for series of mostly-zero counts, where over half the residuals are equal and the
/// MAD collapses. One-sided: max(0, r_t - med_t) / scale_t.
/// NaN where r_t is NaN or fewer than min_count finite residuals precede it.
std::vector<double> residual_scores(const std::vector<double>& residuals, const ScoreOptions& options);

/// Detections from scores: t is flagged when score_t >= threshold (NaN never) and no point in the
/// `refractory` steps before t was flagged (0: every point over the threshold is flagged).
std::vector<bool> detections(const std::vector<double>& scores, double threshold, int64_t refractory = 0);

/// A labelled anomaly window: point indices first..last, inclusive.
struct Window {
  int64_t first = 0, last = 0;
};

struct HitStats {
  int64_t windows = 0;            ///< windows overlapping the range
  int64_t hit = 0;                ///< of those, with at least one flag inside
  std::vector<int64_t> first_flag;  ///< per window: index of its first flag, or -1
  int64_t scored = 0;             ///< points in the range with a finite score
  int64_t outside = 0;            ///< scored points outside every window
  int64_t flagged_outside = 0;    ///< of those, flagged
  int64_t flagged_inside = 0;     ///< flagged points inside windows
  int64_t alarm_events = 0;       ///< runs of consecutive flagged points outside windows
  /// flagged_outside / outside (0 when nothing is outside).
  double false_alarm_rate() const { return outside > 0 ? static_cast<double>(flagged_outside) / outside : 0.0; }
};

/// Flags = detections(scores, threshold, refractory), counted over indices [from, to)
/// (to < 0: the end). A window counts when it overlaps the range.
HitStats hit_stats(const std::vector<double>& scores, const std::vector<Window>& windows, double threshold,
                   int64_t from = 0, int64_t to = -1, int64_t refractory = 0);

/// NAB cost profile ("standard": tp 1, fp 0.11, fn 1).
struct NabCost {
  double tp = 1.0, fp = 0.11, fn = 1.0;
};

/// NAB's scaled sigmoid of a relative position: -1 for positions >= 3, else 2*sigmoid(-5 pos) - 1.
double nab_scaled_sigmoid(double position);

/// NAB raw score of one file whose detections are detections(scores, threshold, refractory): the first
/// (earliest, highest-weighted) detection in each window scores tp * sigmoid weight, a window
/// without detection costs -fn, every detection outside windows costs fp * sigmoid weight (less
/// right after a window). Points in the probationary period (the first
/// min(floor(p * N), p * 5000) points) are not scored. `windows` must be sorted and disjoint.
double nab_score(const std::vector<double>& scores, const std::vector<Window>& windows, double threshold,
                 const NabCost& cost = {}, double probation_percent = 0.15, int64_t refractory = 0);

/// Number of windows NAB counts for a file of n points (windows with a point after probation).
int64_t nab_window_count(int64_t n, const std::vector<Window>& windows, double probation_percent = 0.15);

}  // namespace smlab::analysis::anomaly
