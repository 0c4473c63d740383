// Shared by the file-backed datasets: which records of a source make up a split.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "datasets/dataset.h"

namespace smlab::datasets::detail {

/// Where the records of `split` come from when only some split paths are configured:
///   val:  `val` when set, else a seeded `val_fraction` of train (train keeps the rest),
///         else `test`;  test: `test` when set, else the val split.
struct SplitPlan {
  std::string path;                  ///< source to read
  bool hold_out = false;             ///< select from `path` by the seeded permutation
  bool take_held_out = false;        ///< true: the held-out part; false: the rest
};

inline SplitPlan plan_split(Split split, const std::string& train, const std::string& val, const std::string& test,
                            double val_fraction, const std::string& name) {
  if (train.empty()) throw UserError(name + ": data.train is required (path of the training data)");
  const bool carve = val.empty() && val_fraction > 0;
  auto val_plan = [&]() -> SplitPlan {
    if (!val.empty()) return {val, false, false};
    if (carve) return {train, true, true};
    if (!test.empty()) return {test, false, false};
    throw UserError(name + ": no validation data: set data.val, data.val_fraction > 0 or data.test");
  };
  switch (split) {
    case Split::Train: return {train, carve, false};
    case Split::Val: return val_plan();
    case Split::Test: return test.empty() ? val_plan() : SplitPlan{test, false, false};
  }
  return {};
}

/// Sorted indices of the held-out part (take_held_out) or of the rest, of n records.
inline std::vector<int64_t> hold_out_indices(int64_t n, double fraction, uint64_t seed, bool take_held_out) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
  const auto perm = torch::randperm(n, gen, torch::kInt64);
  const int64_t k = std::min<int64_t>(n, static_cast<int64_t>(std::llround(static_cast<double>(n) * fraction)));
  auto part = take_held_out ? perm.slice(0, 0, k) : perm.slice(0, k, n);
  part = std::get<0>(part.sort());
  return std::vector<int64_t>(part.data_ptr<int64_t>(), part.data_ptr<int64_t>() + part.numel());
}

/// Fold `fold` of `folds` over a seeded permutation of n records: contiguous chunks of the
/// permutation whose sizes differ by at most one (the first n % folds chunks are one longer, as
/// numpy.array_split). Returns the fold's records (take_fold) or all the others, each in
/// permutation order.
inline std::vector<int64_t> kfold_part(int64_t n, int64_t folds, int64_t fold, uint64_t seed, bool take_fold) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
  const auto perm = torch::randperm(n, gen, torch::kInt64);
  const int64_t* p = perm.data_ptr<int64_t>();
  const int64_t base = n / folds, extra = n % folds;
  const int64_t begin = fold * base + std::min(fold, extra);
  const int64_t end = begin + base + (fold < extra ? 1 : 0);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i)
    if ((i >= begin && i < end) == take_fold) out.push_back(p[i]);
  return out;
}

}  // namespace smlab::datasets::detail
