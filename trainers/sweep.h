// Ablation sweeps: a base config plus a grid (or a list) of overrides, N seeds per point.
//
// A sweep file (experiments/sweeps/<name>.yaml):
//   base: ../quickstart.yaml          # experiment config, relative to the sweep file
//   seeds: [0, 1]                     # one run per seed and point
//   set: {train.epochs: 3}            # overrides applied to every point
//   grid:                             # cartesian product of these values ...
//     model.hidden: [[32], [64, 64]]
//     optim.lr: [0.05, 0.2]
//   # points: [{optim.lr: 0.1}, ...]  # ... or an explicit list of override sets
//   # random: {samples: 16, seed: 0, space: {optim.lr: {log_uniform: [1.0e-4, 0.1]}}}  # ... or draws
//   #                                 (trainers/sweep_search.h)
//   metrics: [test.top1, test.macro_f1, val.top1]   # summary.json paths; the first ranks points
//   stats: {metric: test.top1, baseline: 0, alpha: 0.05}   # all optional; these are the defaults
//   # halving: {eta: 3, rungs: [1, 3, 9], metric: val.loss} # successive halving (sweep_halving.cpp)
//
// Runs land in <output_dir>/<sweep name>/p<i>-s<seed>/. A run whose summary.json says it finished
// is skipped, so an interrupted sweep resumes where it stopped. The tables (results.csv, results.md,
// with confidence intervals and paired tests against the baseline) are written by a SweepReporter
// that the caller passes in: analysis::write_sweep_results, filled in by `smlab sweep`. The
// statistics live in analysis/, above this layer.
#pragma once
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace smlab::trainers {

struct SweepPoint {
  std::vector<std::pair<std::string, std::string>> overrides;  ///< (key, YAML value)
  std::string label() const;
};

/// The `stats:` section: what the results tables test, and against which point.
struct SweepStats {
  std::string metric;       ///< a summary path among `metrics` (default: the first metric)
  size_t baseline = 0;      ///< point index (`baseline:` by index or override label; default point 0)
  bool baseline_named = false;  ///< given in the file (then 2 seeds at least are required)
  double alpha = 0.05;      ///< significance level, also sets the confidence level (1 - alpha)
};

/// The `halving:` section: asynchronous successive halving (ASHA) over the points.
struct SweepHalving {
  bool on = false;
  int eta = 3;                  ///< the top 1/eta of a rung is promoted to the next
  std::vector<int64_t> rungs;   ///< epochs, increasing; the last is every run's train.epochs
  std::string metric;           ///< a val.* summary path ranking the points at each rung
};

struct SweepSpec {
  std::filesystem::path file, base;
  std::string name;
  std::vector<int64_t> seeds;
  std::vector<std::pair<std::string, std::string>> common;  ///< `set:`
  std::vector<SweepPoint> points;
  std::vector<std::string> metrics;
  std::filesystem::path output_dir;
  SweepStats stats;
  SweepHalving halving;
};

/// Parses and validates a sweep file; every point's config is resolved up front, so a bad
/// override fails before anything runs, naming the sweep file, the line and the key.
SweepSpec load_sweep(const std::filesystem::path& file);

/// Where run (point, seed) lives: <output_dir>/<name>/p<point>-s<seed>.
std::filesystem::path sweep_run_folder(const SweepSpec& spec, size_t point, int64_t seed);

/// The run's summary.json when it says the run finished (completed, early_stopped, max_steps,
/// nonfinite_loss); nullopt when it is absent, unreadable or says otherwise.
std::optional<nlohmann::json> finished_summary(const std::filesystem::path& run);

/// The number at a "split.metric" path of a summary, if present and numeric.
std::optional<double> metric_at(const nlohmann::json& summary, const std::string& path);

/// A point by index ("2") or by its exact override label ("optim.lr=0.2"). A ConfigError naming
/// `what` (e.g. "stats.baseline" or "--compare") and listing the points otherwise.
size_t find_point(const SweepSpec& spec, const std::string& ref, const std::string& what);

/// Rebuilds the results tables from the run folders present and returns
/// {"points": [{"point", "overrides", "runs", "metrics": {m: {"mean", "std", "n"}}}], "best_point"}.
/// run_sweep calls it after every finished point and at the end.
using SweepReporter = std::function<nlohmann::json(const SweepSpec&)>;

struct SweepOptions {
  int jobs = 1;             ///< runs at a time; > 1 runs each in its own `smlab train` process
  std::string device;       ///< forwarded as experiment.device ("" = the config's); with jobs > 1 and
                            ///< several GPUs, runs are spread over cuda:0..N-1
  std::vector<std::string> extra_overrides;  ///< applied after the sweep's own (e.g. from the CLI)
  std::string smlab_binary;  ///< for jobs > 1 (default: this executable)
  SweepReporter reporter;    ///< required: writes the tables (analysis::write_sweep_results)
};

/// Runs (or resumes) the sweep, calling options.reporter after each point. A run that throws
/// (jobs = 1) or exits non-zero (jobs > 1) is logged to p<i>-s<seed>.log beside its folder and the
/// sweep goes on; the table shows it as unfinished. Returns the sweep folder.
std::filesystem::path run_sweep(const SweepSpec& spec, const SweepOptions& options);

}  // namespace smlab::trainers
