// A sweep's results tables and their statistics, computed from the run folders a sweep left.
//
// write_sweep_results is the SweepReporter that `smlab sweep` hands to trainers::run_sweep. It writes
//   results.md:  mean ± std per point and metric (best in bold; failed or missing runs counted), then a
//                statistics table on spec.stats.metric: the 95% CI over seeds (Student t; bootstrap from
//                10 seeds on), and against the baseline point the paired difference over shared seeds,
//                the paired t-test, the sign-flip permutation test, Holm-Bonferroni across the compared
//                points, Cohen's d_z and a verdict in words, with a legend;
//   results.csv: one `run` row per (point, seed), unfinished and missing runs included, then one `point`
//                row per point with the same statistics at full precision.
// The statistics themselves are in analysis/stats.h.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "trainers/sweep.h"

namespace smlab::analysis {

/// One (point, seed) of a sweep as found on disk.
struct SweepRun {
  size_t point = 0;
  int64_t seed = 0;
  std::string status;  ///< the summary's status when finished; "unfinished" (folder, no finished summary);
                       ///< "missing"; "pruned at epoch N" (halving stopped it at a rung)
  bool finished = false;
  std::vector<std::optional<double>> values;  ///< one per spec.metrics
  double train_seconds = 0;
  std::filesystem::path dir;
};

/// The statistics of one point on the stats metric.
struct PointStats {
  size_t point = 0;
  std::vector<double> values;  ///< the metric over the point's finished seeds
  std::optional<stats::Interval> ci;  ///< from 2 values on
  bool is_baseline = false;
  int shared = 0;  ///< seeds finished with the metric in both this point and the baseline
  std::optional<stats::PairedResult> paired;     ///< this point minus the baseline, from 2 shared seeds on
  std::optional<stats::SignFlipResult> signflip;
  std::optional<double> p_holm;  ///< Holm-adjusted paired-t p over the points that were tested
  std::string verdict;
};

std::vector<SweepRun> collect_sweep_runs(const trainers::SweepSpec& spec);

/// Per-point statistics on spec.stats.metric against spec.stats.baseline, Holm-adjusted.
std::vector<PointStats> sweep_point_stats(const trainers::SweepSpec& spec, const std::vector<SweepRun>& runs);

/// Writes results.md and results.csv into <output_dir>/<name>/ and returns the summary run_sweep prints
/// (see trainers::SweepReporter), plus "stats": the per-point statistics.
nlohmann::json write_sweep_results(const trainers::SweepSpec& spec);

/// `smlab sweep FILE --compare A B`: the paired comparison of two points on spec.stats.metric, as text.
/// A UserError naming --compare when they share fewer than 2 finished seeds.
std::string compare_sweep_points(const trainers::SweepSpec& spec, size_t a, size_t b);

}  // namespace smlab::analysis
