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
//   metrics: [test.top1, test.macro_f1, val.top1]   # summary.json paths; the first ranks points
//
// Runs land in <output_dir>/<sweep name>/p<i>-s<seed>/. A run whose summary.json says it finished
// is skipped, so an interrupted sweep resumes where it stopped. results.csv has one row per run;
// results.md has mean ± std over seeds per point, with the best point in bold.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace smlab::trainers {

struct SweepPoint {
  std::vector<std::pair<std::string, std::string>> overrides;  ///< (key, YAML value)
  std::string label() const;
};

struct SweepSpec {
  std::filesystem::path file, base;
  std::string name;
  std::vector<int64_t> seeds;
  std::vector<std::pair<std::string, std::string>> common;  ///< `set:`
  std::vector<SweepPoint> points;
  std::vector<std::string> metrics;
  std::filesystem::path output_dir;
};

/// Parses and validates a sweep file; every point's config is resolved up front, so a bad
/// override fails before anything runs, naming the sweep file, the line and the key.
SweepSpec load_sweep(const std::filesystem::path& file);

struct SweepOptions {
  int jobs = 1;             ///< runs at a time; > 1 runs each in its own `smlab train` process
  std::string device;       ///< forwarded as experiment.device ("" = the config's); with jobs > 1 and
                            ///< several GPUs, runs are spread over cuda:0..N-1
  std::vector<std::string> extra_overrides;  ///< applied after the sweep's own (e.g. from the CLI)
  std::string smlab_binary;  ///< for jobs > 1 (default: this executable)
};

/// Runs (or resumes) the sweep and writes results.csv / results.md. Returns the sweep folder.
std::filesystem::path run_sweep(const SweepSpec& spec, const SweepOptions& options);

/// Rebuilds results.csv / results.md from the run folders present (also used after each point).
nlohmann::json write_results(const SweepSpec& spec);

}  // namespace smlab::trainers
