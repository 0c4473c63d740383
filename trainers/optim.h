// Optimizers, learning-rate schedules and losses, each a registry selected by config name.
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>

#include "core/components.h"

namespace smlab::trainers {

// ---- optimizers ("optim" section) -------------------------------------------------------
using OptimizerFactory = std::function<std::unique_ptr<torch::optim::Optimizer>(
    std::vector<torch::optim::OptimizerParamGroup> groups, const config::Config& cfg)>;
ComponentRegistry<OptimizerFactory>& optimizer_registry();

/// Builds the configured optimizer over `model`'s trainable parameters. With
/// optim.no_decay_norm_bias, parameters of rank <= 1 (biases, norm scales) get no weight decay.
std::unique_ptr<torch::optim::Optimizer> build_optimizer(torch::nn::Module& model, const config::Config& cfg);

/// Sets the learning rate of every parameter group.
void set_lr(torch::optim::Optimizer& opt, double lr);

/// Scales the gradients of `params` so that their global L2 norm is at most max_norm; returns the
/// norm before clipping as a device scalar. The arithmetic of torch::nn::utils::clip_grad_norm_
/// (norm of the per-tensor norms, coefficient max_norm / (norm + 1e-6) clamped to 1), without its
/// host synchronisation, so it can run inside a CUDA graph and does not stall the GPU.
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// ---- schedules ("sched" section) ---------------------------------------------------------
/// LR multiplier as a function of the optimizer step (0-based), before warmup is applied.
using Schedule = std::function<double(int64_t step)>;
struct ScheduleContext {
  int64_t total_steps = 1;
  int64_t steps_per_epoch = 1;
  int64_t warmup_steps = 0;
};
using ScheduleFactory = std::function<Schedule(const config::Config& cfg, const ScheduleContext& ctx)>;
ComponentRegistry<ScheduleFactory>& scheduler_registry();

/// The full LR at `step`: base_lr * warmup(step) * schedule(step).
/// warmup(step) = min(1, (step + 1) / warmup_steps) for step < warmup_steps.
class LRSchedule {
 public:
  LRSchedule(const config::Config& cfg, double base_lr, ScheduleContext ctx);
  double lr_at(int64_t step) const;

 private:
  double base_lr_;
  ScheduleContext ctx_;
  Schedule schedule_;
};

// ---- losses ("loss" section) -------------------------------------------------------------
using LossFn = std::function<torch::Tensor(const torch::Tensor& output, const torch::Tensor& target)>;
using LossFactory = std::function<LossFn(const config::Config& cfg)>;
ComponentRegistry<LossFactory>& loss_registry();

// ---- metric names ("train.best_metric", results tables) -----------------------------------
/// Metric names with their meaning; `make` says which task computes it ("classification" or "regression").
using MetricTask = std::function<std::string()>;
ComponentRegistry<MetricTask>& metric_registry();

void register_builtin();

}  // namespace smlab::trainers
