// Evaluation: loader options, the eval pass (augment.eval, channels_last, autocast, multi-clip),
// the metrics of a split, and the metric that selects the best checkpoint.
#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <set>

#include "core/autocast.h"
#include "core/error.h"
#include "datasets/augment.h"
#include "trainers/metrics.h"
#include "trainers/trainer.h"
#include "trainers/trainer_impl.h"

using nlohmann::json;

namespace smlab::trainers {

std::pair<std::string, bool> selection_metric(const TrainerOptions& opts, datasets::Task task) {
  std::string name = opts.best_metric;
  if (name == "auto") name = task == datasets::Task::Classification ? "top1" : "mae";
  const auto& entry = metric_registry().get(name);  // unknown names list the known ones
  const std::string kind = entry.make();
  const bool cls = task == datasets::Task::Classification;
  if (kind != "any" && (kind == "classification") != cls) {
    throw UserError("train.best_metric '" + name + "' is a " + kind + " metric but the data is a " +
                    (cls ? "classification" : "regression") + " task");
  }
  const bool maximize = opts.best_mode == BestMode::Auto ? larger_is_better(name) : opts.best_mode == BestMode::Max;
  return {name, maximize};
}

std::pair<std::string, bool> selection_metric(const config::Config& cfg, datasets::Task task) {
  return selection_metric(TrainerOptions::from_config(cfg), task);
}

bool finished_status(const std::string& status) {
  return status == "completed" || status == "max_steps" || status == "early_stopped";
}

bool larger_is_better(const std::string& metric) {
  static const std::set<std::string> smaller = {"loss", "nll", "ece", "mae", "rmse", "mape", "smape", "mase"};
  const auto dot = metric.rfind('.');
  return !smaller.count(dot == std::string::npos ? metric : metric.substr(dot + 1));
}

datasets::LoaderOptions eval_loader_options(const TrainerOptions& opts, const c10::Device& device) {
  datasets::LoaderOptions o;
  if (device.is_cuda()) o.device = device;
  o.batch_size = opts.eval_batch_size > 0 ? opts.eval_batch_size : opts.batch_size;
  o.shuffle = false;
  o.drop_last = false;
  o.seed = opts.seed;
  o.workers = opts.workers;
  o.prefetch = opts.prefetch;
  return o;
}

datasets::LoaderOptions eval_loader_options(const config::Config& cfg, const c10::Device& device) {
  return eval_loader_options(TrainerOptions::from_config(cfg), device);
}

void for_each_eval_batch(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                         const TrainerOptions& opts, const EvalBatchFn& fn) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const datasets::AugmentPipeline augs(opts.augment_eval);
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    auto x = detail::to_device(batch->input, device);
    if (!augs.empty()) {
      auto gen = detail::step_generator(opts.seed, -1, loader.position());
      x = augs.apply(x, gen);
    }
    if (opts.channels_last) x = models::channels_last(x);
    // Multi-clip evaluation (video datasets' eval_clips): [B, K, ...] inputs, one more axis than
    // the samples' [B, ...]; the model sees the B * K clips and their logits are averaged per sample.
    const bool multi = x.dim() == static_cast<int64_t>(loader.dataset().info().input_shape.size()) + 2;
    torch::Tensor out;
    {
      AutocastScope autocast(device, opts.amp);
      out = multi ? model.forward(x.flatten(0, 1)).unflatten(0, {x.size(0), x.size(1)}).mean(1) : model.forward(x);
    }
    if (!fn(out.to(torch::kFloat), batch->target)) break;
  }
  if (was_training) model.train();
}

void for_each_eval_batch(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                         const config::Config& cfg, const EvalBatchFn& fn) {
  for_each_eval_batch(model, loader, device, TrainerOptions::from_config(cfg), fn);
}

json evaluate(models::Model& model, datasets::Loader& loader, const LossFn& loss_fn, const c10::Device& device,
              const TrainerOptions& opts, at::Tensor* confusion) {
  const auto& info = loader.dataset().info();
  const bool cls = info.task == datasets::Task::Classification;
  std::optional<metrics::ClassificationMetrics> cm;
  std::optional<metrics::RegressionMetrics> rm;
  if (cls) cm.emplace(info.num_classes);
  else rm.emplace();
  double loss_sum = 0;
  int64_t n = 0;
  bool finite = true;
  for_each_eval_batch(model, loader, device, opts, [&](const torch::Tensor& out, const torch::Tensor& target) {
    const double batch_loss = loss_fn(out, detail::to_device(target, device)).item<double>();
    if (!std::isfinite(batch_loss)) {  // diverged weights: report, do not feed NaN to the metrics
      loss_sum = batch_loss;
      finite = false;
      return false;
    }
    loss_sum += batch_loss * out.size(0);
    n += out.size(0);
    if (cls) cm->update(out.cpu(), target);
    else rm->update(out.cpu(), target);
    return true;
  });
  if (!finite) return json{{"loss", loss_sum}};
  json result;
  result["loss"] = n > 0 ? loss_sum / n : 0.0;
  if (cls && confusion) *confusion = cm->confusion();
  for (const auto& [k, v] : (cls ? cm->compute() : rm->compute())) {
    if (k.find('/') == std::string::npos) result[k] = v;  // per-class values stay out of the summary
  }
  return result;
}

json evaluate(models::Model& model, datasets::Loader& loader, const LossFn& loss_fn, const c10::Device& device,
              const config::Config& cfg) {
  return evaluate(model, loader, loss_fn, device, TrainerOptions::from_config(cfg));
}

}  // namespace smlab::trainers
