// Checkpoints: model, optimizer, training position, RNG state, EMA weights and loss scaler,
// written atomically (temporary file, fsync, rename). Resuming from one continues exactly.
#pragma once
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "models/model.h"

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
  static TrainState from_json(const nlohmann::json& j);
};

struct CheckpointExtras {
  std::vector<torch::Tensor> ema;  ///< EMA copies of parameters and buffers (empty = off)
  torch::Tensor scaler_scale, scaler_growth;  ///< fp16 loss scaler (undefined = off)
};

void save_checkpoint(const std::filesystem::path& path, models::Model& model, torch::optim::Optimizer* optimizer,
                     const TrainState& state, const CheckpointExtras& extras = {});

/// Loads into `model` (and `optimizer`, `extras` when given); restores the RNG state.
/// Throws UserError naming the file when it is missing, unreadable, or fails its records' CRC-32 check.
TrainState load_checkpoint(const std::filesystem::path& path, models::Model& model,
                           torch::optim::Optimizer* optimizer = nullptr, CheckpointExtras* extras = nullptr,
                           bool restore_rng = true);

}  // namespace smlab::trainers
