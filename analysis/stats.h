// Small statistics for reports: the Student t distribution, Welch's unequal-variance t-test, and
// what a sweep's table needs to say which ablation rows differ: confidence intervals over seeds
// (Student t; bootstrap percentile), the paired t-test, the sign-flip permutation test, the
// Holm-Bonferroni adjustment and Cohen's d_z. tests/python/test_sweep_stats_oracle.py checks them
// against scipy.
//
// Example:
//   auto r = smlab::stats::welch_t_test(top_cluster_reactions, other_reactions);
//   // r.t, r.df, r.p_greater (H1: mean(a) > mean(b)), r.p_two_sided
//   auto p = smlab::stats::paired_t_test(point_top1, baseline_top1);   // over the same seeds
//   auto adjusted = smlab::stats::holm_adjust({p.p_two_sided, ...});
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace smlab::analysis::stats {

/// The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1
/// (continued fraction evaluated with the modified Lentz method).
double incomplete_beta(double a, double b, double x);

/// P(T <= t) for Student's t distribution with `df` > 0 degrees of freedom (real df allowed).
double student_t_cdf(double t, double df);

struct WelchResult {
  int64_t n_a = 0, n_b = 0;
  double mean_a = 0, mean_b = 0;
  double var_a = 0, var_b = 0;  ///< sample variances (n - 1 denominator)
  double t = 0;                 ///< (mean_a - mean_b) / sqrt(var_a/n_a + var_b/n_b)
  double df = 0;                ///< Welch-Satterthwaite degrees of freedom
  double p_greater = 0;         ///< one-sided p-value for H1: mean_a > mean_b
  double p_two_sided = 0;       ///< two-sided p-value for H1: mean_a != mean_b
};

/// Welch's t-test of two independent samples with possibly unequal variances. Each sample
/// needs at least 2 values (throws std::invalid_argument otherwise). When both variances are
/// 0 the t statistic is +-inf (p 0 or 1) for different means and 0 (p 0.5 / 1) for equal ones.
WelchResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

/// The inverse of student_t_cdf: the t with P(T <= t) = p, for 0 < p < 1 (bisection to machine precision).
double student_t_quantile(double p, double df);

double mean(const std::vector<double>& v);
/// The sample standard deviation (n - 1 denominator); 0 for fewer than 2 values.
double sample_sd(const std::vector<double>& v);

struct Interval {
  double low = 0, high = 0;
  std::string method;  ///< "t" or "bootstrap"
};

/// The Student t interval of the mean at `level` (e.g. 0.95): mean +- t_{(1+level)/2, n-1} sd / sqrt(n).
/// Needs n >= 2 (std::invalid_argument otherwise); scipy.stats.t.interval(level, n-1, mean, sem).
Interval t_interval(const std::vector<double>& v, double level);

/// The bootstrap percentile interval of the mean: `resamples` resamples with replacement drawn by a
/// mt19937_64 seeded with `seed` (index = draw mod n), and the (1-level)/2 and (1+level)/2 quantiles
/// of the resampled means, linearly interpolated (numpy's default). Reproducible for a given seed.
Interval bootstrap_interval(const std::vector<double>& v, double level, int resamples, uint64_t seed);

/// The interval a sweep table shows: bootstrap (10,000 resamples, seed 0) from 10 values on, t below.
Interval mean_interval(const std::vector<double>& v, double level);

struct PairedResult {
  int64_t n = 0;             ///< pairs
  double mean_diff = 0;      ///< mean of a_i - b_i
  double sd_diff = 0;        ///< sample std of the differences
  double t = 0;              ///< mean_diff / (sd_diff / sqrt(n)); +-inf when sd_diff is 0 and mean_diff is not
  double df = 0;             ///< n - 1
  double p_two_sided = 1;    ///< H1: mean difference != 0 (1 when every difference is 0)
  double d_z = 0;            ///< Cohen's d_z = mean_diff / sd_diff (+-inf when sd_diff is 0, 0 when both are)
  Interval diff_ci;          ///< t interval of the mean difference at the level given
};

/// The paired t-test of a against b (same length, a_i and b_i from the same seed; n >= 2, otherwise
/// std::invalid_argument). Equals scipy.stats.ttest_rel(a, b).
PairedResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b, double level = 0.95);

struct SignFlipResult {
  double p_two_sided = 1;
  bool exact = true;       ///< all 2^n sign patterns enumerated (n <= 16)
  int64_t patterns = 0;    ///< sign patterns counted: 2^n when exact, else the Monte Carlo resamples
};

/// The sign-flip (paired permutation) test of H0: the differences are symmetric about 0. Statistic
/// |sum d_i|; p = share of sign patterns with |sum s_i d_i| >= |sum d_i| (ties within a relative 1e-12).
/// Exact over all 2^n patterns for n <= 16; otherwise `resamples` random patterns from mt19937_64(seed)
/// with p = (count + 1) / (resamples + 1). The smallest exact p is 2 / 2^n (0.25 for 3 seeds).
SignFlipResult sign_flip_test(const std::vector<double>& diffs, int64_t resamples = 100000, uint64_t seed = 0);

/// Holm-Bonferroni step-down adjusted p-values, in the input order: with p sorted ascending,
/// adj_(i) = max_{j <= i} min(1, (m - j) p_(j)) (0-based j). Reject H_i at level alpha iff adj_i < alpha.
std::vector<double> holm_adjust(const std::vector<double>& p);

}  // namespace smlab::analysis::stats
