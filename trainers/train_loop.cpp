// The training step, the epoch loop, validation and last.pt (the trainer's services to the hooks).
#include <cmath>
#include <cstdio>

#include "core/autocast.h"
#include "datasets/augment.h"
#include "trainers/sgd.h"
#include "trainers/trainer_impl.h"

using nlohmann::json;

namespace smlab::trainers::detail {

at::Generator step_generator(uint64_t seed, int64_t epoch, int64_t batch) {
  return at::make_generator<at::CPUGeneratorImpl>(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) * 1000003ULL +
                                                  static_cast<uint64_t>(batch) + 17);
}

/// augment.train on one training batch, drawing from the step's generator.
/// mixup/cutmix replace the class ids by soft targets [B, K], which cross_entropy takes as probabilities.
void TrainerImpl::augment_train_batch(torch::Tensor& x, torch::Tensor& y, at::Generator& gen) {
  datasets::AugmentBatch ab{x, y, train_ds_->info().num_classes};
  aug_train_.apply(ab, gen);
  x = ab.input;
  y = ab.target;
}

/// Forward (under train.amp autocast), loss and backward of one micro-batch; returns the loss.
/// Under train.cuda_graphs the captured graph also clips and updates (grad_accum is 1).
torch::Tensor TrainerImpl::forward_backward(torch::Tensor x, const torch::Tensor& y, bool sync) {
  if (graph_) return graph_->step(x, y);
  // All-reduce only on the micro-batch that completes an optimizer step (DDP's no_sync otherwise).
  if (ddp_) ddp_->before_forward(sync);
  torch::Tensor loss;
  {
    AutocastScope autocast(device_, o_.amp);
    auto out = model_->forward(x);
    loss = loss_fn_(out, y);
  }
  if (ddp_) ddp_->after_forward(sync);
  auto scaled = loss / static_cast<double>(o_.grad_accum);
  if (o_.amp == Amp::FP16) scaled = scaled * extras_.scaler_scale;
  scaled.backward();
  return loss;
}

/// Clips and applies the accumulated gradients. Returns false when fp16's loss scaler skipped the
/// step (non-finite gradients).
bool TrainerImpl::optimizer_step() {
  auto params = model_->parameters();
  if (o_.amp == Amp::FP16) {
    std::vector<torch::Tensor> grads;
    for (auto& p : params)
      if (p.grad().defined()) grads.push_back(p.grad());
    auto found_inf = torch::zeros({1}, torch::TensorOptions().device(device_).dtype(torch::kFloat));
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, extras_.scaler_scale.reciprocal());
    each_hook([&](HookBase& h) { h.on_gradients(*this); });
    if (o_.grad_clip > 0) clip_grad_norm(params, o_.grad_clip);
    const bool skip = found_inf.item<float>() > 0;
    if (!skip) optimizer_->step();
    at::_amp_update_scale_(extras_.scaler_scale, extras_.scaler_growth, found_inf, 2.0, 0.5, 2000);
    clear_grads(*optimizer_);
    return !skip;
  }
  each_hook([&](HookBase& h) { h.on_gradients(*this); });
  if (o_.grad_clip > 0) clip_grad_norm(params, o_.grad_clip);
  optimizer_->step();
  clear_grads(*optimizer_);
  return true;
}

/// Whether the loop stops after this step: a stop request, a signal, or train.max_steps. Over
/// several ranks, one rank's signal stops all of them at the same step.
bool TrainerImpl::stop_now() {
  const bool at_max = o_.max_steps > 0 && st_.step >= o_.max_steps;
  bool stop = stop_requested_ || signal_received() != 0 || at_max;
  if (dist_) {
    auto flag = torch::full({1}, stop ? 1.0f : 0.0f, torch::TensorOptions().device(device_));
    dist_->allreduce_sum(flag);
    stop = flag.item<float>() > 0;
    if (stop && !at_max) stop_requested_ = true;
  }
  return stop;
}

/// Reads the device-side loss window once (one sync per log interval) and returns its record.
json TrainerImpl::log_train_window() {
  double sum = 0, count = static_cast<double>(window_count_);
  if (dist_) {  // global mean over ranks: every rank sees the same value and makes the same NaN decision
    auto t = torch::stack({window_loss_, torch::full({}, count, window_loss_.options())});
    dist_->allreduce_sum(t);
    sum = t[0].item<double>();
    count = t[1].item<double>();
  } else {
    sum = window_loss_.item<double>();
  }
  const double mean = count > 0 ? sum / count : 0;
  window_loss_.zero_();
  window_count_ = 0;
  last_loss_ = mean;
  return json{{"split", "train"}, {"step", st_.step}, {"epoch", st_.epoch}, {"loss", mean},
              {"lr", schedule_->lr_at(std::max<int64_t>(0, st_.step - 1))}, {"samples", st_.samples},
              // training seconds so far (resumes included): `smlab report` draws throughput from it
              {"seconds", st_.elapsed + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count()}};
}

/// Appends `rec` to metrics.jsonl and shows it to the hooks (rank 0 only).
void TrainerImpl::log(const json& rec) {
  if (!main_) return;
  run_->log_metrics(rec);
  each_hook([&](HookBase& h) { h.on_record(*this, rec); });
}

/// The train record of a logging step (every log_every steps, at an epoch's end, before a stop or a
/// periodic checkpoint). Returns false when the loss is NaN/Inf (the run then stops).
bool TrainerImpl::log_step(bool stop, bool epoch_end) {
  const int64_t ckpt = o_.checkpoint_every;
  if (!(st_.step % o_.log_every == 0 || epoch_end || stop || (ckpt > 0 && st_.step % ckpt == 0))) return true;
  json rec = log_train_window();
  if (!std::isfinite(last_loss_)) {
    outcome_ = Outcome::NonFinite;
    return false;
  }
  each_hook([&](HookBase& h) { h.on_train_record(*this, rec); });
  log(rec);
  return true;
}

void TrainerImpl::train_epoch(int64_t epoch) {
  if (o_.unfreeze_at_epoch > 0 && freezer_.active() && epoch >= o_.unfreeze_at_epoch) unfreeze();
  model_->train();
  freezer_.apply_modes();  // norm layers of frozen parts keep their running statistics
  train_loader_->start_epoch(epoch, st_.batch);
  const int64_t bpe = train_loader_->batches_per_epoch();
  int64_t micro = 0;
  set_lr(*optimizer_, schedule_->lr_at(st_.step));
  while (auto batch = train_loader_->next()) {
    const int64_t b = train_loader_->position() - 1;
    each_hook([&](HookBase& h) { h.before_step(*this); });
    auto x = to_device(batch->input, device_);
    auto y = to_device(batch->target, device_);
    if (!o_.augment_train.empty()) {
      auto gen = step_generator(o_.seed, epoch, b);
      augment_train_batch(x, y, gen);
    }
    if (o_.channels_last) x = models::channels_last(x);
    const bool sync = (micro + 1) % o_.grad_accum == 0 || train_loader_->position() == bpe;
    const torch::Tensor loss = forward_backward(x, y, sync);
    window_loss_ += loss.detach().to(torch::kDouble);
    ++window_count_;
    st_.samples += x.size(0);
    ++micro;
    const bool epoch_end = train_loader_->position() == bpe;
    if (micro % o_.grad_accum != 0 && !epoch_end) continue;
    micro = 0;
    if (graph_ || optimizer_step()) each_hook([&](HookBase& h) { h.after_update(*this); });
    ++st_.step;
    st_.batch = train_loader_->position();
    set_lr(*optimizer_, schedule_->lr_at(st_.step));
    const bool stop = stop_now();
    if (!log_step(stop, epoch_end)) return;
    progress_->update(st_.step, st_.samples, {{"loss", last_loss_}, {"lr", schedule_->lr_at(st_.step)}});
    // The core hooks last: a mid-epoch evaluation, then a periodic checkpoint that holds its result.
    each_hook([&](HookBase& h) { h.after_step(*this); }, /*core_last=*/true);
    if (outcome_ != Outcome::Completed) return;  // non-finite validation loss or weights, early stop
    if (stop) {
      if (o_.max_steps > 0 && st_.step >= o_.max_steps) outcome_ = Outcome::MaxSteps;
      return;
    }
  }
}

/// Updates the best value and the patience count from a validation result.
void TrainerImpl::select_best(const json& val) {
  const double value = val.at(best_name_).get<double>();
  improved_ = !st_.has_best || (maximize_ ? value > st_.best : value < st_.best);
  if (improved_) {
    st_.best = value;
    st_.has_best = true;
    st_.best_epoch = st_.epoch;
    st_.best_step = st_.step;
    st_.bad_evals = 0;
  } else {
    ++st_.bad_evals;
  }
}

// Evaluation touches no RNG and no training state other than st_'s selection fields, so a run that
// evaluates resumes exactly.
void TrainerImpl::validate(bool closing) {
  st_.last_eval_step = st_.step;
  improved_ = false;
  each_hook([&](HookBase& h) { h.before_eval(*this); });
  const json val = evaluate(*model_, *val_loader_, loss_fn_, device_, o_, &last_confusion_);
  json rec = {{"split", "val"}, {"epoch", st_.epoch}, {"step", st_.step}};
  for (auto& [k, v] : val.items()) rec[k] = v;
  if (!std::isfinite(val["loss"].get<double>())) {
    outcome_ = Outcome::NonFinite;
    if (closing && progress_) progress_->finish();
    each_hook([&](HookBase& h) { h.after_eval(*this, rec); });  // not logged; the EMA hook swaps back
    return;
  }
  log(rec);
  st_.last_val = val;
  select_best(val);
  const double value = val.at(best_name_).get<double>();
  char buf[200];
  if (closing) {
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld: val loss %.4f, %s %.4f%s", (long long)st_.epoch,
                  (long long)o_.epochs, val["loss"].get<double>(), best_name_.c_str(), value, improved_ ? " (best)" : "");
    if (progress_) progress_->finish(buf);
  } else {
    std::snprintf(buf, sizeof buf, "step %lld (epoch %lld, batch %lld/%lld): val loss %.4f, %s %.4f%s",
                  (long long)st_.step, (long long)st_.epoch + 1, (long long)st_.batch,
                  (long long)train_loader_->batches_per_epoch(), val["loss"].get<double>(), best_name_.c_str(), value,
                  improved_ ? " (best)" : "");
    if (progress_) progress_->note(buf);
  }
  each_hook([&](HookBase& h) { h.after_eval(*this, rec); });
  if (!closing) freezer_.apply_modes();  // evaluation put the whole model back in train mode
}

bool TrainerImpl::weights_finite() {
  torch::NoGradGuard ng;
  for (const auto& p : model_->parameters())
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
}

void TrainerImpl::save_last() {
  // Never overwrite the last good checkpoint with diverged weights.
  if (!weights_finite()) {
    outcome_ = Outcome::NonFinite;
    return;
  }
  st_.elapsed += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  t0_ = std::chrono::steady_clock::now();
  st_.wall = wall_seconds();
  if (main_) save_checkpoint(run_->checkpoints() / "last.pt", *model_, optimizer_.get(), st_, extras_);
}

}  // namespace smlab::trainers::detail
