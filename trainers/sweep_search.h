// Search spaces of a sweep beyond the grid: `random:` draws N points from declared distributions.
//
//   random:
//     samples: 16          # points drawn
//     seed: 0              # the draw's own seed (the runs' seeds are still `seeds:`)
//     space:
//       optim.lr: {log_uniform: [1.0e-4, 0.1]}   # exp(U(log low, log high))
//       model.dropout: {uniform: [0.0, 0.5]}     # U(low, high)
//       model.hidden_width: {int: [16, 128]}     # integers low..high inclusive, equally likely
//       model.act: {choice: [relu, gelu]}        # one of the values, equally likely
//
// Draws come from a mt19937_64 seeded with `seed`, one key after another in the file's order, so the
// same file always gives the same points. tests/python/test_sweep_search_oracle.py checks the draws
// against the declared distributions (Kolmogorov-Smirnov, chi-square).
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "core/config.h"
#include "trainers/sweep.h"

namespace smlab::trainers {

using WhereFn = std::function<config::Origin(const std::string& key)>;

/// Refuses a key of mapping `n` that is not in `allowed`: a ConfigError "<file:line>: <section>.<key>:
/// <what> ... (allowed: ...)" with a did-you-mean (`section` "" for the top level).
void refuse_unknown_keys(const YAML::Node& n, const std::vector<std::string>& allowed, const std::string& section,
                         const std::string& what, const WhereFn& where);

/// The `halving:` section: {eta: 3, rungs: [1, 3, 9], metric: val.top1} (metric defaults to
/// `default_metric`). ConfigErrors name the key. Sets train.epochs to the last rung and
/// train.eval_every to 1 in spec->common, and refuses a sweep that sets train.epochs itself.
void parse_halving(const YAML::Node& section, const WhereFn& where, SweepSpec* spec);

/// The overrides of run (point, seed): the sweep's `set:`, the point's, the seed, the name, then the CLI's.
std::vector<std::string> run_overrides(const SweepSpec& spec, size_t point, int64_t seed, const SweepOptions& o);

/// Readies run folder `run` for (re)training: true when it has a checkpoint to resume; a folder that
/// started but never checkpointed is removed so that the run starts afresh.
bool prepare_run_folder(const std::filesystem::path& run);

/// Starts `smlab train` (options.smlab_binary) for run (point, seed) in folder `run` as a child process whose
/// output goes to <run>.log; `resume` continues the run's checkpoint; `extra` flags are appended.
pid_t spawn_train(const SweepSpec& spec, size_t point, int64_t seed, const std::filesystem::path& run, bool resume,
                  const SweepOptions& o, const std::string& device, const std::vector<std::string>& extra = {});

/// Where jobs-mode slot `slot` trains: --device when given, else cuda:(slot % GPUs) with several GPUs, else "".
std::string slot_device(const SweepOptions& o, int slot);

/// Runs (or resumes) a halving sweep (see docs/training.md, "Successive halving"), in this process or
/// with options.jobs > 1 as `smlab train` processes: repeatedly promotes a point in the top 1/eta of its
/// rung, highest rung first, else starts the next point at rung 0. A promoted run resumes from its
/// checkpoint. Rung results go to <dir>/halving.json, so a killed sweep replays its decisions and
/// redoes no finished rung. Returns that file's content.
nlohmann::json run_halving(const SweepSpec& spec, const SweepOptions& options);

/// Writes the final tables and prints where they are and the best point.
void print_sweep_outcome(const SweepSpec& spec, const SweepOptions& options);

/// The points of a `random:` section. A ConfigError naming the file, line and key (e.g.
/// random.space.optim.lr) for an unknown distribution, an empty or reversed range, a non-positive
/// log-uniform bound, an empty choice, or samples < 1.
std::vector<SweepPoint> random_points(const YAML::Node& section, const WhereFn& where);

}  // namespace smlab::trainers
