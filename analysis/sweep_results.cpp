// Collecting a sweep's runs and computing its per-point statistics (see sweep_results.h);
// the tables are written in sweep_tables.cpp.
#include "analysis/sweep_results.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::analysis {
namespace {

std::string num(double v, const char* format = "%.4f") {
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

/// The metric per seed of one point's finished runs.
std::map<int64_t, double> by_seed(const std::vector<SweepRun>& runs, size_t point, size_t metric) {
  std::map<int64_t, double> out;
  for (const auto& r : runs)
    if (r.point == point && r.finished && r.values[metric]) out[r.seed] = *r.values[metric];
  return out;
}

struct Pairs {
  std::vector<int64_t> seeds;
  std::vector<double> a, b;
};

Pairs shared_seeds(const std::map<int64_t, double>& a, const std::map<int64_t, double>& b) {
  Pairs p;
  for (const auto& [seed, v] : a) {
    auto it = b.find(seed);
    if (it == b.end()) continue;
    p.seeds.push_back(seed);
    p.a.push_back(v);
    p.b.push_back(it->second);
  }
  return p;
}

size_t metric_index(const trainers::SweepSpec& spec) {
  for (size_t m = 0; m < spec.metrics.size(); ++m)
    if (spec.metrics[m] == spec.stats.metric) return m;
  TORCH_CHECK(false, "sweep stats metric '", spec.stats.metric, "' is not among the sweep's metrics");
}

std::string verdict(const PointStats& p, double alpha, bool larger_better) {
  if (p.is_baseline) return "baseline";
  if (!p.paired) {
    return "not tested: " + std::to_string(p.shared) + " shared seed" + (p.shared == 1 ? "" : "s") + " (2 needed)";
  }
  const bool better = larger_better ? p.paired->mean_diff > 0 : p.paired->mean_diff < 0;
  const std::string dir = better ? "better" : "worse";
  if (*p.p_holm < alpha) return dir + ", significant after Holm";
  if (p.paired->p_two_sided < alpha) return dir + " before correction only; not significant after Holm";
  return "no detectable difference";
}

/// "pruned at epoch N (val.loss 0.3120)" for a halving run that stopped at a rung and was not promoted further.
std::optional<std::string> pruned_status(const fs::path& run, const std::string& metric) {
  try {
    if (!fs::exists(run / "summary.json")) return std::nullopt;
    const json s = json::parse(read_file(run / "summary.json"));
    if (s.value("status", "") != "interrupted") return std::nullopt;
    const auto v = trainers::metric_at(s, metric);
    return "pruned at epoch " + std::to_string(s.value("epochs", 0)) + (v ? " (" + metric + " " + num(*v) + ")" : "");
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::vector<SweepRun> collect_sweep_runs(const trainers::SweepSpec& spec) {
  std::vector<SweepRun> runs;
  for (size_t i = 0; i < spec.points.size(); ++i) {
    for (auto seed : spec.seeds) {
      SweepRun r;
      r.point = i;
      r.seed = seed;
      r.dir = trainers::sweep_run_folder(spec, i, seed);
      r.values.assign(spec.metrics.size(), std::nullopt);
      if (auto summary = trainers::finished_summary(r.dir)) {
        r.finished = true;
        r.status = summary->value("status", "completed");
        for (size_t m = 0; m < spec.metrics.size(); ++m) r.values[m] = trainers::metric_at(*summary, spec.metrics[m]);
        r.train_seconds = summary->value("train_seconds", 0.0);
      } else {
        r.status = fs::exists(r.dir) ? "unfinished" : "missing";
        if (spec.halving.on) r.status = pruned_status(r.dir, spec.halving.metric).value_or(r.status);
      }
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

std::vector<PointStats> sweep_point_stats(const trainers::SweepSpec& spec, const std::vector<SweepRun>& runs) {
  const size_t m = metric_index(spec);
  const double level = 1 - spec.stats.alpha;
  const auto base = by_seed(runs, spec.stats.baseline, m);
  std::vector<PointStats> out(spec.points.size());
  std::vector<size_t> tested;
  std::vector<double> p_raw;
  for (size_t i = 0; i < spec.points.size(); ++i) {
    auto& ps = out[i];
    ps.point = i;
    const auto mine = by_seed(runs, i, m);
    for (const auto& [seed, v] : mine) ps.values.push_back(v);
    if (ps.values.size() >= 2) ps.ci = stats::mean_interval(ps.values, level);
    ps.is_baseline = i == spec.stats.baseline;
    if (ps.is_baseline) continue;
    const Pairs pairs = shared_seeds(mine, base);
    ps.shared = static_cast<int>(pairs.seeds.size());
    if (ps.shared < 2) continue;
    ps.paired = stats::paired_t_test(pairs.a, pairs.b, level);
    std::vector<double> d(pairs.a.size());
    for (size_t k = 0; k < d.size(); ++k) d[k] = pairs.a[k] - pairs.b[k];
    ps.signflip = stats::sign_flip_test(d);
    tested.push_back(i);
    p_raw.push_back(ps.paired->p_two_sided);
  }
  const auto adjusted = stats::holm_adjust(p_raw);
  for (size_t k = 0; k < tested.size(); ++k) out[tested[k]].p_holm = adjusted[k];
  const bool up = trainers::larger_is_better(spec.stats.metric);
  for (auto& ps : out) ps.verdict = verdict(ps, spec.stats.alpha, up);
  return out;
}

std::string compare_sweep_points(const trainers::SweepSpec& spec, size_t a, size_t b) {
  const size_t m = metric_index(spec);
  const auto runs = collect_sweep_runs(spec);
  const Pairs pairs = shared_seeds(by_seed(runs, a, m), by_seed(runs, b, m));
  if (pairs.seeds.size() < 2) {
    throw UserError("--compare: points " + std::to_string(a) + " and " + std::to_string(b) + " share " +
                    std::to_string(pairs.seeds.size()) + " seed(s) finished with " + spec.stats.metric +
                    "; a paired test needs at least 2 (run the sweep first, or add seeds)");
  }
  const double level = 1 - spec.stats.alpha;
  const auto t = stats::paired_t_test(pairs.a, pairs.b, level);
  std::vector<double> d(pairs.a.size());
  for (size_t k = 0; k < d.size(); ++k) d[k] = pairs.a[k] - pairs.b[k];
  const auto perm = stats::sign_flip_test(d);
  std::vector<std::string> seeds;
  for (auto s : pairs.seeds) seeds.push_back(std::to_string(s));
  const bool up = trainers::larger_is_better(spec.stats.metric);
  const bool better = up ? t.mean_diff > 0 : t.mean_diff < 0;
  const std::string alpha = num(spec.stats.alpha, "%g");
  const std::string conclusion = t.p_two_sided < spec.stats.alpha
                                     ? std::string("A is ") + (better ? "better" : "worse") + " than B (p < " + alpha + ")"
                                     : "no detectable difference between A and B (p >= " + alpha + ")";
  const std::string level_pct = num(100 * level, "%g") + "%";
  std::ostringstream o;
  o << "[compare] " << spec.stats.metric << " over " << pairs.seeds.size() << " shared seeds (" << text::join(seeds, ", ")
    << ")\n"
    << "  A: point " << a << " (" << spec.points[a].label() << "): mean " << num(stats::mean(pairs.a)) << "\n"
    << "  B: point " << b << " (" << spec.points[b].label() << "): mean " << num(stats::mean(pairs.b)) << "\n"
    << "  A - B: " << num(t.mean_diff, "%+.4f") << ", " << level_pct << " CI [" << num(t.diff_ci.low, "%+.4f") << ", "
    << num(t.diff_ci.high, "%+.4f") << "]\n"
    << "  paired t-test: t = " << num(t.t, "%.3f") << " (df " << t.df << "), p = " << num(t.p_two_sided, "%.3g") << "\n"
    << "  sign-flip test: p = " << num(perm.p_two_sided, "%.3g") << " ("
    << (perm.exact ? "exact, all " : "Monte Carlo, ") << perm.patterns << " sign patterns)\n"
    << "  Cohen's d_z: " << num(t.d_z, "%.2f") << "\n"
    << "  verdict (paired t-test, one comparison, alpha " << alpha << "): " << conclusion << "\n";
  return o.str();
}

}  // namespace smlab::analysis
