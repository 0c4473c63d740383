#include "trainers/trainer.h"

#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <iostream>
#include <set>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/run_dir.h"
#include "core/tensorboard.h"
#include "core/text.h"
#include "core/autocast.h"
#include "datasets/augment.h"
#include "trainers/checkpoint.h"
#include "trainers/cuda_graph.h"
#include "trainers/distributed.h"
#include "trainers/finetune.h"
#include "trainers/metrics.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::trainers {

std::pair<std::string, bool> selection_metric(const config::Config& cfg, datasets::Task task) {
  std::string name = cfg.get<std::string>("train.best_metric");
  if (name == "auto") name = task == datasets::Task::Classification ? "top1" : "mae";
  const auto& reg = metric_registry();
  const auto& entry = reg.get(name);  // unknown names list the known ones
  const std::string kind = entry.make();
  const bool cls = task == datasets::Task::Classification;
  if (kind != "any" && (kind == "classification") != cls) {
    throw UserError("train.best_metric '" + name + "' is a " + kind + " metric but the data is a " +
                    (cls ? "classification" : "regression") + " task");
  }
  const std::string mode = cfg.get<std::string>("train.best_mode");
  const bool maximize = mode == "auto" ? larger_is_better(name) : mode == "max";
  return {name, maximize};
}

bool larger_is_better(const std::string& metric) {
  static const std::set<std::string> smaller = {"loss", "nll", "ece", "mae", "rmse", "mape", "smape", "mase"};
  const auto dot = metric.rfind('.');
  return !smaller.count(dot == std::string::npos ? metric : metric.substr(dot + 1));
}

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

/// Installs SIGINT/SIGTERM handlers for the lifetime of the object: the loop checkpoints and stops.
struct SignalGuard {
  struct sigaction old_int {}, old_term {};
  SignalGuard() {
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};


torch::Tensor to_device(const torch::Tensor& t, const c10::Device& d) {
  return t.device() == d ? t : t.to(d, /*non_blocking=*/true);
}

/// Deterministic generator for step-level randomness (augmentation): a function of
/// (seed, epoch, batch) only, so a resumed run draws the same values.
at::Generator step_generator(uint64_t seed, int64_t epoch, int64_t batch) {
  return at::make_generator<at::CPUGeneratorImpl>(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) * 1000003ULL +
                                                  static_cast<uint64_t>(batch) + 17);
}

class TrainerImpl : public Trainer {
 public:
  TrainerImpl(const config::Config& cfg, const TrainOptions& opt) : cfg_(cfg), opt_(opt), device_(c10::kCPU) {}

  TrainResult run();

  int64_t step() const override { return st_.step; }
  int64_t epoch() const override { return st_.epoch; }
  double last_loss() const override { return last_loss_; }
  models::Model& model() override { return *model_; }
  const fs::path& run_dir() const override { return run_ ? run_->path() : opt_.run_dir; }
  void request_stop() override { stop_requested_ = true; }

 private:
  void setup();
  void train_epoch(int64_t epoch, Progress& progress);
  bool optimizer_step();
  json eval_split(datasets::Loader& loader);
  bool validate(Progress& progress, bool closing);
  void save_last();
  bool weights_finite();
  void update_ema();
  void swap_ema();
  json log_train_window();
  std::vector<torch::Tensor> state_tensors();
  void setup_finetune(bool resuming);
  void unfreeze();

  config::Config cfg_;
  TrainOptions opt_;
  c10::Device device_;
  std::optional<RunDir> run_;  // written by rank 0 only; other ranks hold it only to resume
  DistEnv dist_env_;
  std::unique_ptr<Distributed> dist_;
  std::unique_ptr<DataParallel> ddp_;
  bool main_ = true;
  std::unique_ptr<TensorBoardWriter> tb_;
  std::shared_ptr<datasets::Dataset> train_ds_, val_ds_, test_ds_;
  std::unique_ptr<datasets::Loader> train_loader_, val_loader_, test_loader_;
  models::ModelPtr model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<LRSchedule> schedule_;
  std::unique_ptr<GraphedStep> graph_;  // train.cuda_graphs: the captured training step
  LossFn loss_fn_;
  datasets::AugmentPipeline aug_train_;
  TrainState st_;
  CheckpointExtras extras_;
  std::string amp_;
  int64_t grad_accum_ = 1, log_every_ = 1, ckpt_every_ = 0, max_steps_ = 0, epochs_ = 1, total_steps_ = 1;
  int64_t eval_every_ = 1, eval_every_steps_ = 0, patience_ = 0;
  fs::path best_path_;
  json last_val_;
  double grad_clip_ = 0, ema_decay_ = 0;
  bool channels_last_ = false;
  std::string best_name_;
  bool maximize_ = true;
  double last_loss_ = 0;
  torch::Tensor window_loss_;  // device-side sum of losses since the last check (no per-step sync)
  int64_t window_count_ = 0;
  bool stop_requested_ = false;
  Outcome outcome_ = Outcome::Completed;
  std::chrono::steady_clock::time_point t0_;
  Freezer freezer_;             // finetune.freeze
  int64_t unfreeze_at_ = 0;     // finetune.unfreeze_at_epoch
  json init_report_;            // finetune.init: what was loaded and skipped (new runs only)
};

/// "file:line: key" for messages about a setting.
std::string setting(const config::Config& cfg, const std::string& key) {
  auto it = cfg.origins().find(key);
  const std::string where = it != cfg.origins().end() ? it->second.str() : cfg.source();
  return (where.empty() ? "" : where + ": ") + key;
}

/// finetune.init (a new run only: a resumed one continues from its own checkpoint) and finetune.freeze.
void TrainerImpl::setup_finetune(bool resuming) {
  const std::string init = cfg_.get<std::string>("finetune.init");
  if (!init.empty() && !resuming) {
    const InitReport rep = init_from_weights(*model_, init, cfg_.get<bool>("finetune.strict"), setting(cfg_, "finetune.init"));
    if (main_) std::cerr << "[smlab] finetune: " << rep.summary() << "\n";
    init_report_ = rep.to_json();
  }
  freezer_ = Freezer(*model_, cfg_.get<std::vector<std::string>>("finetune.freeze"), setting(cfg_, "finetune.freeze"));
  unfreeze_at_ = cfg_.get<int64_t>("finetune.unfreeze_at_epoch");
  if (unfreeze_at_ > 0 && freezer_.prefixes().empty())
    throw UserError(setting(cfg_, "finetune.unfreeze_at_epoch") + " = " + std::to_string(unfreeze_at_) +
                    " has nothing to unfreeze: finetune.freeze is empty");
  if (unfreeze_at_ > 0 && cfg_.get<bool>("train.cuda_graphs"))
    throw UserError(setting(cfg_, "finetune.unfreeze_at_epoch") +
                    " changes the trained parameters mid-run, which a captured CUDA graph cannot follow; "
                    "use train.cuda_graphs=false");
  freezer_.freeze();
  if (main_ && freezer_.active()) {
    int64_t n = 0;
    for (const auto& p : freezer_.frozen_parameters()) n += p.numel();
    std::cerr << "[smlab] finetune: froze " << n << " of " << models::parameter_count(*model_) << " parameters (";
    for (size_t i = 0; i < freezer_.prefixes().size(); ++i) std::cerr << (i ? ", " : "") << freezer_.prefixes()[i];
    std::cerr << ")" << (unfreeze_at_ > 0 ? ", until epoch " + std::to_string(unfreeze_at_) + " ends" : std::string())
              << "\n";
  }
}

/// finetune.unfreeze_at_epoch: everything trains from now on; the optimizer gains the parameters
/// (fresh state, the current LR of the schedule).
void TrainerImpl::unfreeze() {
  freezer_.unfreeze(model_->is_training());
  add_param_groups(*optimizer_, freezer_.frozen_parameters(), cfg_);
  set_lr(*optimizer_, schedule_->lr_at(st_.step));
  if (ddp_) {  // its reducer covers the trainable parameters only
    ddp_.reset();
    ddp_ = std::make_unique<DataParallel>(*model_, *dist_);
  }
  if (main_)
    std::cerr << "[smlab] finetune: unfroze " << freezer_.frozen_parameters().size()
              << " parameter tensors; every parameter trains from epoch " << unfreeze_at_ + 1 << " on\n";
}

void TrainerImpl::setup() {
  const auto seed = cfg_.get<uint64_t>("experiment.seed");
  torch::manual_seed(seed);
  if (const int threads = cfg_.get<int>("experiment.threads"); threads > 0) torch::set_num_threads(threads);
  at::globalContext().setDeterministicAlgorithms(cfg_.get<bool>("experiment.deterministic"), /*warn_only=*/true);
  // LibTorch fills every at::empty() with NaN under deterministic algorithms unless told not to; the
  // kernels write their outputs in full, so this only costs time (a fill per activation) by default.
  at::globalContext().setDeterministicFillUninitializedMemory(cfg_.get<bool>("experiment.fill_uninitialized"));
  device_ = resolve_device(cfg_.get<std::string>("experiment.device"));
  dist_env_ = dist_env_from_environment();
  main_ = dist_env_.is_main();
  if (dist_env_.active()) {
    if (device_.is_cuda()) device_ = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(dist_env_.local_rank));
    dist_ = std::make_unique<Distributed>(dist_env_, device_);
  }
  amp_ = cfg_.get<std::string>("train.amp");
  if (amp_ == "fp16" && !device_.is_cuda()) {
    throw UserError("train.amp=fp16 needs a CUDA device (the loss scaler is CUDA-only); on CPU use train.amp=bf16");
  }
  if (cfg_.get<bool>("train.cuda_graphs")) {
    if (const std::string why = cuda_graph_refusal(cfg_, device_, dist_env_.world); !why.empty()) throw UserError(why);
  }
  // Data.
  train_ds_ = datasets::build(cfg_, datasets::Split::Train);
  val_ds_ = datasets::build(cfg_, datasets::Split::Val);
  test_ds_ = datasets::build(cfg_, datasets::Split::Test);
  datasets::LoaderOptions lo;
  lo.batch_size = cfg_.get<int64_t>("data.batch_size");
  lo.shuffle = cfg_.get<bool>("data.shuffle");
  lo.drop_last = cfg_.get<bool>("data.drop_last");
  lo.seed = seed;
  lo.workers = cfg_.get<int>("data.workers");
  lo.prefetch = cfg_.get<int>("data.prefetch");
  lo.rank = dist_env_.rank;
  lo.world = dist_env_.world;
  // On a GPU, loader workers pin and copy batches on a side stream, and augment.train ops run on
  // the device batch (CUDA kernels; their random parameters come from the step's host generator).
  aug_train_ = datasets::AugmentPipeline(datasets::augment_specs(cfg_, "augment.train"));
  if (device_.is_cuda()) lo.device = device_;
  train_loader_ = std::make_unique<datasets::Loader>(train_ds_, lo);
  const datasets::LoaderOptions eo = eval_loader_options(cfg_, device_);  // every rank evaluates the whole split
  val_loader_ = std::make_unique<datasets::Loader>(val_ds_, eo);
  test_loader_ = std::make_unique<datasets::Loader>(test_ds_, eo);
  // Model and optimisation.
  model_ = models::build(cfg_, train_ds_->info());
  setup_finetune(opt_.resume && fs::exists(opt_.run_dir / "checkpoints" / "last.pt"));
  model_->to(device_);
  channels_last_ = cfg_.get<bool>("train.channels_last");
  if (channels_last_) models::to_channels_last(*model_);
  optimizer_ = build_optimizer(*model_, cfg_);
  loss_fn_ = loss_registry().get(cfg_.name_of("loss")).make(cfg_);
  grad_accum_ = cfg_.get<int64_t>("train.grad_accum");
  log_every_ = cfg_.get<int64_t>("train.log_every");
  ckpt_every_ = cfg_.get<int64_t>("train.checkpoint_every");
  max_steps_ = cfg_.get<int64_t>("train.max_steps");
  epochs_ = cfg_.get<int64_t>("train.epochs");
  grad_clip_ = cfg_.get<double>("train.grad_clip");
  ema_decay_ = cfg_.get<double>("train.ema_decay");
  eval_every_ = cfg_.get<int64_t>("train.eval_every");
  eval_every_steps_ = cfg_.get<int64_t>("train.eval_every_steps");
  patience_ = cfg_.get<int64_t>("train.early_stop_patience");
  const int64_t bpe = train_loader_->batches_per_epoch();
  TORCH_CHECK(bpe > 0, "the training split yields no batch (", train_ds_->size(), " samples, batch size ", lo.batch_size,
              ", drop_last ", lo.drop_last, ")");
  const int64_t steps_per_epoch = (bpe + grad_accum_ - 1) / grad_accum_;
  total_steps_ = epochs_ * steps_per_epoch;
  if (max_steps_ > 0) total_steps_ = std::min(total_steps_, max_steps_);
  ScheduleContext sc;
  sc.steps_per_epoch = steps_per_epoch;
  sc.total_steps = total_steps_;
  sc.warmup_steps = static_cast<int64_t>(std::llround(cfg_.get<double>("sched.warmup_epochs") * steps_per_epoch));
  schedule_ = std::make_unique<LRSchedule>(cfg_, cfg_.get<double>("optim.lr"), sc);
  std::tie(best_name_, maximize_) = selection_metric(cfg_, train_ds_->info().task);
  if (ema_decay_ > 0) {
    for (auto& t : state_tensors()) extras_.ema.push_back(t.detach().clone());
  }
  if (amp_ == "fp16") {
    extras_.scaler_scale = torch::full({1}, 65536.0, torch::TensorOptions().device(device_).dtype(torch::kFloat));
    extras_.scaler_growth = torch::zeros({1}, torch::TensorOptions().device(device_).dtype(torch::kInt));
  }
  // Run folder (new or resumed).
  const fs::path last = opt_.run_dir / "checkpoints" / "last.pt";
  if (opt_.resume) {
    // Only the writer (rank 0) locks the folder; other ranks only read it.
    run_ = main_ ? RunDir::open_for_writing(opt_.run_dir) : RunDir::open(opt_.run_dir);
    if (fs::exists(run_->checkpoints() / "last.pt")) {
      // The optimizer must have the parameter groups it was saved with.
      if (unfreeze_at_ > 0 && unfrozen_at(peek_state(run_->checkpoints() / "last.pt"), unfreeze_at_)) unfreeze();
      st_ = load_checkpoint(run_->checkpoints() / "last.pt", *model_, optimizer_.get(), &extras_);
      if (main_) std::cerr << "[smlab] resuming " << run_->path().string() << " at epoch " << st_.epoch + 1 << ", batch "
                << st_.batch << ", step " << st_.step << "\n";
    } else if (main_) {
      std::cerr << "[smlab] " << run_->path().string() << " has no checkpoint yet: starting it from the beginning\n";
    }
  } else if (main_) {
    run_ = RunDir::create(cfg_, device_.str(), opt_.run_dir);
    if (!init_report_.is_null()) write_file_atomic(run_->path() / "finetune.json", init_report_.dump(2) + "\n");
    // What scoring needs to prepare raw inputs as training did (fitted scalers, categories, ...).
    if (const auto prep = train_ds_->preprocessing(); !prep.is_null())
      write_file_atomic(run_->path() / "preprocessing.json", prep.dump(2) + "\n");
  }
  if (main_ && cfg_.get<bool>("train.tensorboard")) tb_ = std::make_unique<TensorBoardWriter>(run_->tensorboard());
  if (dist_) ddp_ = std::make_unique<DataParallel>(*model_, *dist_);  // after resume: rank 0's weights win
  window_loss_ = torch::zeros({}, torch::TensorOptions().device(device_).dtype(torch::kDouble));
  if (cfg_.get<bool>("train.cuda_graphs")) {
    graph_ = std::make_unique<GraphedStep>(
        *optimizer_,
        [this](const torch::Tensor& x, const torch::Tensor& y) {
          AutocastScope autocast(device_, amp_);
          return loss_fn_(model_->forward(x), y);
        },
        grad_clip_, device_);
  }
}

std::vector<torch::Tensor> TrainerImpl::state_tensors() {
  std::vector<torch::Tensor> out;
  for (auto& p : model_->parameters()) out.push_back(p);
  for (auto& b : model_->buffers()) out.push_back(b);
  return out;
}

void TrainerImpl::update_ema() {
  if (ema_decay_ <= 0) return;
  torch::NoGradGuard ng;
  auto cur = state_tensors();
  for (size_t i = 0; i < cur.size(); ++i) {
    // ema = decay * ema + (1 - decay) * current; integer buffers (BN counters) are copied.
    if (cur[i].is_floating_point()) extras_.ema[i].mul_(ema_decay_).add_(cur[i].detach(), 1 - ema_decay_);
    else extras_.ema[i].copy_(cur[i]);
  }
}

void TrainerImpl::swap_ema() {
  if (ema_decay_ <= 0) return;
  torch::NoGradGuard ng;
  auto cur = state_tensors();
  for (size_t i = 0; i < cur.size(); ++i) {
    auto tmp = cur[i].detach().clone();
    cur[i].copy_(extras_.ema[i]);
    extras_.ema[i].copy_(tmp);
  }
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
  if (main_) save_checkpoint(run_->checkpoints() / "last.pt", *model_, optimizer_.get(), st_, extras_);
}

/// Reads the device-side loss window once (one sync per log interval) and logs it.
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
              {"lr", schedule_->lr_at(std::max<int64_t>(0, st_.step - 1))}, {"samples", st_.samples}};
}

bool TrainerImpl::optimizer_step() {
  auto params = model_->parameters();
  if (amp_ == "fp16") {
    std::vector<torch::Tensor> grads;
    for (auto& p : params)
      if (p.grad().defined()) grads.push_back(p.grad());
    auto found_inf = torch::zeros({1}, torch::TensorOptions().device(device_).dtype(torch::kFloat));
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, extras_.scaler_scale.reciprocal());
    if (grad_clip_ > 0) clip_grad_norm(params, grad_clip_);
    const bool skip = found_inf.item<float>() > 0;
    if (!skip) optimizer_->step();
    at::_amp_update_scale_(extras_.scaler_scale, extras_.scaler_growth, found_inf, 2.0, 0.5, 2000);
    optimizer_->zero_grad(true);
    if (skip) return false;
  } else {
    if (grad_clip_ > 0) clip_grad_norm(params, grad_clip_);
    optimizer_->step();
    optimizer_->zero_grad(true);
  }
  update_ema();
  return true;
}

void TrainerImpl::train_epoch(int64_t epoch, Progress& progress) {
  if (unfreeze_at_ > 0 && freezer_.active() && epoch >= unfreeze_at_) unfreeze();
  model_->train();
  freezer_.apply_modes();  // norm layers of frozen parts keep their running statistics
  train_loader_->start_epoch(epoch, st_.batch);
  const int64_t bpe = train_loader_->batches_per_epoch();
  const uint64_t seed = cfg_.get<uint64_t>("experiment.seed");
  int64_t micro = 0;
  set_lr(*optimizer_, schedule_->lr_at(st_.step));
  while (auto batch = train_loader_->next()) {
    const int64_t b = train_loader_->position() - 1;
    for (auto& h : opt_.hooks) h->before_step(*this);
    auto x = to_device(batch->input, device_);
    auto y = to_device(batch->target, device_);
    if (!aug_train_.empty()) {
      auto gen = step_generator(seed, epoch, b);
      // mixup/cutmix replace the class ids by soft targets [B, K], which cross_entropy takes as probabilities
      datasets::AugmentBatch ab{x, y, train_ds_->info().num_classes};
      aug_train_.apply(ab, gen);
      x = ab.input;
      y = ab.target;
    }
    if (channels_last_) x = models::channels_last(x);
    // All-reduce only on the micro-batch that completes an optimizer step (DDP's no_sync otherwise).
    const bool sync = (micro + 1) % grad_accum_ == 0 || train_loader_->position() == bpe;
    torch::Tensor loss;
    if (graph_) {
      loss = graph_->step(x, y);  // forward, backward, clipping and the optimizer update (grad_accum is 1)
    } else {
      if (ddp_) ddp_->before_forward(sync);
      {
        AutocastScope autocast(device_, amp_);
        auto out = model_->forward(x);
        loss = loss_fn_(out, y);
      }
      if (ddp_) ddp_->after_forward(sync);
      auto scaled = loss / static_cast<double>(grad_accum_);
      if (amp_ == "fp16") scaled = scaled * extras_.scaler_scale;
      scaled.backward();
    }
    window_loss_ += loss.detach().to(torch::kDouble);
    ++window_count_;
    st_.samples += x.size(0);
    ++micro;
    const bool epoch_end = train_loader_->position() == bpe;
    if (micro % grad_accum_ != 0 && !epoch_end) continue;
    micro = 0;
    if (graph_) update_ema();
    else optimizer_step();
    ++st_.step;
    st_.batch = train_loader_->position();
    set_lr(*optimizer_, schedule_->lr_at(st_.step));
    bool stop_now = stop_requested_ || g_signal != 0 || (max_steps_ > 0 && st_.step >= max_steps_);
    if (dist_) {  // one rank's signal stops all ranks at the same step
      auto flag = torch::full({1}, stop_now ? 1.0f : 0.0f, torch::TensorOptions().device(device_));
      dist_->allreduce_sum(flag);
      stop_now = flag.item<float>() > 0;
      if (stop_now && !(max_steps_ > 0 && st_.step >= max_steps_)) stop_requested_ = true;
    }
    const bool log_now = st_.step % log_every_ == 0 || epoch_end || stop_now ||
                         (ckpt_every_ > 0 && st_.step % ckpt_every_ == 0);
    if (log_now) {
      const json rec = log_train_window();
      if (!std::isfinite(last_loss_)) {
        outcome_ = Outcome::NonFinite;
        return;
      }
      if (main_) run_->log_metrics(rec);
      if (tb_) {
        tb_->add_scalar("train/loss", rec["loss"], st_.step);
        tb_->add_scalar("train/lr", rec["lr"], st_.step);
      }
    }
    progress.update(st_.step, st_.samples, {{"loss", last_loss_}, {"lr", schedule_->lr_at(st_.step)}});
    for (auto& h : opt_.hooks) h->after_step(*this);
    // Step-based evaluation mid-epoch (run() evaluates at the epoch end). It runs before the periodic
    // checkpoint of the same step, so that the checkpoint holds its result (best value, patience).
    if (eval_every_steps_ > 0 && st_.step % eval_every_steps_ == 0 && !epoch_end) {
      if (validate(progress, /*closing=*/false)) return;  // non-finite validation loss, or early stop
      freezer_.apply_modes();  // evaluation put the whole model back in train mode
    }
    if (ckpt_every_ > 0 && st_.step % ckpt_every_ == 0 && !epoch_end) {
      save_last();
      if (outcome_ == Outcome::NonFinite) return;
    }
    if (stop_now) {
      if (max_steps_ > 0 && st_.step >= max_steps_) outcome_ = Outcome::MaxSteps;
      return;
    }
  }
}

json TrainerImpl::eval_split(datasets::Loader& loader) {
  swap_ema();
  json m = evaluate(*model_, loader, loss_fn_, device_, cfg_);
  swap_ema();
  return m;
}

/// Evaluates the validation split now (at an epoch end when `closing`, else mid-epoch), logs it, and
/// updates the best checkpoint and the early-stopping count. Returns true when training must stop:
/// outcome_ is then NonFinite or EarlyStopped. Evaluation touches no RNG and no training state
/// other than st_'s selection fields, so a run that evaluates resumes exactly.
bool TrainerImpl::validate(Progress& progress, bool closing) {
  st_.last_eval_step = st_.step;
  json val = eval_split(*val_loader_);
  if (!std::isfinite(val["loss"].get<double>())) {
    outcome_ = Outcome::NonFinite;
    if (closing) progress.finish();
    return true;
  }
  json rec = {{"split", "val"}, {"epoch", st_.epoch}, {"step", st_.step}};
  for (auto& [k, v] : val.items()) rec[k] = v;
  if (main_) run_->log_metrics(rec);
  if (tb_) {
    for (auto& [k, v] : val.items())
      if (v.is_number()) tb_->add_scalar("val/" + k, v.get<double>(), st_.step);
  }
  last_val_ = val;
  const double value = val.at(best_name_).get<double>();
  const bool improved = !st_.has_best || (maximize_ ? value > st_.best : value < st_.best);
  if (improved) {
    st_.best = value;
    st_.has_best = true;
    st_.best_epoch = st_.epoch;
    st_.best_step = st_.step;
    st_.bad_evals = 0;
    swap_ema();
    if (main_) save_checkpoint(best_path_, *model_, nullptr, st_);
    swap_ema();
  } else {
    ++st_.bad_evals;
  }
  for (auto& h : opt_.hooks) h->after_eval(*this, rec);
  char buf[200];
  if (closing) {
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld: val loss %.4f, %s %.4f%s", (long long)st_.epoch,
                  (long long)epochs_, val["loss"].get<double>(), best_name_.c_str(), value, improved ? " (best)" : "");
    progress.finish(buf);
  } else {
    std::snprintf(buf, sizeof buf, "step %lld (epoch %lld, batch %lld/%lld): val loss %.4f, %s %.4f%s",
                  (long long)st_.step, (long long)st_.epoch + 1, (long long)st_.batch,
                  (long long)train_loader_->batches_per_epoch(), val["loss"].get<double>(), best_name_.c_str(), value,
                  improved ? " (best)" : "");
    progress.note(buf);
  }
  if (patience_ > 0 && st_.bad_evals >= patience_) {
    outcome_ = Outcome::EarlyStopped;
    std::cerr << "[smlab] early stop: no improvement of " << best_name_ << " in " << patience_ << " evaluations\n";
    return true;
  }
  return false;
}

TrainResult TrainerImpl::run() {
  SignalGuard signals;
  setup();
  t0_ = std::chrono::steady_clock::now();
  const auto wall0 = std::chrono::steady_clock::now();
  for (auto& h : opt_.hooks) h->before_train(*this);
  best_path_ = run_ ? run_->checkpoints() / "best.pt" : fs::path();
  const auto mode = main_ ? Progress::parse_mode(cfg_.get<std::string>("train.progress")) : Progress::Mode::None;
  const std::string exp = experiment_name(cfg_);
  if (main_)
    std::cerr << "[smlab] " << exp << ": " << cfg_.name_of("model") << " (" << models::parameter_count(*model_)
            << " parameters) on " << cfg_.name_of("data") << " (" << train_ds_->size() << " train / " << val_ds_->size()
            << " val / " << test_ds_->size() << " test), device " << device_.str() << ", run folder "
            << run_->path().string() << (dist_ ? " (" + std::to_string(dist_env_.world) + " ranks, " + dist_->backend() + ")" : std::string()) << "\n";
  if (max_steps_ > 0 && st_.step >= max_steps_) {
    // Resumed after the last step was checkpointed but before the run finished: train no further.
    outcome_ = Outcome::MaxSteps;
    Progress progress(mode, "final", total_steps_, log_every_);
    if (st_.last_eval_step != st_.step && validate(progress, true)) {
      if (outcome_ == Outcome::EarlyStopped) save_last();
    }
  }
  while (st_.epoch < epochs_ && outcome_ == Outcome::Completed) {
    const int64_t epoch = st_.epoch;
    Progress progress(mode, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs_), total_steps_,
                      log_every_);
    train_epoch(epoch, progress);
    if (outcome_ == Outcome::NonFinite) {
      progress.finish();
      break;
    }
    if (outcome_ == Outcome::EarlyStopped) {  // decided by a mid-epoch evaluation
      progress.finish();
      save_last();
      break;
    }
    const bool epoch_done = train_loader_->position() >= train_loader_->batches_per_epoch();
    if (!epoch_done && outcome_ != Outcome::MaxSteps) {  // stopped mid-epoch by a hook or a signal
      progress.finish();
      save_last();
      if (g_signal != 0) std::cerr << "[smlab] signal " << g_signal << ": checkpoint saved, stopping\n";
      break;
    }
    if (epoch_done) {
      st_.epoch = epoch + 1;
      st_.batch = 0;
    }
    // Evaluate at the end of every eval_every-th epoch, at a step-based evaluation step that ends an
    // epoch, and when training ends (last epoch or max_steps, mid-epoch included) -- once per step.
    const bool last = st_.epoch == epochs_ || outcome_ == Outcome::MaxSteps;
    const bool due = last || (epoch_done && eval_every_ > 0 && st_.epoch % eval_every_ == 0) ||
                     (eval_every_steps_ > 0 && st_.step % eval_every_steps_ == 0);
    if (due && st_.last_eval_step != st_.step) {
      if (validate(progress, /*closing=*/true)) {
        if (outcome_ == Outcome::EarlyStopped) save_last();
        break;
      }
    } else {
      progress.finish();
    }
    save_last();
    if (outcome_ == Outcome::MaxSteps || outcome_ == Outcome::NonFinite) break;
    if (stop_requested_ || g_signal != 0) {  // asked to stop on an epoch's last step
      if (g_signal != 0) std::cerr << "[smlab] signal " << g_signal << ": checkpoint saved, stopping\n";
      break;
    }
  }
  const json& last_val = last_val_;
  const fs::path& best_path = best_path_;
  if (!main_) {  // other ranks wrote nothing; rank 0 evaluates the test split and writes the summary
    for (auto& h : opt_.hooks) h->after_train(*this);
    return {opt_.run_dir, json{{"status", "worker"}, {"rank", dist_env_.rank}}, outcome_};
  }
  json summary;
  summary["experiment"] = exp;
  summary["run_dir"] = run_->path().string();
  summary["model"] = cfg_.name_of("model");
  summary["dataset"] = cfg_.name_of("data");
  summary["parameters"] = models::parameter_count(*model_);
  summary["device"] = device_.str();
  summary["world_size"] = dist_env_.world;
  summary["seed"] = cfg_.get<int64_t>("experiment.seed");
  summary["config_hash"] = cfg_.hash();
  summary["epochs"] = st_.epoch;
  summary["steps"] = st_.step;
  summary["samples"] = st_.samples;
  if (const fs::path ft = run_->path() / "finetune.json"; fs::exists(ft)) summary["finetune"] = json::parse(read_file(ft));
  if (!freezer_.prefixes().empty())
    summary["frozen"] = {{"prefixes", freezer_.prefixes()}, {"unfreeze_at_epoch", unfreeze_at_}};
  if (outcome_ == Outcome::NonFinite) {
    const std::string msg = "the training loss became NaN or Inf at step " + std::to_string(st_.step) + " (epoch " +
                            std::to_string(st_.epoch + 1) + "); stopping. The last good checkpoint is kept at " +
                            (run_->checkpoints() / "last.pt").string() +
                            ". Try a lower optim.lr, train.grad_clip, or train.amp=none.";
    std::cerr << "[smlab] error: " << msg << "\n";
    summary["status"] = "nonfinite_loss";
    summary["error"] = msg;
  } else {
    summary["status"] = outcome_ == Outcome::EarlyStopped ? "early_stopped"
                        : (g_signal != 0 || stop_requested_) ? "interrupted"
                        : outcome_ == Outcome::MaxSteps      ? "max_steps"
                                                             : "completed";
  }
  st_.elapsed += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  t0_ = std::chrono::steady_clock::now();
  summary["train_seconds"] = st_.elapsed;
  summary["samples_per_second"] = st_.elapsed > 0 ? st_.samples / st_.elapsed : 0;
  summary["best_metric"] = best_name_;
  if (st_.has_best) {
    summary["best"] = {{"value", st_.best}, {"epoch", st_.best_epoch}, {"step", st_.best_step}};
  }
  if (!last_val.is_null()) summary["val"] = last_val;
  const bool finished = summary["status"] != "interrupted" && summary["status"] != "nonfinite_loss";
  if (finished && fs::exists(best_path)) {
    // Test metrics of the selected (best) weights.
    // best.pt holds the weights that were evaluated (EMA ones when enabled), so no swap here.
    load_checkpoint(best_path, *model_, nullptr, nullptr, /*restore_rng=*/false);
    json test = evaluate(*model_, *test_loader_, loss_fn_, device_, cfg_);
    summary["test"] = test;
    json rec = {{"split", "test"}, {"epoch", st_.best_epoch}, {"step", st_.step}};
    for (auto& [k, v] : test.items()) rec[k] = v;
    run_->log_metrics(rec);
    if (tb_) {
      for (auto& [k, v] : test.items())
        if (v.is_number()) tb_->add_scalar("test/" + k, v.get<double>(), st_.step);
    }
  }
  summary["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  run_->write_summary(summary);
  if (tb_) tb_->flush();
  for (auto& h : opt_.hooks) h->after_train(*this);
  return {run_->path(), summary, outcome_};
}

}  // namespace

datasets::LoaderOptions eval_loader_options(const config::Config& cfg, const c10::Device& device) {
  datasets::LoaderOptions o;
  if (device.is_cuda()) o.device = device;
  const auto eb = cfg.get<int64_t>("data.eval_batch_size");
  o.batch_size = eb > 0 ? eb : cfg.get<int64_t>("data.batch_size");
  o.shuffle = false;
  o.drop_last = false;
  o.seed = cfg.get<uint64_t>("experiment.seed");
  o.workers = cfg.get<int>("data.workers");
  o.prefetch = cfg.get<int>("data.prefetch");
  return o;
}

void for_each_eval_batch(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                         const config::Config& cfg,
                         const std::function<bool(const torch::Tensor&, const torch::Tensor&)>& fn) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const std::string amp = cfg.get<std::string>("train.amp");
  const bool channels_last = cfg.get<bool>("train.channels_last");
  const datasets::AugmentPipeline augs(datasets::augment_specs(cfg, "augment.eval"));
  const uint64_t seed = cfg.get<uint64_t>("experiment.seed");
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    auto x = to_device(batch->input, device);
    if (!augs.empty()) {
      auto gen = step_generator(seed, -1, loader.position());
      x = augs.apply(x, gen);
    }
    if (channels_last) x = models::channels_last(x);
    // Multi-clip evaluation (video datasets' eval_clips): [B, K, ...] inputs, one more axis than
    // the samples' [B, ...]; the model sees the B * K clips and their logits are averaged per sample.
    const bool multi = x.dim() == static_cast<int64_t>(loader.dataset().info().input_shape.size()) + 2;
    torch::Tensor out;
    {
      AutocastScope autocast(device, amp);
      out = multi ? model.forward(x.flatten(0, 1)).unflatten(0, {x.size(0), x.size(1)}).mean(1) : model.forward(x);
    }
    if (!fn(out.to(torch::kFloat), batch->target)) break;
  }
  if (was_training) model.train();
}

json evaluate(models::Model& model, datasets::Loader& loader, const LossFn& loss_fn, const c10::Device& device,
              const config::Config& cfg) {
  const auto& info = loader.dataset().info();
  const bool cls = info.task == datasets::Task::Classification;
  std::optional<metrics::ClassificationMetrics> cm;
  std::optional<metrics::RegressionMetrics> rm;
  if (cls) cm.emplace(info.num_classes);
  else rm.emplace();
  double loss_sum = 0;
  int64_t n = 0;
  bool finite = true;
  for_each_eval_batch(model, loader, device, cfg, [&](const torch::Tensor& out, const torch::Tensor& target) {
    const double batch_loss = loss_fn(out, to_device(target, device)).item<double>();
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
  for (const auto& [k, v] : (cls ? cm->compute() : rm->compute())) {
    if (k.find('/') == std::string::npos) result[k] = v;  // per-class values stay out of the summary
  }
  return result;
}

TrainResult train(const config::Config& cfg, const TrainOptions& options) {
  TrainerImpl trainer(cfg, options);
  return trainer.run();
}

}  // namespace smlab::trainers
