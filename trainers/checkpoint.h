// Checkpoints: model, optimizer, training position, RNG state, EMA weights and loss scaler,
// written atomically (temporary file, fsync, rename). Resuming from one continues exactly.
#pragma once
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "models/model.h"
#include "trainers/train_state.h"

namespace smlab::trainers {

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
