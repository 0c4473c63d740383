#include "trainers/optim.h"
#include "trainers/hooks.h"
#include "trainers/sgd.h"

#include <torch/torch.h>

#include <cmath>

namespace smlab::trainers {

using config::Schema;
using config::Type;

ComponentRegistry<OptimizerFactory>& optimizer_registry() {
  static ComponentRegistry<OptimizerFactory> r("optimizer");
  return r;
}
ComponentRegistry<ScheduleFactory>& scheduler_registry() {
  static ComponentRegistry<ScheduleFactory> r("scheduler");
  return r;
}
ComponentRegistry<LossFactory>& loss_registry() {
  static ComponentRegistry<LossFactory> r("loss");
  return r;
}
ComponentRegistry<MetricTask>& metric_registry() {
  static ComponentRegistry<MetricTask> r("metric");
  return r;
}

std::unique_ptr<torch::optim::Optimizer> build_optimizer(torch::nn::Module& model, const config::Config& cfg) {
  const bool split = cfg.get<bool>("optim.no_decay_norm_bias");
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model.parameters()) {
    if (!p.requires_grad()) continue;
    (split && p.dim() <= 1 ? no_decay : decay).push_back(p);
  }
  const auto& entry = optimizer_registry().get(cfg.name_of("optim"));
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay);
  auto opt = entry.make(std::move(groups), cfg);
  if (!no_decay.empty()) {
    // Same options as the first group, with weight decay 0.
    std::unique_ptr<torch::optim::OptimizerOptions> o = opt->param_groups()[0].options().clone();
    if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(o.get())) sgd->weight_decay(0);
    if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(o.get())) adamw->weight_decay(0);
    opt->add_param_group(torch::optim::OptimizerParamGroup(no_decay, std::move(o)));
  }
  return opt;
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads, norms;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({});
  for (const auto& g : grads) norms.push_back(g.norm(2));
  auto total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  auto coef = torch::clamp(max_norm / (total + 1e-6), std::nullopt, 1.0);
  for (auto& g : grads) g.mul_(coef);
  return total;
}

LRSchedule::LRSchedule(const config::Config& cfg, double base_lr, ScheduleContext ctx)
    : base_lr_(base_lr), ctx_(ctx), schedule_(scheduler_registry().get(cfg.name_of("sched")).make(cfg, ctx)) {}

double LRSchedule::lr_at(int64_t step) const {
  double warm = 1.0;
  if (ctx_.warmup_steps > 0 && step < ctx_.warmup_steps) warm = static_cast<double>(step + 1) / ctx_.warmup_steps;
  return base_lr_ * warm * schedule_(step);
}

namespace {

Schema lr_schema(double lr) {
  return Schema()
      .number("lr", lr, "base learning rate", 0.0, std::nullopt, true)
      .number("weight_decay", 0.0, "L2 weight decay (decoupled for adamw)", 0.0)
      .boolean("no_decay_norm_bias", true, "no weight decay on biases and normalisation weights");
}

void register_optimizers() {
  optimizer_registry().add(
      "sgd", {"stochastic gradient descent with momentum and optional Nesterov",
              lr_schema(0.1).number("momentum", 0.9, "momentum factor", 0.0, 1.0).boolean("nesterov", true, "Nesterov momentum"),
              [](std::vector<torch::optim::OptimizerParamGroup> groups, const config::Config& cfg) {
                const double momentum = cfg.get<double>("optim.momentum");
                const bool nesterov = cfg.get<bool>("optim.nesterov") && momentum > 0;
                torch::optim::SGDOptions o(cfg.get<double>("optim.lr"));
                o.momentum(momentum).nesterov(nesterov).weight_decay(cfg.get<double>("optim.weight_decay"));
                return std::unique_ptr<torch::optim::Optimizer>(new SGD(std::move(groups), o));  // trainers/sgd.h
              }});
  optimizer_registry().add(
      "adamw", {"Adam with decoupled weight decay (Loshchilov & Hutter)",
                lr_schema(1e-3)
                    .list("betas", Type::FloatList, "[0.9, 0.999]", "coefficients of the running averages", 0.0, 1.0)
                    .number("eps", 1e-8, "denominator epsilon", 0.0, std::nullopt, true),
                [](std::vector<torch::optim::OptimizerParamGroup> groups, const config::Config& cfg) {
                  const auto betas = cfg.get<std::vector<double>>("optim.betas");
                  TORCH_CHECK(betas.size() == 2, "optim.betas needs two values, got ", betas.size());
                  torch::optim::AdamWOptions o(cfg.get<double>("optim.lr"));
                  o.betas({betas[0], betas[1]}).eps(cfg.get<double>("optim.eps")).weight_decay(cfg.get<double>("optim.weight_decay"));
                  return std::unique_ptr<torch::optim::Optimizer>(new torch::optim::AdamW(std::move(groups), o));
                }});
}

void register_schedules() {
  scheduler_registry().add("constant", {"constant learning rate (after warmup)", Schema(),
                                        [](const config::Config&, const ScheduleContext&) -> Schedule {
                                          return [](int64_t) { return 1.0; };
                                        }});
  scheduler_registry().add(
      "cosine", {"cosine decay from the base LR to min_lr_ratio x base over the steps after warmup",
                 Schema().number("min_lr_ratio", 0.0, "final LR as a fraction of the base LR", 0.0, 1.0),
                 [](const config::Config& cfg, const ScheduleContext& ctx) -> Schedule {
                   const double floor = cfg.get<double>("sched.min_lr_ratio");
                   const int64_t span = std::max<int64_t>(1, ctx.total_steps - ctx.warmup_steps);
                   const int64_t warm = ctx.warmup_steps;
                   // f(t) = floor + (1 - floor) * (1 + cos(pi * t / T)) / 2,  t = step - warmup, T = total - warmup
                   return [=](int64_t step) {
                     const double t = std::clamp<double>(static_cast<double>(step - warm), 0.0, static_cast<double>(span));
                     return floor + (1 - floor) * 0.5 * (1 + std::cos(M_PI * t / span));
                   };
                 }});
  scheduler_registry().add(
      "step", {"multiply the LR by gamma every step_epochs epochs",
               Schema().integer("step_epochs", 30, "epochs between decays", 1).number("gamma", 0.1, "decay factor", 0.0, 1.0, true),
               [](const config::Config& cfg, const ScheduleContext& ctx) -> Schedule {
                 const int64_t every = cfg.get<int64_t>("sched.step_epochs") * ctx.steps_per_epoch;
                 const double gamma = cfg.get<double>("sched.gamma");
                 return [=](int64_t step) { return std::pow(gamma, static_cast<double>(step / every)); };
               }});
  scheduler_registry().add(
      "multistep", {"multiply the LR by gamma at each milestone epoch",
                    Schema()
                        .list("milestones", Type::IntList, "[30, 60, 90]", "epochs at which the LR decays", 1)
                        .number("gamma", 0.1, "decay factor", 0.0, 1.0, true),
                    [](const config::Config& cfg, const ScheduleContext& ctx) -> Schedule {
                      const auto ms = cfg.get<std::vector<int64_t>>("sched.milestones");
                      const double gamma = cfg.get<double>("sched.gamma");
                      const int64_t spe = ctx.steps_per_epoch;
                      return [=](int64_t step) {
                        int passed = 0;
                        for (auto m : ms) passed += step >= m * spe ? 1 : 0;
                        return std::pow(gamma, passed);
                      };
                    }});
  scheduler_registry().add(
      "onecycle", {"one-cycle policy (Smith 2018) with cosine phases, as torch.optim.lr_scheduler.OneCycleLR",
                   Schema()
                       .number("pct_start", 0.3, "fraction of steps spent increasing the LR", 0.0, 1.0, true)
                       .number("div_factor", 25.0, "initial LR = base / div_factor", 1.0)
                       .number("final_div_factor", 1e4, "final LR = initial / final_div_factor", 1.0),
                   [](const config::Config& cfg, const ScheduleContext& ctx) -> Schedule {
                     const double pct = cfg.get<double>("sched.pct_start"), div = cfg.get<double>("sched.div_factor"),
                                  fdiv = cfg.get<double>("sched.final_div_factor");
                     const double up = pct * ctx.total_steps - 1, total = ctx.total_steps - 1;
                     auto cos_anneal = [](double start, double end, double frac) {
                       return end + (start - end) / 2.0 * (std::cos(M_PI * frac) + 1);
                     };
                     return [=](int64_t step) {
                       const double init = 1.0 / div, fin = init / fdiv, s = static_cast<double>(step);
                       if (s <= up) return cos_anneal(init, 1.0, up > 0 ? s / up : 1.0);
                       return cos_anneal(1.0, fin, std::min(1.0, (s - up) / std::max(1.0, total - up)));
                     };
                   }});
}

void register_losses() {
  loss_registry().add("cross_entropy",
                      {"softmax cross-entropy with optional label smoothing and class weights",
                       Schema()
                           .number("label_smoothing", 0.0, "label smoothing epsilon", 0.0, 1.0)
                           .list("class_weights", config::Type::FloatList, "[]",
                                 "weight of each class in id order (as torch's weight=: the mean is weighted); [] = equal",
                                 0.0),
                       [](const config::Config& cfg) -> LossFn {
                         const double eps = cfg.get<double>("loss.label_smoothing");
                         const auto w = cfg.get<std::vector<double>>("loss.class_weights");
                         auto opts = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(eps);
                         const auto weight = w.empty() ? torch::Tensor() : torch::tensor(w, torch::kFloat);
                         return [opts, weight](const torch::Tensor& out, const torch::Tensor& target) {
                           auto o = opts;
                           if (weight.defined()) {
                             TORCH_CHECK(weight.numel() == out.size(-1), "loss.class_weights has ", weight.numel(),
                                         " values but the model has ", out.size(-1), " classes");
                             o = o.weight(weight.to(out.device()));
                           }
                           return torch::nn::functional::cross_entropy(out.to(torch::kFloat), target, o);
                         };
                       }});
  loss_registry().add("mse", {"mean squared error", Schema(), [](const config::Config&) -> LossFn {
                                return [](const torch::Tensor& out, const torch::Tensor& target) {
                                  return torch::mse_loss(out.to(torch::kFloat), target.to(torch::kFloat));
                                };
                              }});
  loss_registry().add("l1", {"mean absolute error", Schema(), [](const config::Config&) -> LossFn {
                               return [](const torch::Tensor& out, const torch::Tensor& target) {
                                 return torch::l1_loss(out.to(torch::kFloat), target.to(torch::kFloat));
                               };
                             }});
  loss_registry().add("huber", {"Huber (smooth L1) loss", Schema().number("delta", 1.0, "quadratic-to-linear threshold", 0.0, std::nullopt, true),
                                [](const config::Config& cfg) -> LossFn {
                                  const double delta = cfg.get<double>("loss.delta");
                                  return [delta](const torch::Tensor& out, const torch::Tensor& target) {
                                    return torch::huber_loss(out.to(torch::kFloat), target.to(torch::kFloat),
                                                             at::Reduction::Mean, delta);
                                  };
                                }});
}

void register_metric_names() {
  const std::vector<std::pair<std::string, std::string>> cls = {
      {"top1", "top-1 accuracy (fraction)"},
      {"top5", "top-5 accuracy (fraction; needs >= 5 classes)"},
      {"macro_precision", "unweighted mean of per-class precision"},
      {"macro_recall", "unweighted mean of per-class recall (TweetEval's sentiment metric)"},
      {"macro_f1", "unweighted mean of per-class F1"},
      {"ece", "expected calibration error, 15 equal-width confidence bins"},
      {"nll", "mean negative log-likelihood"}};
  const std::vector<std::pair<std::string, std::string>> reg = {
      {"mae", "mean absolute error"},
      {"rmse", "root mean squared error"},
      {"r2", "coefficient of determination"},
      {"mape", "mean absolute percentage error (fraction)"},
      {"smape", "symmetric MAPE (fraction)"},
      {"mase", "MAE relative to the seasonal-naive forecast"}};
  for (const auto& [n, h] : cls) metric_registry().add(n, {h, Schema(), [] { return std::string("classification"); }});
  for (const auto& [n, h] : reg) metric_registry().add(n, {h, Schema(), [] { return std::string("regression"); }});
  metric_registry().add("loss", {"mean loss of the split", Schema(), [] { return std::string("any"); }});
}

}  // namespace

void register_builtin() {
  register_optimizers();
  register_schedules();
  register_losses();
  register_metric_names();
  expose(optimizer_registry());
  expose(scheduler_registry());
  expose(loss_registry());
  expose(metric_registry());
  register_hooks();
}

}  // namespace smlab::trainers
