// Uncertainty of a classifier's predictions, and which examples to label next (active learning).
//
// From one model's class probabilities p [n, C] (higher score = less sure, label first):
//   entropy          -sum_c p_c ln p_c  (0 ln 0 = 0)
//   margin           1 - (p_(1) - p_(2)), the gap between the two largest probabilities
//   least_confident  1 - p_(1)
// From an ensemble's members' probabilities P [M, n, C] (disagreement):
//   variance            the across-member variance of each class probability, averaged over classes
//   mutual_information  H(mean_m p_m) - mean_m H(p_m) (BALD: Houlsby et al. 2011)
// and `random` (seeded), the baseline every strategy is compared with.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace smlab::analysis {

/// Per-example uncertainty [n] (float64) by `strategy` from probabilities [M, n, C] (M = 1 for the
/// single-model strategies, which use the members' mean when M > 1).
torch::Tensor uncertainty(const torch::Tensor& probs, const std::string& strategy, uint64_t seed = 0);

/// The strategies, single-model first.
const std::vector<std::string>& uncertainty_strategies();

/// The ids and class probabilities of a `smlab score` output (CSV with p_<class> columns, or JSONL
/// with "probs"). Throws UserError naming the file when it holds no probabilities (a regression
/// artifact's values) or a row is malformed.
struct ScoredFile {
  std::vector<std::string> ids, classes;
  torch::Tensor probs;  ///< [n, C] float64
};
ScoredFile read_scored(const std::filesystem::path& path);

}  // namespace smlab::analysis
