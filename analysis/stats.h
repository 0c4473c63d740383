// Small statistics for reports: the Student t distribution and Welch's unequal-variance t-test.
//
// Example:
//   auto r = smlab::stats::welch_t_test(top_cluster_reactions, other_reactions);
//   // r.t, r.df, r.p_greater (H1: mean(a) > mean(b)), r.p_two_sided
#pragma once
#include <cstdint>
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

}  // namespace smlab::analysis::stats
