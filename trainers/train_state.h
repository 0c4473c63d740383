// Where training stands (TrainState), as stored in a checkpoint's "state" record. Kept apart from
// checkpoint.h so that the metadata parser builds without LibTorch (tests/fuzz/fuzz_metadata.cpp).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace smlab::trainers {

/// Where training stands: enough to continue exactly where it stopped.
struct TrainState {
  int64_t epoch = 0;         ///< epoch in progress (or next to start when batch == 0)
  int64_t batch = 0;         ///< next batch index within `epoch`
  int64_t step = 0;          ///< optimizer steps taken
  int64_t samples = 0;       ///< training samples processed
  double best = 0;           ///< best value of the selection metric so far
  bool has_best = false;
  int64_t best_epoch = -1;   ///< completed epochs when the best evaluation ran
  int64_t best_step = -1;    ///< optimizer step of the best evaluation
  int64_t last_eval_step = -1;  ///< optimizer step of the latest evaluation (no second one at the same step)
  int64_t bad_evals = 0;     ///< evaluations since the last improvement (early stopping)
  double loss_sum = 0;       ///< running train-loss sum of the current logging window
  int64_t loss_count = 0;
  double elapsed = 0;        ///< training seconds before this process
  double wall = 0;           ///< wall-clock seconds of earlier processes (setup and evaluation included)
  nlohmann::json last_val;   ///< metrics of the latest validation (null before the first one)
  nlohmann::json to_json() const;
  /// Throws UserError naming `where` (the checkpoint) and the missing or mistyped field.
  static TrainState from_json(const nlohmann::json& j, const std::string& where = "checkpoint");
};

}  // namespace smlab::trainers
