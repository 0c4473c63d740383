// TrainerOptions: every setting the trainer reads, filled once from a validated experiment config
// (experiment.*, data.* loader settings, augment.*, train.*, finetune.*), with the string modes
// (train.amp, train.progress, train.best_mode) parsed into enums. The training loop reads this
// struct, never the config's strings.
//
// Example:
//   const auto opts = smlab::trainers::TrainerOptions::from_config(cfg);
//   if (opts.amp == smlab::Amp::FP16) { ... }
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/autocast.h"
#include "core/config.h"
#include "core/progress.h"
#include "datasets/augment.h"

namespace smlab::trainers {

/// train.best_mode: whether a larger or smaller best_metric is better (Auto: by the metric's name).
enum class BestMode { Auto, Max, Min };

struct TrainerOptions {
  // experiment.*
  uint64_t seed = 0;
  std::string device = "auto";  ///< as written; resolve_device() turns it into a c10::Device
  int threads = 0;
  bool deterministic = true;
  bool fill_uninitialized = false;

  // data.* (loader settings; the dataset's own parameters stay with the dataset)
  int64_t batch_size = 64;
  int64_t eval_batch_size = 0;  ///< 0 = batch_size
  bool shuffle = true;
  bool drop_last = false;
  int workers = 2;
  int prefetch = 2;

  // augment.*
  std::vector<datasets::AugmentSpec> augment_train, augment_eval;  ///< names and their resolved params

  // train.*
  int64_t epochs = 10;
  int64_t max_steps = 0;
  int64_t grad_accum = 1;
  double grad_clip = 0;
  Amp amp = Amp::None;
  bool channels_last = false;
  bool cuda_graphs = false;
  double ema_decay = 0;
  int64_t eval_every = 1;
  int64_t eval_every_steps = 0;
  int64_t log_every = 20;
  int64_t checkpoint_every = 0;
  int64_t early_stop_patience = 0;
  std::string best_metric = "auto";
  BestMode best_mode = BestMode::Auto;
  Progress::Mode progress = Progress::Mode::Plain;  ///< "auto" is resolved (bar on a terminal, else plain)
  bool tensorboard = true;
  int64_t tb_histogram_every = 500;  ///< TensorBoard weight and gradient histograms every N steps (0 = off)
  std::vector<std::string> hooks;  ///< optional hooks by registered name (core hooks are not listed)

  // finetune.*
  std::string finetune_init;
  bool finetune_strict = true;
  std::vector<std::string> freeze;
  int64_t unfreeze_at_epoch = 0;

  // sched.warmup_epochs and optim.lr (the step count of the warmup is the trainer's to compute)
  double warmup_epochs = 0;
  double lr = 0.1;

  /// "file:line: key" of each setting above, for messages that point the user at it.
  std::string where(const std::string& key) const;

  /// Reads every field from `cfg` (validated: every key present, in range); the modes become enums.
  static TrainerOptions from_config(const config::Config& cfg);

 private:
  std::map<std::string, config::Origin> origins_;  // for where()
  std::string source_;
};

/// "file:line: key" for messages about a setting of `cfg` (the key alone when its origin is unknown).
std::string setting_origin(const config::Config& cfg, const std::string& key);

}  // namespace smlab::trainers
