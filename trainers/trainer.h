// The Trainer: builds everything an experiment config names, trains with checkpoints that
// resume exactly, evaluates, and writes the run folder (metrics.jsonl, TensorBoard, summary.json).
//
// Hooks (in the style of detectron2's HookBase) observe the loop; before_step must stay cheap.
//
// Example:
//   auto cfg = smlab::config::load("experiments/quickstart.yaml");
//   auto result = smlab::trainers::train(cfg, {});
//   std::cout << result.summary.dump(2);
#pragma once
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/config.h"
#include "datasets/loader.h"
#include "models/model.h"
#include "trainers/optim.h"

namespace smlab::trainers {

class Trainer;

class HookBase {
 public:
  virtual ~HookBase() = default;
  virtual void before_train(Trainer&) {}
  virtual void before_step(Trainer&) {}
  virtual void after_step(Trainer&) {}
  /// After each evaluation, with the validation metrics ("val/top1", ...).
  virtual void after_eval(Trainer&, const nlohmann::json& metrics) {}
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
};

/// Trains `cfg` (or resumes the run in options.run_dir). Throws UserError for bad input.
TrainResult train(const config::Config& cfg, const TrainOptions& options = {});

/// Loader options for evaluation: data.eval_batch_size (or data.batch_size), in order, unsharded,
/// delivered on `device` when it is a GPU and no augment.eval op needs the batch on the host.
datasets::LoaderOptions eval_loader_options(const config::Config& cfg, const c10::Device& device = c10::kCPU);

/// Runs `model` in eval mode over `loader` the way evaluation does (augment.eval, channels_last,
/// train.amp autocast) and calls fn(float outputs, CPU targets) per batch; fn returns false to stop.
void for_each_eval_batch(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                         const config::Config& cfg,
                         const std::function<bool(const torch::Tensor&, const torch::Tensor&)>& fn);

/// Evaluates `model` on every batch of `loader`: {"loss", "top1", ...} for the data's task.
nlohmann::json evaluate(models::Model& model, datasets::Loader& loader, const LossFn& loss, const c10::Device& device,
                        const config::Config& cfg);

/// Whether a larger value of the named metric is better (false for loss, nll, ece, mae, rmse,
/// mape, smape, mase). Accepts "split.metric" paths too ("test.mae").
bool larger_is_better(const std::string& metric);

/// The metric that selects the best checkpoint, and whether larger is better.
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
};

}  // namespace smlab::trainers
