#include "analysis/anomaly.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

namespace smlab::analysis::anomaly {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Median of v (moves elements).
double median_of(std::vector<double>& v) {
  const size_t n = v.size();
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(v.begin(), mid, v.end());
  const double hi = *mid;
  if (n % 2 == 1) return hi;
  const double lo = *std::max_element(v.begin(), mid);
  return 0.5 * (lo + hi);
}

double probation_length(int64_t n, double p) {
  return std::min(std::floor(p * static_cast<double>(n)), p * 5000.0);
}

}  // namespace

std::vector<double> residual_scores(const std::vector<double>& r, const ScoreOptions& o) {
  if (o.window < 1 || o.min_count < 1) throw std::invalid_argument("residual_scores: window and min_count must be >= 1");
  const int64_t n = static_cast<int64_t>(r.size());
  std::vector<double> out(n, kNaN), buf, dev;
  for (int64_t t = 0; t < n; ++t) {
    if (!std::isfinite(r[t])) continue;
    buf.clear();
    for (int64_t j = std::max<int64_t>(0, t - o.window); j < t; ++j)
      if (std::isfinite(r[j])) buf.push_back(r[j]);
    if (static_cast<int64_t>(buf.size()) < o.min_count) continue;
    dev = buf;
    const double med = median_of(buf);
    for (auto& d : dev) d = std::abs(d - med);
    // sigma estimates: 1.4826 * MAD, and 1.2533 * mean absolute deviation from the median (both
    // equal sigma for Gaussian residuals; the second stays honest for discrete low counts, where
    // most residuals are equal and the MAD collapses)
    double mean_abs = 0;
    for (double d : dev) mean_abs += d;
    mean_abs /= static_cast<double>(dev.size());
    const double scale = std::max({1.4826 * median_of(dev), 1.2533 * mean_abs, o.min_scale});
    const double e = r[t] - med;
    out[t] = (o.one_sided ? std::max(0.0, e) : std::abs(e)) / scale;
  }
  return out;
}

std::vector<bool> detections(const std::vector<double>& s, double threshold, int64_t refractory) {
  std::vector<bool> d(s.size(), false);
  int64_t last = -1;
  for (int64_t t = 0; t < static_cast<int64_t>(s.size()); ++t) {
    if (!(std::isfinite(s[t]) && s[t] >= threshold)) continue;
    if (last >= 0 && refractory > 0 && t - last <= refractory) continue;
    d[t] = true;
    last = t;
  }
  return d;
}

HitStats hit_stats(const std::vector<double>& s, const std::vector<Window>& windows, double threshold, int64_t from,
                   int64_t to, int64_t refractory) {
  const int64_t n = static_cast<int64_t>(s.size());
  if (to < 0 || to > n) to = n;
  HitStats h;
  std::vector<int> in(n, -1);  // window id of each point
  std::vector<size_t> ids;     // windows overlapping [from, to)
  for (size_t w = 0; w < windows.size(); ++w) {
    const auto& win = windows[w];
    if (win.last < from || win.first >= to) continue;
    ids.push_back(w);
    for (int64_t i = std::max<int64_t>(0, win.first); i <= std::min<int64_t>(n - 1, win.last); ++i) in[i] = static_cast<int>(w);
  }
  std::map<size_t, int64_t> first;
  const auto det = detections(s, threshold, refractory);
  bool prev_out_flag = false;
  for (int64_t i = from; i < to; ++i) {
    if (!std::isfinite(s[i])) {
      prev_out_flag = false;
      continue;
    }
    ++h.scored;
    const bool flag = det[i];
    if (in[i] >= 0) {
      if (flag) {
        ++h.flagged_inside;
        if (!first.count(in[i])) first[in[i]] = i;
      }
      prev_out_flag = false;
    } else {
      ++h.outside;
      if (flag) {
        ++h.flagged_outside;
        if (!prev_out_flag) ++h.alarm_events;
      }
      prev_out_flag = flag;
    }
  }
  h.windows = static_cast<int64_t>(ids.size());
  for (auto w : ids) {
    const auto it = first.find(w);
    h.first_flag.push_back(it == first.end() ? -1 : it->second);
    if (it != first.end()) ++h.hit;
  }
  return h;
}

double nab_scaled_sigmoid(double position) {
  if (position >= 3.0) return -1.0;
  return 2.0 / (1.0 + std::exp(5.0 * position)) - 1.0;  // 2*sigmoid(-5 pos) - 1
}

int64_t nab_window_count(int64_t n, const std::vector<Window>& windows, double probation_percent) {
  const double prob = probation_length(n, probation_percent);
  int64_t c = 0;
  for (const auto& w : windows)
    if (static_cast<double>(std::min(w.last, n - 1)) >= prob) ++c;
  return c;
}

double nab_score(const std::vector<double>& s, const std::vector<Window>& windows, double threshold, const NabCost& cost,
                 double probation_percent, int64_t refractory) {
  const auto det = detections(s, threshold, refractory);
  const int64_t n = static_cast<int64_t>(s.size());
  for (size_t w = 0; w < windows.size(); ++w) {
    if (windows[w].first > windows[w].last || windows[w].first < 0 || windows[w].last >= n)
      throw std::invalid_argument("nab_score: window out of range");
    if (w > 0 && windows[w].first <= windows[w - 1].last) throw std::invalid_argument("nab_score: windows must be sorted and disjoint");
  }
  const double prob = probation_length(n, probation_percent);
  const double max_tp = nab_scaled_sigmoid(-1.0);
  double fp_sum = 0;
  std::vector<double> window_score(windows.size(), -cost.fn);
  std::vector<bool> counted(windows.size(), false);
  size_t next = 0;
  int64_t cur = -1;  // window index we are in
  int64_t prev_right = -1;
  double prev_width = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (next < windows.size() && i == windows[next].first) cur = static_cast<int64_t>(next++);
    double weighted;
    if (cur >= 0) {
      const double width = static_cast<double>(windows[cur].last - windows[cur].first + 1);
      const double pos = -static_cast<double>(windows[cur].last - i + 1) / width;
      weighted = nab_scaled_sigmoid(pos) * cost.tp / max_tp;
    } else {
      const double past = prev_right < 0 ? 3.0 : std::abs(static_cast<double>(prev_right - i)) / (prev_width - 1);
      weighted = nab_scaled_sigmoid(past) * cost.fp;
    }
    if (static_cast<double>(i) >= prob) {
      if (cur >= 0) counted[cur] = true;
      if (det[i]) {
        if (cur >= 0) window_score[cur] = std::max(window_score[cur], weighted);
        else fp_sum += weighted;
      }
    }
    if (cur >= 0 && i == windows[cur].last) {
      prev_right = i;
      prev_width = static_cast<double>(windows[cur].last - windows[cur].first + 1);
      cur = -1;
    }
  }
  double total = fp_sum;
  for (size_t w = 0; w < windows.size(); ++w)
    if (counted[w]) total += window_score[w];
  return total;
}

}  // namespace smlab::analysis::anomaly
