#include "trainers/hooks.h"

#include <torch/torch.h>
#include <c10/cuda/CUDACachingAllocator.h>

#include <algorithm>
#include <iostream>
#include <set>

#include "core/error.h"
#include "core/tensorboard.h"
#include "core/text.h"

namespace smlab::trainers {

ComponentRegistry<HookFactory>& hook_registry() {
  static ComponentRegistry<HookFactory> r("hook");
  return r;
}

const std::vector<std::string>& core_hook_names() {
  // The order they run in (see HookBase): evaluation before the checkpoint at an epoch's end (so that
  // last.pt holds the evaluation's outcome), and ema last (it swaps the training weights back after
  // an evaluation, once best.pt is written).
  static const std::vector<std::string> names = {"evaluation", "checkpoint", "early_stopping", "tensorboard", "ema"};
  return names;
}

namespace {

/// Evaluates the validation split at the end of every train.eval_every-th epoch, after every
/// train.eval_every_steps-th step (mid-epoch included), and when training ends; once per step.
class EvaluationHook : public HookBase {
 public:
  void after_step(Trainer& t) override {
    const auto& o = t.options();
    // The epoch-end evaluation is after_epoch's; this one runs before the periodic checkpoint of the
    // same step, so that the checkpoint holds its result (best value, patience).
    if (t.outcome() == Outcome::Completed && o.eval_every_steps > 0 && t.step() % o.eval_every_steps == 0 &&
        !t.at_epoch_end())
      t.validate(/*closing=*/false);
  }
  void after_epoch(Trainer& t) override {
    const auto& o = t.options();
    const auto& st = t.state();
    const bool epoch_done = t.at_epoch_end();
    const bool last = st.epoch == o.epochs || t.outcome() == Outcome::MaxSteps;
    const bool due = last || (epoch_done && o.eval_every > 0 && st.epoch % o.eval_every == 0) ||
                     (o.eval_every_steps > 0 && st.step % o.eval_every_steps == 0);
    if (due && st.last_eval_step != st.step) t.validate(/*closing=*/true);
  }
};

/// checkpoints/last.pt every train.checkpoint_every steps, at each epoch end and when the run stops
/// early; checkpoints/best.pt whenever an evaluation improves the selection metric.
class CheckpointHook : public HookBase {
 public:
  void after_step(Trainer& t) override {
    const int64_t every = t.options().checkpoint_every;
    if (t.outcome() == Outcome::Completed && every > 0 && t.step() % every == 0 && !t.at_epoch_end()) t.save_last();
  }
  void after_epoch(Trainer& t) override {
    if (t.outcome() != Outcome::NonFinite) t.save_last();
  }
  void after_eval(Trainer& t, const nlohmann::json&) override {
    // The model holds the evaluated weights (EMA ones when enabled): best.pt is what was evaluated.
    if (t.improved() && t.is_main()) save_checkpoint(t.run_dir() / "checkpoints" / "best.pt", t.model(), nullptr, t.state());
  }
  void on_stop(Trainer& t) override { t.save_last(); }
};

/// Stops after train.early_stop_patience evaluations without improvement.
class EarlyStoppingHook : public HookBase {
 public:
  explicit EarlyStoppingHook(int64_t patience) : patience_(patience) {}
  void after_eval(Trainer& t, const nlohmann::json&) override {
    if (t.outcome() == Outcome::NonFinite || t.state().bad_evals < patience_) return;
    std::cerr << "[smlab] early stop: no improvement of " << t.best_metric() << " in " << patience_ << " evaluations\n";
    t.stop(Outcome::EarlyStopped);
  }

 private:
  int64_t patience_;
};

/// The confusion matrix [K, K] as an RGB image: each cell the fraction of its row (true class),
/// white (0) to blue (1), cells of 256 / K pixels (4 to 32).
torch::Tensor confusion_image(const torch::Tensor& confusion) {
  const auto c = confusion.to(torch::kFloat);
  const auto t = c / c.sum(1, true).clamp_min(1);
  const int64_t cell = std::clamp<int64_t>(256 / std::max<int64_t>(1, c.size(0)), 4, 32);
  auto img = torch::stack({255 - t * 255, 255 - t * (255 - 114), 255 - t * (255 - 178)});  // Okabe-Ito blue
  return img.repeat_interleave(cell, 1).repeat_interleave(cell, 2).round().clamp(0, 255).to(torch::kUInt8);
}

/// TensorBoard event files under <run>/tb: every numeric value of every metrics.jsonl record as
/// <split>/<key> (train/loss, train/lr, val/top1, test/mae, ...); val/confusion_matrix (an image) at
/// each evaluation of a classifier; weights/<name> and grads/<name> histograms every
/// train.tb_histogram_every steps; train/gpu_peak_mib (peak allocated CUDA memory since the last
/// record) on CUDA.
class TensorBoardHook : public HookBase {
 public:
  explicit TensorBoardHook(int64_t histogram_every) : every_(histogram_every) {}
  void before_train(Trainer& t) override {
    if (t.is_main()) tb_ = std::make_unique<TensorBoardWriter>(t.run_dir() / "tb");
  }
  void on_gradients(Trainer& t) override {
    const int64_t step = t.step() + 1;  // the step these gradients make
    if (!tb_ || every_ <= 0 || step % every_ != 0) return;
    for (const auto& item : t.model().named_parameters())
      if (item.value().grad().defined()) histogram("grads/" + item.key(), item.value().grad(), step);
  }
  void after_step(Trainer& t) override {
    if (!tb_ || every_ <= 0 || t.step() % every_ != 0) return;
    for (const auto& item : t.model().named_parameters()) histogram("weights/" + item.key(), item.value(), t.step());
  }
  void on_record(Trainer& t, const nlohmann::json& rec) override {
    if (!tb_) return;
    static const std::set<std::string> position = {"split", "epoch", "step", "samples", "seconds"};
    const std::string split = rec.at("split").get<std::string>();
    for (const auto& [k, v] : rec.items())
      if (!position.count(k) && v.is_number()) tb_->add_scalar(split + "/" + k, v.get<double>(), t.step());
    if (split == "train" && t.device().is_cuda()) {
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(t.device().index());
      tb_->add_scalar("train/gpu_peak_mib", static_cast<double>(stats.allocated_bytes[0].peak) / (1 << 20), t.step());
      c10::cuda::CUDACachingAllocator::resetPeakStats(t.device().index());
    }
  }
  void after_eval(Trainer& t, const nlohmann::json&) override {
    const auto cm = t.last_confusion();
    if (tb_ && cm.defined() && cm.numel() > 0) tb_->add_image("val/confusion_matrix", confusion_image(cm), t.step());
  }
  void after_train(Trainer&) override {
    if (tb_) tb_->flush();
  }

 private:
  void histogram(const std::string& tag, const torch::Tensor& v, int64_t step) {
    const auto x = v.detach();
    if (x.numel() > 0 && torch::isfinite(x).any().item<bool>()) tb_->add_histogram(tag, x, step);
  }
  int64_t every_;
  std::unique_ptr<TensorBoardWriter> tb_;
};

/// Exponential moving average of the weights (train.ema_decay): updated after every optimizer
/// update, evaluated (and saved as best.pt) in place of the trained weights, kept in last.pt.
class EmaHook : public HookBase {
 public:
  explicit EmaHook(double decay) : decay_(decay) {}
  void before_train(Trainer& t) override {
    auto& ema = t.extras().ema;
    if (!ema.empty()) return;  // resumed: last.pt held them
    for (auto& s : state_tensors(t.model())) ema.push_back(s.detach().clone());
  }
  void after_update(Trainer& t) override {
    torch::NoGradGuard ng;
    auto cur = state_tensors(t.model());
    auto& ema = t.extras().ema;
    for (size_t i = 0; i < cur.size(); ++i) {
      // ema = decay * ema + (1 - decay) * current; integer buffers (BN counters) are copied.
      if (cur[i].is_floating_point()) ema[i].mul_(decay_).add_(cur[i].detach(), 1 - decay_);
      else ema[i].copy_(cur[i]);
    }
  }
  void before_eval(Trainer& t) override { swap(t); }
  void after_eval(Trainer& t, const nlohmann::json&) override { swap(t); }

 private:
  static std::vector<torch::Tensor> state_tensors(models::Model& model) {
    std::vector<torch::Tensor> out;
    for (auto& p : model.parameters()) out.push_back(p);
    for (auto& b : model.buffers()) out.push_back(b);
    return out;
  }
  static void swap(Trainer& t) {
    torch::NoGradGuard ng;
    auto cur = state_tensors(t.model());
    auto& ema = t.extras().ema;
    for (size_t i = 0; i < cur.size(); ++i) {
      auto tmp = cur[i].detach().clone();
      cur[i].copy_(ema[i]);
      ema[i].copy_(tmp);
    }
  }
  double decay_;
};

/// Optional: the global L2 norm of the gradients (before clipping) of each logged step, as
/// `grad_norm` in the train records of metrics.jsonl and train/grad_norm in TensorBoard.
class GradNormLogger : public HookBase {
 public:
  void on_gradients(Trainer& t) override {
    // Norm of the per-tensor norms, as clip_grad_norm computes it; a device scalar (no host sync).
    std::vector<torch::Tensor> norms;
    for (const auto& p : t.model().parameters())
      if (p.grad().defined()) norms.push_back(torch::linalg_vector_norm(p.grad().detach().to(torch::kFloat), 2));
    norm_ = norms.empty() ? torch::Tensor() : torch::linalg_vector_norm(torch::stack(norms), 2);
  }
  void on_train_record(Trainer&, nlohmann::json& rec) override {
    if (norm_.defined()) rec["grad_norm"] = norm_.item<double>();
  }

 private:
  torch::Tensor norm_;
};

/// Stops training at the end of epoch `at` (after the evaluation and last.pt of that epoch).
class StopAtEpoch : public HookBase {
 public:
  explicit StopAtEpoch(int64_t at) : at_(at) {}
  void after_epoch(Trainer& t) override {
    if (t.epoch() >= at_) t.request_stop();
  }

 private:
  int64_t at_;
};

}  // namespace

std::vector<std::shared_ptr<HookBase>> build_core_hooks(const TrainerOptions& opts) {
  std::vector<std::shared_ptr<HookBase>> out;
  for (const auto& name : core_hook_names())
    if (auto h = hook_registry().get(name).make(opts)) out.push_back(std::move(h));
  return out;
}

std::vector<std::shared_ptr<HookBase>> build_optional_hooks(const TrainerOptions& opts) {
  const auto& core = core_hook_names();
  std::set<std::string> seen;
  std::vector<std::shared_ptr<HookBase>> out;
  for (const auto& name : opts.hooks) {
    if (std::find(core.begin(), core.end(), name) != core.end())
      throw UserError(opts.where("train.hooks") + ": '" + name + "' is a core hook, on by its own settings (" +
                      hook_registry().get(name).help + "); remove it from train.hooks");
    if (!seen.insert(name).second)
      throw UserError(opts.where("train.hooks") + ": '" + name + "' is listed twice; list each hook once");
    if (auto h = hook_registry().get(name).make(opts)) out.push_back(std::move(h));
  }
  return out;
}

std::shared_ptr<HookBase> stop_at_epoch_hook(int64_t epoch) { return std::make_shared<StopAtEpoch>(epoch); }

void register_hooks() {
  auto& r = hook_registry();
  const config::Schema none;
  r.add("evaluation", {"core: evaluates the validation split every train.eval_every epochs, every "
                       "train.eval_every_steps steps and at the end",
                       none, [](const TrainerOptions&) -> std::shared_ptr<HookBase> {
                         return std::make_shared<EvaluationHook>();
                       }});
  r.add("checkpoint", {"core: writes checkpoints/last.pt every train.checkpoint_every steps and at each epoch end, "
                       "checkpoints/best.pt when train.best_metric improves",
                       none, [](const TrainerOptions&) -> std::shared_ptr<HookBase> {
                         return std::make_shared<CheckpointHook>();
                       }});
  r.add("early_stopping", {"core: stops after train.early_stop_patience evaluations without improvement (when > 0)",
                           none, [](const TrainerOptions& o) -> std::shared_ptr<HookBase> {
                             if (o.early_stop_patience <= 0) return nullptr;
                             return std::make_shared<EarlyStoppingHook>(o.early_stop_patience);
                           }});
  r.add("tensorboard", {"core: TensorBoard event files under <run>/tb (when train.tensorboard)", none,
                        [](const TrainerOptions& o) -> std::shared_ptr<HookBase> {
                          if (!o.tensorboard) return nullptr;
                          return std::make_shared<TensorBoardHook>(o.tb_histogram_every);
                        }});
  r.add("ema", {"core: exponential moving average of the weights, evaluated and saved (when train.ema_decay > 0)",
                none, [](const TrainerOptions& o) -> std::shared_ptr<HookBase> {
                  if (o.ema_decay <= 0) return nullptr;
                  return std::make_shared<EmaHook>(o.ema_decay);
                }});
  r.add("grad_norm_logger",
        {"logs the global L2 gradient norm (before clipping) of each logged step: grad_norm in metrics.jsonl, "
         "train/grad_norm in TensorBoard",
         none, [](const TrainerOptions& o) -> std::shared_ptr<HookBase> {
           if (o.cuda_graphs)
             throw UserError(o.where("train.hooks") +
                             ": grad_norm_logger reads the gradients between backward and the optimizer step, which "
                             "train.cuda_graphs captures as one graph; set train.cuda_graphs=false or drop the hook");
           return std::make_shared<GradNormLogger>();
         }});
  expose(r);
}

}  // namespace smlab::trainers
