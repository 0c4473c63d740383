#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace smlab::analysis::stats {
namespace {

// Continued fraction of I_x(a,b) (Numerical Recipes' betacf), modified Lentz.
double beta_cf(double a, double b, double x) {
  constexpr int kMaxIter = 10000;
  constexpr double kEps = 1e-15, kTiny = 1e-300;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::abs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIter; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1) < kEps) break;
  }
  return h;
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0)) throw std::invalid_argument("incomplete_beta: a and b must be > 0");
  if (!(x >= 0 && x <= 1)) throw std::invalid_argument("incomplete_beta: x must be in [0, 1], got " + std::to_string(x));
  if (x == 0 || x == 1) return x;
  // log of x^a (1-x)^b / B(a,b)
  const double lbt = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double bt = std::exp(lbt);
  // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return bt * beta_cf(a, b, x) / a;
  return 1 - bt * beta_cf(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("student_t_cdf: df must be > 0");
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  // P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2)
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));
  return t > 0 ? 1 - tail : tail;
}

WelchResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() < 2 || b.size() < 2)
    throw std::invalid_argument("welch_t_test: each sample needs at least 2 values (got " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + ")");
  WelchResult r;
  auto moments = [](const std::vector<double>& v, double* mean, double* var) {
    double s = 0;
    for (double x : v) s += x;
    *mean = s / static_cast<double>(v.size());
    double ss = 0;
    for (double x : v) ss += (x - *mean) * (x - *mean);
    *var = ss / static_cast<double>(v.size() - 1);
  };
  r.n_a = static_cast<int64_t>(a.size());
  r.n_b = static_cast<int64_t>(b.size());
  moments(a, &r.mean_a, &r.var_a);
  moments(b, &r.mean_b, &r.var_b);
  const double sa = r.var_a / r.n_a, sb = r.var_b / r.n_b;
  const double se2 = sa + sb;
  const double diff = r.mean_a - r.mean_b;
  if (se2 == 0) {
    r.df = static_cast<double>(r.n_a + r.n_b - 2);
    r.t = diff == 0 ? 0.0 : (diff > 0 ? 1.0 : -1.0) * std::numeric_limits<double>::infinity();
  } else {
    r.t = diff / std::sqrt(se2);
    r.df = se2 * se2 / (sa * sa / (r.n_a - 1) + sb * sb / (r.n_b - 1));
  }
  // one tail P(T > |t|) = I_{df/(df+t^2)}(df/2, 1/2) / 2, computed directly (no 1 - cdf cancellation)
  const double tail = std::isfinite(r.t) ? 0.5 * incomplete_beta(r.df / 2, 0.5, r.df / (r.df + r.t * r.t)) : 0.0;
  r.p_greater = r.t > 0 ? tail : 1 - tail;
  r.p_two_sided = 2 * tail;
  return r;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("student_t_quantile: p must be in (0, 1), got " + std::to_string(p));
  if (!(df > 0)) throw std::invalid_argument("student_t_quantile: df must be > 0");
  if (p == 0.5) return 0;
  // Solve for the upper tail with q = min(p, 1-p) on t >= 0, where the cdf is monotone; bisection
  // until the bracket stops shrinking (machine precision).
  const double q = std::min(p, 1 - p);
  auto upper_tail = [df](double t) { return 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t)); };  // P(T > t)
  double lo = 0, hi = 1;
  while (upper_tail(hi) > q) hi *= 2;
  for (int i = 0; i < 2000; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (upper_tail(mid) > q ? lo : hi) = mid;
  }
  const double t = 0.5 * (lo + hi);
  return p > 0.5 ? t : -t;
}

double mean(const std::vector<double>& v) {
  if (v.empty()) throw std::invalid_argument("mean: no values");
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

Interval t_interval(const std::vector<double>& v, double level) {
  if (v.size() < 2) throw std::invalid_argument("t_interval: needs at least 2 values, got " + std::to_string(v.size()));
  if (!(level > 0 && level < 1)) throw std::invalid_argument("t_interval: level must be in (0, 1)");
  const double n = static_cast<double>(v.size());
  const double m = mean(v), half = student_t_quantile(0.5 + level / 2, n - 1) * sample_sd(v) / std::sqrt(n);
  return {m - half, m + half, "t"};
}

Interval bootstrap_interval(const std::vector<double>& v, double level, int resamples, uint64_t seed) {
  if (v.empty() || resamples < 2) throw std::invalid_argument("bootstrap_interval: needs values and >= 2 resamples");
  std::mt19937_64 rng(seed);
  const size_t n = v.size();
  std::vector<double> means(static_cast<size_t>(resamples));
  for (auto& m : means) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += v[rng() % n];
    m = s / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  auto quantile = [&](double q) {  // numpy's linear interpolation
    const double pos = q * static_cast<double>(means.size() - 1);
    const size_t i = static_cast<size_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(i);
    return i + 1 < means.size() ? means[i] + frac * (means[i + 1] - means[i]) : means[i];
  };
  return {quantile((1 - level) / 2), quantile((1 + level) / 2), "bootstrap"};
}

Interval mean_interval(const std::vector<double>& v, double level) {
  return v.size() >= 10 ? bootstrap_interval(v, level, 10000, 0) : t_interval(v, level);
}

PairedResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b, double level) {
  if (a.size() != b.size()) throw std::invalid_argument("paired_t_test: samples differ in length");
  if (a.size() < 2) throw std::invalid_argument("paired_t_test: needs at least 2 pairs, got " + std::to_string(a.size()));
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  PairedResult r;
  r.n = static_cast<int64_t>(d.size());
  r.df = static_cast<double>(r.n - 1);
  r.mean_diff = mean(d);
  r.sd_diff = sample_sd(d);
  r.diff_ci = t_interval(d, level);
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (r.sd_diff == 0) {
    r.t = r.d_z = r.mean_diff == 0 ? 0.0 : std::copysign(inf, r.mean_diff);
    r.p_two_sided = r.mean_diff == 0 ? 1.0 : 0.0;
    return r;
  }
  r.t = r.mean_diff / (r.sd_diff / std::sqrt(static_cast<double>(r.n)));
  r.d_z = r.mean_diff / r.sd_diff;
  r.p_two_sided = incomplete_beta(r.df / 2, 0.5, r.df / (r.df + r.t * r.t));  // 2 P(T > |t|)
  return r;
}

SignFlipResult sign_flip_test(const std::vector<double>& diffs, int64_t resamples, uint64_t seed) {
  if (diffs.empty()) throw std::invalid_argument("sign_flip_test: no differences");
  const size_t n = diffs.size();
  const double observed = std::abs(std::accumulate(diffs.begin(), diffs.end(), 0.0));
  const double threshold = observed - 1e-12 * observed;
  auto extreme = [&](auto sign_of) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += sign_of(i) ? -diffs[i] : diffs[i];
    return std::abs(s) >= threshold;
  };
  SignFlipResult r;
  if (n <= 16) {
    const uint64_t patterns = uint64_t{1} << n;
    int64_t count = 0;
    for (uint64_t m = 0; m < patterns; ++m) count += extreme([m](size_t i) { return (m >> i) & 1; });
    r.patterns = static_cast<int64_t>(patterns);
    r.p_two_sided = static_cast<double>(count) / static_cast<double>(patterns);
    return r;
  }
  if (resamples < 1) throw std::invalid_argument("sign_flip_test: resamples must be >= 1");
  std::mt19937_64 rng(seed);
  int64_t count = 0;
  std::vector<bool> flip(n);
  for (int64_t k = 0; k < resamples; ++k) {
    for (size_t i = 0; i < n; ++i) flip[i] = (rng() >> 63) != 0;
    count += extreme([&](size_t i) { return flip[i]; });
  }
  r.exact = false;
  r.patterns = resamples;
  r.p_two_sided = static_cast<double>(count + 1) / static_cast<double>(resamples + 1);
  return r;
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adj(m);
  double running = 0;
  for (size_t j = 0; j < m; ++j) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - j) * p[order[j]]));
    adj[order[j]] = running;
  }
  return adj;
}

}  // namespace smlab::analysis::stats
