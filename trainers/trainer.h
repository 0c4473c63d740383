// The Trainer: builds everything an experiment config names, trains with checkpoints that
// resume exactly, evaluates, and writes the run folder (metrics.jsonl, TensorBoard, summary.json).
//
// Behaviour around the loop is written as hooks (in the style of detectron2's HookBase): the core
// hooks (evaluation, checkpoint, early_stopping, tensorboard, ema) are on by their own settings,
// optional ones are chosen by name in `train.hooks`, and a program may pass its own in
// TrainOptions::hooks. trainers/hooks.h has the registry; docs/training.md shows how to write one.
//
// Example:
//   auto cfg = smlab::config::load("experiments/quickstart.yaml");
//   auto result = smlab::trainers::train(cfg, {});
//   std::cout << result.summary.dump(2);
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/config.h"
#include "datasets/loader.h"
#include "models/model.h"
#include "trainers/checkpoint.h"
#include "trainers/optim.h"
#include "trainers/trainer_options.h"

namespace smlab::trainers {

class Trainer;

/// Observes and extends the training loop. Every hook point is a no-op by default.
///
/// Order: hooks run in a fixed order: the core hooks (evaluation, checkpoint, early_stopping,
/// tensorboard, ema, those that are on), then the optional hooks of train.hooks in their listed
/// order, then TrainOptions::hooks. after_step is the exception: the core hooks run last there, so
/// that a step's evaluation and periodic checkpoint see what the other hooks did in that step.
/// Hooks run on every rank unless they check Trainer::is_main(); before_step must stay cheap.
class HookBase {
 public:
  virtual ~HookBase() = default;
  /// Everything is built and, when resuming, restored; nothing is trained yet.
  virtual void before_train(Trainer&) {}
  /// A batch is about to be trained on.
  virtual void before_step(Trainer&) {}
  /// The gradients of an optimizer step are complete (accumulated, fp16-unscaled, not yet clipped).
  /// Not called under train.cuda_graphs (the captured graph holds the whole step).
  virtual void on_gradients(Trainer&) {}
  /// The optimizer updated the weights (not called for a step that fp16's loss scaler skipped).
  virtual void after_update(Trainer&) {}
  /// A `train` record is about to be written; a hook may add numeric values to it (they go to
  /// metrics.jsonl and to TensorBoard as train/<key>).
  virtual void on_train_record(Trainer&, nlohmann::json& record) {}
  /// A record was written to metrics.jsonl ("split": train, val or test). Rank 0 only.
  virtual void on_record(Trainer&, const nlohmann::json& record) {}
  /// After each optimizer step (its train record written when one was due).
  virtual void after_step(Trainer&) {}
  /// At the end of each epoch (Trainer::epoch() has advanced), and when train.max_steps stops the
  /// run mid-epoch: the evaluation hook evaluates here, then the checkpoint hook writes last.pt.
  virtual void after_epoch(Trainer&) {}
  /// The validation split is about to be evaluated (the EMA hook swaps its weights in).
  virtual void before_eval(Trainer&) {}
  /// After each evaluation, with its `val` record ("val/top1", ...). The core hooks see the evaluated
  /// weights (the checkpoint hook saves them as best.pt); the EMA hook, the last core hook, swaps the
  /// training weights back, so the other hooks see those. A NaN/Inf validation loss stops the run:
  /// the record (not logged) then holds only the loss, and Trainer::outcome() is NonFinite.
  virtual void after_eval(Trainer&, const nlohmann::json& metrics) {}
  /// Training stops before its planned end (a stop request, a signal, early stopping; not for a
  /// NaN/Inf loss): the checkpoint hook writes last.pt so that the run can be resumed.
  virtual void on_stop(Trainer&) {}
  /// summary.json is written (rank 0), or this rank is done.
  virtual void after_train(Trainer&) {}
};

struct TrainOptions {
  std::filesystem::path run_dir;  ///< explicit folder for a new run ("" = runs/<exp>/<stamp>-<hash>)
  bool resume = false;            ///< continue the run in run_dir from its last checkpoint
  std::vector<std::shared_ptr<HookBase>> hooks;
};

/// Why training ended.
enum class Outcome { Completed, EarlyStopped, MaxSteps, NonFinite };

struct TrainResult {
  std::filesystem::path run_dir;
  nlohmann::json summary;
  Outcome outcome = Outcome::Completed;
  int signal = 0;  ///< SIGINT/SIGTERM that stopped the run after its checkpoint (0: none); `smlab train` exits 128 + signal
};

/// Trains `cfg` (or resumes the run in options.run_dir). Throws UserError for bad input.
TrainResult train(const config::Config& cfg, const TrainOptions& options = {});

/// Loader options for evaluation: data.eval_batch_size (or data.batch_size), in order, unsharded,
/// delivered on `device` when it is a GPU and no augment.eval op needs the batch on the host.
datasets::LoaderOptions eval_loader_options(const TrainerOptions& opts, const c10::Device& device = c10::kCPU);
datasets::LoaderOptions eval_loader_options(const config::Config& cfg, const c10::Device& device = c10::kCPU);

/// Runs `model` in eval mode over `loader` the way evaluation does (augment.eval, channels_last,
/// train.amp autocast) and calls fn(float outputs, CPU targets) per batch; fn returns false to stop.
using EvalBatchFn = std::function<bool(const torch::Tensor&, const torch::Tensor&)>;
void for_each_eval_batch(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                         const TrainerOptions& opts, const EvalBatchFn& fn);
void for_each_eval_batch(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                         const config::Config& cfg, const EvalBatchFn& fn);

/// Evaluates `model` on every batch of `loader`: {"loss", "top1", ...} for the data's task.
/// `confusion`, when given and the task is classification, receives the [K, K] int64 confusion matrix.
nlohmann::json evaluate(models::Model& model, datasets::Loader& loader, const LossFn& loss, const c10::Device& device,
                        const TrainerOptions& opts, at::Tensor* confusion = nullptr);
nlohmann::json evaluate(models::Model& model, datasets::Loader& loader, const LossFn& loss, const c10::Device& device,
                        const config::Config& cfg);

/// Whether a larger value of the named metric is better (false for loss, nll, ece, mae, rmse,
/// mape, smape, mase). Accepts "split.metric" paths too ("test.mae").
bool larger_is_better(const std::string& metric);

/// Whether a summary.json status says the run trained to its end: "completed", "max_steps" or
/// "early_stopped" (not "interrupted", "nonfinite_loss", or a sweep's "pruned ...").
bool finished_status(const std::string& status);

/// The metric that selects the best checkpoint, and whether larger is better.
std::pair<std::string, bool> selection_metric(const TrainerOptions& opts, datasets::Task task);
std::pair<std::string, bool> selection_metric(const config::Config& cfg, datasets::Task task);

/// Public view of a running trainer, for hooks.
class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual int64_t step() const = 0;
  virtual int64_t epoch() const = 0;
  virtual double last_loss() const = 0;
  virtual models::Model& model() = 0;
  virtual const std::filesystem::path& run_dir() const = 0;
  /// Asks the loop to stop after the current step (and checkpoint first).
  virtual void request_stop() = 0;

  /// The settings the run was configured with.
  virtual const TrainerOptions& options() const = 0;
  /// Position, best value and patience count: what last.pt saves.
  virtual TrainState& state() = 0;
  /// Tensors saved with last.pt besides the model and optimizer (the EMA weights live here).
  virtual CheckpointExtras& extras() = 0;
  virtual torch::optim::Optimizer& optimizer() = 0;
  virtual const c10::Device& device() const = 0;
  /// Whether this process writes the run folder (rank 0, or the only process).
  virtual bool is_main() const = 0;
  virtual int64_t batches_per_epoch() const = 0;
  /// Whether the step just taken finished its epoch.
  virtual bool at_epoch_end() const = 0;
  /// How training ends so far (Completed while it goes on).
  virtual Outcome outcome() const = 0;
  /// The confusion matrix ([K, K] int64, rows = true class) of the latest validation of a classifier;
  /// undefined before the first one and for regression.
  virtual at::Tensor last_confusion() const { return {}; }
  /// Ends training with `outcome` (EarlyStopped, NonFinite) after the current hook point.
  virtual void stop(Outcome outcome) = 0;

  /// Evaluates the validation split now, logs its record, updates the best value and the patience
  /// count, and calls before_eval/after_eval. `closing` ends the epoch's progress display.
  virtual void validate(bool closing) = 0;
  /// Whether the latest evaluation improved the selection metric (it ran at the current step).
  virtual bool improved() const = 0;
  /// The metric that selects the best checkpoint (train.best_metric resolved).
  virtual const std::string& best_metric() const = 0;
  /// Writes checkpoints/last.pt (rank 0); non-finite weights stop the run instead (NonFinite).
  virtual void save_last() = 0;
};

}  // namespace smlab::trainers
