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
#include <functional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "core/config.h"
#include "trainers/sweep.h"

namespace smlab::trainers {

using WhereFn = std::function<config::Origin(const std::string& key)>;

/// The points of a `random:` section. A ConfigError naming the file, line and key (e.g.
/// random.space.optim.lr) for an unknown distribution, an empty or reversed range, a non-positive
/// log-uniform bound, an empty choice, or samples < 1.
std::vector<SweepPoint> random_points(const YAML::Node& section, const WhereFn& where);

}  // namespace smlab::trainers
