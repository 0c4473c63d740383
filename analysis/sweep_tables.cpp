// results.md and results.csv of a sweep (see sweep_results.h for what they hold).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "analysis/sweep_results.h"
#include "core/atomic_file.h"
#include "core/text.h"
#include "trainers/trainer.h"
#include "inference/writers.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::analysis {
namespace {

std::string num(double v, const char* format = "%.4f") {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
std::string full(double v) { return num(v, "%.12g"); }

using inference::csv_field;  // inference/writers.h

/// Per point: finished runs, and mean/std/n per metric over the runs that report it.
json aggregate(const trainers::SweepSpec& spec, const std::vector<SweepRun>& runs) {
  json points = json::array();
  for (size_t i = 0; i < spec.points.size(); ++i) {
    json agg = {{"point", i}, {"overrides", spec.points[i].label()}, {"runs", 0}, {"unfinished", 0}, {"missing", 0},
                {"pruned", 0}};
    std::vector<std::vector<double>> values(spec.metrics.size());
    for (const auto& r : runs) {
      if (r.point != i) continue;
      const char* key = r.finished                        ? "runs"
                        : r.status == "missing"             ? "missing"
                        : r.status.rfind("pruned", 0) == 0 ? "pruned"
                                                            : "unfinished";
      agg[key] = agg[key].get<int>() + 1;
      if (r.status.rfind("pruned", 0) == 0) agg["pruned_at"] = r.status;
      for (size_t m = 0; m < spec.metrics.size(); ++m)
        if (r.finished && r.values[m]) values[m].push_back(*r.values[m]);
    }
    for (size_t m = 0; m < spec.metrics.size(); ++m) {
      if (values[m].empty()) continue;
      agg["metrics"][spec.metrics[m]] = {
          {"mean", stats::mean(values[m])}, {"std", stats::sample_sd(values[m])}, {"n", values[m].size()}};
    }
    points.push_back(agg);
  }
  return points;
}

std::vector<int> best_per_metric(const trainers::SweepSpec& spec, const json& points) {
  std::vector<int> best(spec.metrics.size(), -1);
  for (size_t m = 0; m < spec.metrics.size(); ++m) {
    const bool up = trainers::larger_is_better(spec.metrics[m]);
    for (size_t i = 0; i < points.size(); ++i) {
      if (!points[i].contains("metrics") || !points[i]["metrics"].contains(spec.metrics[m])) continue;
      const double v = points[i]["metrics"][spec.metrics[m]]["mean"];
      const double b = best[m] < 0 ? 0.0 : points[best[m]]["metrics"][spec.metrics[m]]["mean"].get<double>();
      if (best[m] < 0 || (up ? v > b : v < b)) best[m] = static_cast<int>(i);
    }
  }
  return best;
}

/// "2/3" runs, with the unfinished and missing ones named.
std::string runs_cell(const json& p, size_t seeds) {
  std::string s = std::to_string(p["runs"].get<int>()) + "/" + std::to_string(seeds);
  std::vector<std::string> gaps;
  if (p["unfinished"].get<int>() > 0) gaps.push_back(std::to_string(p["unfinished"].get<int>()) + " unfinished");
  if (p["missing"].get<int>() > 0) gaps.push_back(std::to_string(p["missing"].get<int>()) + " missing");
  if (p["pruned"].get<int>() > 0) gaps.push_back(p["pruned_at"].get<std::string>());
  return gaps.empty() ? s : s + " (" + text::join(gaps, ", ") + ")";
}

/// "mean ± std" over the seeds that reported the metric, bold when best; a single value has no spread
/// to show, and a metric missing from some finished runs says over how many it was computed.
std::string cell(const json& p, const std::string& metric, bool best) {
  if (!p.contains("metrics") || !p["metrics"].contains(metric)) return "-";
  const auto& c = p["metrics"][metric];
  const int n = c["n"].get<int>(), runs = p["runs"].get<int>();
  std::string s = num(c["mean"]);
  if (n > 1) s += " ± " + num(c["std"]);
  if (best) s = "**" + s + "**";
  return n < runs ? s + " (" + std::to_string(n) + "/" + std::to_string(runs) + " runs)" : s;
}

std::string main_table(const trainers::SweepSpec& spec, const json& points, const std::vector<int>& best) {
  std::ostringstream md;
  md << "| point | overrides | runs |";
  for (const auto& m : spec.metrics) md << " " << m << " |";
  md << "\n|---|---|---|";
  for (size_t m = 0; m < spec.metrics.size(); ++m) md << "---|";
  md << "\n";
  for (size_t i = 0; i < points.size(); ++i) {
    md << "| " << i << " | `" << points[i]["overrides"].get<std::string>() << "` | " << runs_cell(points[i], spec.seeds.size())
       << " |";
    for (size_t m = 0; m < spec.metrics.size(); ++m)
      md << " " << cell(points[i], spec.metrics[m], best[m] == static_cast<int>(i)) << " |";
    md << "\n";
  }
  return md.str();
}

std::string stats_table(const trainers::SweepSpec& spec, const std::vector<PointStats>& st) {
  const auto& S = spec.stats;
  const std::string pct = num(100 * (1 - S.alpha), "%g") + "%";
  std::ostringstream md;
  md << "\n## `" << S.metric << "` against the baseline\n\n"
     << "Baseline: point " << S.baseline << " (`" << spec.points[S.baseline].label() << "`)"
     << (S.baseline_named ? "" : ", the default (set `stats.baseline` to choose)") << "; alpha " << num(S.alpha, "%g")
     << "; " << (trainers::larger_is_better(S.metric) ? "larger" : "smaller") << " is better.\n\n"
     << "| point | overrides | n | mean | " << pct << " CI | Δ vs baseline (" << pct
     << " CI) | pairs | p (paired t) | p (Holm) | p (sign-flip) | d_z | verdict |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : st) {
    md << "| " << p.point << " | `" << spec.points[p.point].label() << "` | " << p.values.size() << " | "
       << (p.values.empty() ? "-" : num(stats::mean(p.values))) << " | ";
    md << (p.ci ? "[" + num(p.ci->low) + ", " + num(p.ci->high) + "]" + (p.ci->method == "bootstrap" ? " (bootstrap)" : "")
                : "-")
       << " | ";
    if (p.paired) {
      const auto& t = *p.paired;
      md << num(t.mean_diff, "%+.4f") << " [" << num(t.diff_ci.low, "%+.4f") << ", " << num(t.diff_ci.high, "%+.4f")
         << "] | " << t.n << " | " << num(t.p_two_sided, "%.3g") << " | " << num(*p.p_holm, "%.3g") << " | "
         << num(p.signflip->p_two_sided, "%.3g") << (p.signflip->exact ? "" : " (MC)") << " | " << num(t.d_z, "%.2f");
    } else {
      md << "- | " << (p.is_baseline ? "-" : std::to_string(p.shared)) << " | - | - | - | -";
    }
    md << " | " << (p.verdict.find("significant after Holm") != std::string::npos &&
                            p.verdict.find("not significant") == std::string::npos
                        ? "**" + p.verdict + "**"
                        : p.verdict)
       << " |\n";
  }
  md << "\nHow to read this: n counts the seeds that finished with `" << S.metric << "`. The CI is built so "
     << "that it contains the point's true mean in " << pct << " of repeated sweeps (Student t; bootstrap percentile from 10 "
     << "seeds on). Δ is the point minus the baseline, averaged over the seeds both finished (pairs). p (paired t) is "
     << "the chance of a difference at least this large if the point and the baseline were equally good; p (Holm) "
     << "corrects it for testing every point against the same baseline, and a verdict of better or worse needs p (Holm) "
     << "< " << num(S.alpha, "%g") << ". p (sign-flip) checks the same question without assuming normal noise; it is "
     << "exact over all 2^pairs sign patterns (Monte Carlo with 100000 patterns, marked MC, above 16 pairs), and with "
     << "k pairs it cannot go below 2/2^k (0.25 for 3 seeds). d_z is Δ divided by the std of the per-seed differences "
     << "(about 0.2 small, 0.5 medium, 0.8 large). \"No detectable difference\" means these seeds cannot tell the two "
     << "apart, not that they are equal.\n";
  return md.str();
}

std::string csv_table(const trainers::SweepSpec& spec, const std::vector<SweepRun>& runs, const json& points,
                      const std::vector<PointStats>& st) {
  std::ostringstream csv;
  csv << "row,point,overrides,seed,status";
  for (const auto& m : spec.metrics) csv << "," << m;
  // The timing and run-folder columns come last (empty on point rows), so that a comparison of two
  // sweeps' tables can drop them.
  csv << ",stats_metric,n,mean,std,ci_low,ci_high,ci_method,baseline,pairs,diff,diff_ci_low,diff_ci_high,t,p_t,"
         "p_holm,p_signflip,signflip_patterns,signflip_exact,d_z,verdict,train_seconds,run_dir\n";
  const std::string no_stats(20, ',');  // the stats columns, empty on run rows
  for (const auto& r : runs) {
    csv << "run," << r.point << "," << csv_field(spec.points[r.point].label()) << "," << r.seed << "," << r.status;
    for (const auto& v : r.values) csv << "," << (v ? num(*v) : "");
    csv << no_stats << "," << (r.finished ? num(r.train_seconds) : "") << "," << csv_field(r.dir.string()) << "\n";
  }
  for (const auto& p : st) {
    const json& agg = points[p.point];
    csv << "point," << p.point << "," << csv_field(spec.points[p.point].label()) << ",," << agg["runs"].get<int>() << "/"
        << spec.seeds.size() << " finished";
    for (const auto& m : spec.metrics)
      csv << "," << (agg.contains("metrics") && agg["metrics"].contains(m) ? full(agg["metrics"][m]["mean"]) : "");
    csv << "," << spec.stats.metric << "," << p.values.size() << ","
        << (p.values.empty() ? "," : full(stats::mean(p.values)) + "," + full(stats::sample_sd(p.values))) << ",";
    csv << (p.ci ? full(p.ci->low) + "," + full(p.ci->high) + "," + p.ci->method : ",,") << ","
        << spec.stats.baseline << "," << (p.is_baseline ? "" : std::to_string(p.shared)) << ",";
    if (p.paired) {
      const auto& t = *p.paired;
      csv << full(t.mean_diff) << "," << full(t.diff_ci.low) << "," << full(t.diff_ci.high) << "," << full(t.t) << ","
          << full(t.p_two_sided) << "," << full(*p.p_holm) << "," << full(p.signflip->p_two_sided) << ","
          << p.signflip->patterns << "," << (p.signflip->exact ? "true" : "false") << "," << full(t.d_z);
    } else {
      csv << ",,,,,,,,,";
    }
    csv << "," << csv_field(p.verdict) << ",,\n";
  }
  return csv.str();
}

}  // namespace

json write_sweep_results(const trainers::SweepSpec& spec) {
  const fs::path dir = spec.output_dir / spec.name;
  const auto runs = collect_sweep_runs(spec);
  const json points = aggregate(spec, runs);
  const auto st = sweep_point_stats(spec, runs);
  const auto best = best_per_metric(spec, points);
  std::ostringstream md;
  md << "# Sweep `" << spec.name << "`\n\n"
     << "Base config: `" << spec.base.string() << "`; seeds: " << spec.seeds.size()
     << "; cells are mean ± sample std over the seeds that finished. Bold marks the best point per column; points are "
        "ranked by `"
     << spec.metrics[0] << "`. Runs: finished/planned; unfinished runs (failed, killed or still running: see "
     << "p<point>-s<seed>.log) and missing ones (not started) are counted, never dropped.\n\n";
  md << main_table(spec, points, best);
  // One seed per point (a halving search, a quick grid): nothing to test, so no table of dashes.
  if (spec.seeds.size() >= 2) md << stats_table(spec, st);
  else md << "\n(One seed per point: no confidence intervals or tests against the baseline; list two or more `seeds:` for them.)\n";
  fs::create_directories(dir);
  write_file_atomic(dir / "results.csv", csv_table(spec, runs, points, st));
  write_file_atomic(dir / "results.md", md.str());
  json stats_json = json::array();
  for (const auto& p : st) {
    json j = {{"point", p.point}, {"n", p.values.size()}, {"verdict", p.verdict}, {"shared", p.shared}};
    if (p.ci) j["ci"] = {p.ci->low, p.ci->high};
    if (p.paired) j["paired"] = {{"diff", p.paired->mean_diff}, {"p_t", p.paired->p_two_sided}, {"p_holm", *p.p_holm},
                                 {"p_signflip", p.signflip->p_two_sided}, {"d_z", p.paired->d_z}};
    stats_json.push_back(j);
  }
  return {{"points", points}, {"best_point", best.empty() ? -1 : best[0]}, {"stats", stats_json}};
}

}  // namespace smlab::analysis
