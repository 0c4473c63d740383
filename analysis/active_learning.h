// Pool-based active-learning simulation (`smlab active-learn`): how many labels uncertainty
// sampling saves against random sampling on a labelled text pool whose labels are hidden and
// revealed as they are "bought".
//
// For each seed s, the labelled set starts as a seeded random subset of sizes[0] training rows
// (the same for every strategy, so round 0 is trained once per seed). Each round trains the config
// on the labelled rows (data.train_rows), records the run's metric (default test.macro_recall),
// then, unless it is the last round, scores every training row with the round's best checkpoint
// and buys the next sizes[k+1] - sizes[k] unlabelled rows that `strategy` ranks first (margin,
// entropy, least_confident; `random` draws them with seed s). Validation stays the config's own
// split for model selection in every arm.
//
//   <output>/seed<s>/round0-<n0>/            labelled.txt, run/       (shared by the strategies)
//   <output>/<strategy>/seed<s>/round<k>-<nk>/ labelled.txt, pool.csv (the scores it bought by), run/
//   <output>/al_summary.json, al_report.md, al_curves.csv, al_curves.svg
//
// Seeded and resumable: labelled.txt is written (atomically) before its round trains, a finished
// round (summary.json) is reused, an unfinished one resumes from its checkpoint, so a killed
// simulation rerun with the same command buys the same rows and ends with the same table.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace smlab::analysis {

struct ActiveLearningOptions {
  std::vector<int64_t> sizes = {1000, 2000, 4000, 8000, 16000};  ///< labelled rows per round, increasing
  std::vector<std::string> strategies = {"margin", "random"};     ///< margin, entropy, least_confident, random
  std::vector<int64_t> seeds = {0, 1, 2};
  std::string metric = "test.macro_recall";  ///< summary.json path compared across strategies
  int64_t min_steps = 0;  ///< train.epochs is raised so that every round trains at least this many steps
  std::filesystem::path output_dir;
  std::vector<std::string> overrides;  ///< applied to every round before the simulation's own keys
};

/// Runs (or resumes) the simulation of `config_file` (a text_tsv classification config) and returns
/// al_summary.json's content plus "markdown". UserError for sizes that do not increase or exceed the
/// pool, an unknown strategy, or a config that is not text_tsv.
nlohmann::json simulate_active_learning(const std::filesystem::path& config_file, const ActiveLearningOptions& options);

/// Labels the strategy needs to reach `target` on its mean curve (sizes, means), by linear
/// interpolation in log2(labels) between the first pair of rounds that crosses it; -1 when it never does.
double labels_to_reach(const std::vector<int64_t>& sizes, const std::vector<double>& means, double target);

}  // namespace smlab::analysis
