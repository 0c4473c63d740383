// The trainer's implementation class, shared by trainer.cpp (setup, run, summary) and
// train_loop.cpp (the step, validation, checkpoints). Internal to trainers/.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <optional>

#include "core/progress.h"
#include "core/run_dir.h"
#include "trainers/cuda_graph.h"
#include "trainers/distributed.h"
#include "trainers/finetune.h"
#include "trainers/trainer.h"

namespace smlab::trainers::detail {

/// The signal (SIGINT/SIGTERM) received during training, 0 if none.
int signal_received();

/// Deterministic generator for step-level randomness (augmentation): a function of
/// (seed, epoch, batch) only, so a resumed run draws the same values.
at::Generator step_generator(uint64_t seed, int64_t epoch, int64_t batch);

inline torch::Tensor to_device(const torch::Tensor& t, const c10::Device& d) {
  return t.device() == d ? t : t.to(d, /*non_blocking=*/true);
}

class TrainerImpl : public Trainer {
 public:
  TrainerImpl(const config::Config& cfg, const TrainOptions& opt);

  TrainResult run();

  // Trainer (the hooks' view)
  int64_t step() const override { return st_.step; }
  int64_t epoch() const override { return st_.epoch; }
  double last_loss() const override { return last_loss_; }
  models::Model& model() override { return *model_; }
  const std::filesystem::path& run_dir() const override { return run_ ? run_->path() : opt_.run_dir; }
  void request_stop() override { stop_requested_ = true; }
  const TrainerOptions& options() const override { return o_; }
  TrainState& state() override { return st_; }
  CheckpointExtras& extras() override { return extras_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  const c10::Device& device() const override { return device_; }
  bool is_main() const override { return main_; }
  int64_t batches_per_epoch() const override { return train_loader_->batches_per_epoch(); }
  bool at_epoch_end() const override { return train_loader_->position() >= train_loader_->batches_per_epoch(); }
  Outcome outcome() const override { return outcome_; }
  at::Tensor last_confusion() const override { return last_confusion_; }
  void stop(Outcome outcome) override { outcome_ = outcome; }
  void validate(bool closing) override;
  bool improved() const override { return improved_; }
  const std::string& best_metric() const override { return best_name_; }
  void save_last() override;

 private:
  // trainer.cpp: setup and the run
  void setup();
  void setup_runtime();
  void setup_data();
  void setup_model();
  void setup_schedule();
  void setup_run_dir();
  void setup_finetune(bool resuming);
  void unfreeze();
  void log_start() const;
  void finish_resumed_run();
  nlohmann::json summarize();
  std::optional<nlohmann::json> already_finished();
  /// Wall-clock seconds of the whole run: earlier processes (from the checkpoint) plus this one.
  double wall_seconds() const;
  void test_best(nlohmann::json& summary);

  // train_loop.cpp: the epoch, the step, evaluation
  void train_epoch(int64_t epoch);
  torch::Tensor forward_backward(torch::Tensor x, const torch::Tensor& y, bool sync);
  void augment_train_batch(torch::Tensor& x, torch::Tensor& y, at::Generator& gen);
  bool optimizer_step();
  bool stop_now();
  bool log_step(bool stop, bool epoch_end);
  void log(const nlohmann::json& rec);
  bool weights_finite();
  nlohmann::json log_train_window();
  void select_best(const nlohmann::json& val);

  // Hook dispatch: core hooks, then optional (train.hooks), then the caller's (TrainOptions::hooks).
  template <class F>
  void each_hook(F&& f, bool core_last = false) {
    if (!core_last)
      for (auto& h : core_hooks_) f(*h);
    for (auto& h : extra_hooks_) f(*h);
    if (core_last)
      for (auto& h : core_hooks_) f(*h);
  }

  config::Config cfg_;
  TrainOptions opt_;
  TrainerOptions o_;
  c10::Device device_;
  std::optional<RunDir> run_;  // written by rank 0 only; other ranks hold it only to resume
  DistEnv dist_env_;
  std::unique_ptr<Distributed> dist_;
  std::unique_ptr<DataParallel> ddp_;
  bool main_ = true;
  std::vector<std::shared_ptr<HookBase>> core_hooks_, extra_hooks_;
  std::shared_ptr<datasets::Dataset> train_ds_, val_ds_, test_ds_;
  std::unique_ptr<datasets::Loader> train_loader_, val_loader_, test_loader_;
  models::ModelPtr model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<LRSchedule> schedule_;
  std::unique_ptr<GraphedStep> graph_;  // train.cuda_graphs: the captured training step
  LossFn loss_fn_;
  datasets::AugmentPipeline aug_train_;  // augment.train, built once from its specs
  TrainState st_;
  CheckpointExtras extras_;
  int64_t total_steps_ = 1;
  std::string best_name_;
  bool maximize_ = true;
  bool improved_ = false;
  double last_loss_ = 0;
  torch::Tensor window_loss_;  // device-side sum of losses since the last check (no per-step sync)
  int64_t window_count_ = 0;
  bool stop_requested_ = false;
  Outcome outcome_ = Outcome::Completed;
  at::Tensor last_confusion_;  ///< of the latest validation (classification)
  Progress* progress_ = nullptr;  // the current epoch's display
  std::chrono::steady_clock::time_point t0_;
  std::chrono::steady_clock::time_point wall0_ = std::chrono::steady_clock::now();  ///< this process's start
  double wall_before_ = 0;  ///< st_.wall when resumed
  Freezer freezer_;          // finetune.freeze
  nlohmann::json init_report_;  // finetune.init: what was loaded and skipped (new runs only)
};

}  // namespace smlab::trainers::detail
