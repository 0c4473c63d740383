#include "analysis/stats.h"

#include <cmath>
#include <limits>
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

}  // namespace smlab::analysis::stats
