// The trainer: setup (data, model, optimizer, run folder, resume), the epoch loop and summary.json.
// The step and validation are in train_loop.cpp; what happens around them is in hooks.cpp.
#include "trainers/trainer.h"

#include <torch/torch.h>

#include <atomic>
#include <csignal>
#include <iostream>

#include "core/atomic_file.h"
#include "core/autocast.h"
#include "core/device.h"
#include "core/error.h"
#include "core/text.h"
#include "trainers/hooks.h"
#include "trainers/trainer_impl.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::trainers {
namespace detail {
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

}  // namespace

int signal_received() { return g_signal; }

TrainerImpl::TrainerImpl(const config::Config& cfg, const TrainOptions& opt)
    : cfg_(cfg), opt_(opt), o_(TrainerOptions::from_config(cfg)), device_(c10::kCPU) {}

/// finetune.init (a new run only: a resumed one continues from its own checkpoint) and finetune.freeze.
void TrainerImpl::setup_finetune(bool resuming) {
  if (!o_.finetune_init.empty() && !resuming) {
    const InitReport rep = init_from_weights(*model_, o_.finetune_init, o_.finetune_strict, o_.where("finetune.init"));
    if (main_) std::cerr << "[smlab] finetune: " << rep.summary() << "\n";
    if (main_ && rep.source_unfinished())
      std::cerr << "[smlab] finetune: warning: the run behind " << rep.file << " has not finished (status "
                << rep.source_status << "): its weights are those of the epoch it had reached\n";
    init_report_ = rep.to_json();
  }
  freezer_ = Freezer(*model_, o_.freeze, o_.where("finetune.freeze"));
  const int64_t at = o_.unfreeze_at_epoch;
  if (at > 0 && freezer_.prefixes().empty())
    throw UserError(o_.where("finetune.unfreeze_at_epoch") + " = " + std::to_string(at) +
                    " has nothing to unfreeze: finetune.freeze is empty");
  if (at > 0 && o_.cuda_graphs)
    throw UserError(o_.where("finetune.unfreeze_at_epoch") +
                    " changes the trained parameters mid-run, which a captured CUDA graph cannot follow; "
                    "use train.cuda_graphs=false");
  freezer_.freeze();
  if (main_ && freezer_.active()) {
    int64_t n = 0;
    for (const auto& p : freezer_.frozen_parameters()) n += p.numel();
    std::cerr << "[smlab] finetune: froze " << n << " of " << models::parameter_count(*model_) << " parameters (";
    for (size_t i = 0; i < freezer_.prefixes().size(); ++i) std::cerr << (i ? ", " : "") << freezer_.prefixes()[i];
    std::cerr << ")" << (at > 0 ? ", until epoch " + std::to_string(at) + " ends" : std::string()) << "\n";
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
              << " parameter tensors; every parameter trains from epoch " << o_.unfreeze_at_epoch + 1 << " on\n";
}

/// Seed, threads, determinism, device, processes; the hooks (their settings are checked first).
void TrainerImpl::setup_runtime() {
  torch::manual_seed(o_.seed);
  if (o_.threads > 0) torch::set_num_threads(o_.threads);
  at::globalContext().setDeterministicAlgorithms(o_.deterministic, /*warn_only=*/true);
  // LibTorch fills every at::empty() with NaN under deterministic algorithms unless told not to; the
  // kernels write their outputs in full, so this only costs time (a fill per activation) by default.
  at::globalContext().setDeterministicFillUninitializedMemory(o_.fill_uninitialized);
  device_ = resolve_device(o_.device);
  dist_env_ = dist_env_from_environment();
  main_ = dist_env_.is_main();
  if (dist_env_.active()) {
    if (device_.is_cuda()) device_ = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(dist_env_.local_rank));
    dist_ = std::make_unique<Distributed>(dist_env_, device_);
  }
  if (o_.amp == Amp::FP16 && !device_.is_cuda()) {
    throw UserError("train.amp=fp16 needs a CUDA device (the loss scaler is CUDA-only); on CPU use train.amp=bf16");
  }
  if (o_.cuda_graphs) {
    if (const std::string why = cuda_graph_refusal(cfg_, device_, dist_env_.world); !why.empty()) throw UserError(why);
  }
  core_hooks_ = build_core_hooks(o_);
  extra_hooks_ = build_optional_hooks(o_);
  extra_hooks_.insert(extra_hooks_.end(), opt_.hooks.begin(), opt_.hooks.end());
}

void TrainerImpl::setup_data() {
  train_ds_ = datasets::build(cfg_, datasets::Split::Train);
  val_ds_ = datasets::build(cfg_, datasets::Split::Val);
  test_ds_ = datasets::build(cfg_, datasets::Split::Test);
  datasets::LoaderOptions lo;
  lo.batch_size = o_.batch_size;
  lo.shuffle = o_.shuffle;
  lo.drop_last = o_.drop_last;
  lo.seed = o_.seed;
  lo.workers = o_.workers;
  lo.prefetch = o_.prefetch;
  lo.rank = dist_env_.rank;
  lo.world = dist_env_.world;
  // On a GPU, loader workers pin and copy batches on a side stream, and augment.train ops run on
  // the device batch (CUDA kernels; their random parameters come from the step's host generator).
  aug_train_ = datasets::AugmentPipeline(o_.augment_train);
  if (device_.is_cuda()) lo.device = device_;
  train_loader_ = std::make_unique<datasets::Loader>(train_ds_, lo);
  const datasets::LoaderOptions eo = eval_loader_options(o_, device_);  // every rank evaluates the whole split
  val_loader_ = std::make_unique<datasets::Loader>(val_ds_, eo);
  test_loader_ = std::make_unique<datasets::Loader>(test_ds_, eo);
  TORCH_CHECK(train_loader_->batches_per_epoch() > 0, "the training split yields no batch (", train_ds_->size(),
              " samples, batch size ", lo.batch_size, ", drop_last ", lo.drop_last, ")");
}

void TrainerImpl::setup_model() {
  model_ = models::build(cfg_, train_ds_->info());
  setup_finetune(opt_.resume && fs::exists(opt_.run_dir / "checkpoints" / "last.pt"));
  model_->to(device_);
  if (o_.channels_last) models::to_channels_last(*model_);
  optimizer_ = build_optimizer(*model_, cfg_);
  loss_fn_ = loss_registry().get(cfg_.name_of("loss")).make(cfg_);
}

void TrainerImpl::setup_schedule() {
  const int64_t bpe = train_loader_->batches_per_epoch();
  const int64_t steps_per_epoch = (bpe + o_.grad_accum - 1) / o_.grad_accum;
  total_steps_ = o_.epochs * steps_per_epoch;
  if (o_.max_steps > 0) total_steps_ = std::min(total_steps_, o_.max_steps);
  ScheduleContext sc;
  sc.steps_per_epoch = steps_per_epoch;
  sc.total_steps = total_steps_;
  sc.warmup_steps = static_cast<int64_t>(std::llround(o_.warmup_epochs * steps_per_epoch));
  schedule_ = std::make_unique<LRSchedule>(cfg_, o_.lr, sc);
  std::tie(best_name_, maximize_) = selection_metric(o_, train_ds_->info().task);
  if (o_.amp == Amp::FP16) {
    extras_.scaler_scale = torch::full({1}, 65536.0, torch::TensorOptions().device(device_).dtype(torch::kFloat));
    extras_.scaler_growth = torch::zeros({1}, torch::TensorOptions().device(device_).dtype(torch::kInt));
  }
}

/// The run folder: a new one, or the resumed one with its last checkpoint loaded.
void TrainerImpl::setup_run_dir() {
  if (opt_.resume) {
    // Only the writer (rank 0) locks the folder; other ranks only read it.
    run_ = main_ ? RunDir::open_for_writing(opt_.run_dir) : RunDir::open(opt_.run_dir);
    const fs::path last = run_->checkpoints() / "last.pt";
    if (fs::exists(last)) {
      // The optimizer must have the parameter groups it was saved with.
      const int64_t at = o_.unfreeze_at_epoch;
      if (at > 0 && unfrozen_at(peek_state(last), at)) unfreeze();
      st_ = load_checkpoint(last, *model_, optimizer_.get(), &extras_);
      wall_before_ = st_.wall;
      if (main_)
        std::cerr << "[smlab] resuming " << run_->path().string() << " at epoch " << st_.epoch + 1 << ", batch "
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
}

void TrainerImpl::setup() {
  setup_runtime();
  setup_data();
  setup_model();
  setup_schedule();
  setup_run_dir();
  if (dist_) ddp_ = std::make_unique<DataParallel>(*model_, *dist_);  // after resume: rank 0's weights win
  window_loss_ = torch::zeros({}, torch::TensorOptions().device(device_).dtype(torch::kDouble));
  if (o_.cuda_graphs) {
    graph_ = std::make_unique<GraphedStep>(
        *optimizer_,
        [this](const torch::Tensor& x, const torch::Tensor& y) {
          AutocastScope autocast(device_, o_.amp);
          return loss_fn_(model_->forward(x), y);
        },
        o_.grad_clip, device_);
  }
}

void TrainerImpl::log_start() const {
  if (!main_) return;
  std::cerr << "[smlab] " << experiment_name(cfg_) << ": " << cfg_.name_of("model") << " ("
            << models::parameter_count(*model_) << " parameters) on " << cfg_.name_of("data") << " ("
            << train_ds_->size() << " train / " << val_ds_->size() << " val / " << test_ds_->size()
            << " test), device " << device_.str() << ", run folder " << run_->path().string()
            << (dist_ ? " (" + std::to_string(dist_env_.world) + " ranks, " + dist_->backend() + ")" : std::string())
            << "\n";
}

/// Resumed after the last step was checkpointed but before the run finished: train no further, but
/// evaluate that step if its evaluation did not run yet.
void TrainerImpl::finish_resumed_run() {
  outcome_ = Outcome::MaxSteps;
  Progress progress(main_ ? o_.progress : Progress::Mode::None, "final", total_steps_, o_.log_every);
  progress_ = &progress;
  if (st_.last_eval_step != st_.step) validate(/*closing=*/true);
  if (outcome_ == Outcome::EarlyStopped) each_hook([&](HookBase& h) { h.on_stop(*this); });
  progress_ = nullptr;
}

/// A resumed run that has nothing left to train (its summary says it finished, and the checkpoint is the
/// one that summary describes) keeps its summary and metrics as they are: evaluating and logging again
/// would duplicate its test record and reset its timing.
std::optional<json> TrainerImpl::already_finished() {
  if (!opt_.resume || !run_ || !fs::exists(run_->summary_file())) return std::nullopt;
  json summary;
  try {
    summary = json::parse(read_file(run_->summary_file()));
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable: rebuilt from the checkpoint below
  }
  const std::string status = summary.value("status", "");
  const bool finished = finished_status(status);
  const bool nothing_left = status == "early_stopped" || st_.epoch >= o_.epochs ||
                            (o_.max_steps > 0 && st_.step >= o_.max_steps);
  if (!finished || !nothing_left || summary.value("steps", int64_t{-1}) != st_.step) return std::nullopt;
  if (main_)
    std::cerr << "[smlab] " << run_->path().string() << " already finished (" << status
              << "); its summary is kept. Raise train.epochs to train it further.\n";
  return summary;
}

TrainResult TrainerImpl::run() {
  SignalGuard signals;
  setup();
  if (auto done = already_finished()) return {run_->path(), *done, outcome_};
  if (opt_.resume && main_) {  // what ran after the checkpoint is logged again: once, not twice
    if (const int n = run_->rewind_metrics(st_.step); n > 0)
      std::cerr << "[smlab] metrics.jsonl: " << n << " record(s) from after the checkpoint dropped; they are logged again\n";
  }
  t0_ = std::chrono::steady_clock::now();
  each_hook([&](HookBase& h) { h.before_train(*this); });
  log_start();
  if (o_.max_steps > 0 && st_.step >= o_.max_steps) finish_resumed_run();
  const auto stopping = [&] { each_hook([&](HookBase& h) { h.on_stop(*this); }); };
  while (st_.epoch < o_.epochs && outcome_ == Outcome::Completed) {
    const int64_t epoch = st_.epoch;
    Progress progress(main_ ? o_.progress : Progress::Mode::None,
                      "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o_.epochs), total_steps_, o_.log_every);
    progress_ = &progress;
    train_epoch(epoch);
    if (outcome_ == Outcome::NonFinite || outcome_ == Outcome::EarlyStopped) {  // EarlyStopped: mid-epoch evaluation
      progress.finish();
      if (outcome_ == Outcome::EarlyStopped) stopping();
      break;
    }
    const bool epoch_done = at_epoch_end();
    if (!epoch_done && outcome_ != Outcome::MaxSteps) {  // stopped mid-epoch by a hook or a signal
      progress.finish();
      stopping();
      if (g_signal != 0) std::cerr << "[smlab] signal " << g_signal << ": checkpoint saved, stopping\n";
      break;
    }
    if (epoch_done) {
      st_.epoch = epoch + 1;
      st_.batch = 0;
    }
    each_hook([&](HookBase& h) { h.after_epoch(*this); });  // evaluation when due, then last.pt
    progress.finish();  // a no-op when the evaluation closed the display
    if (outcome_ != Outcome::Completed) break;  // MaxSteps, NonFinite, EarlyStopped
    if (stop_requested_ || g_signal != 0) {     // asked to stop on an epoch's last step
      if (g_signal != 0) std::cerr << "[smlab] signal " << g_signal << ": checkpoint saved, stopping\n";
      break;
    }
  }
  progress_ = nullptr;
  if (!main_) {  // other ranks wrote nothing; rank 0 evaluates the test split and writes the summary
    each_hook([&](HookBase& h) { h.after_train(*this); });
    return {opt_.run_dir, json{{"status", "worker"}, {"rank", dist_env_.rank}}, outcome_, g_signal.load()};
  }
  json summary = summarize();
  run_->write_summary(summary);
  each_hook([&](HookBase& h) { h.after_train(*this); });
  return {run_->path(), summary, outcome_, g_signal.load()};
}

/// Test metrics of the selected (best) weights. best.pt holds the weights that were evaluated (EMA
/// ones when enabled), so no swap here.
void TrainerImpl::test_best(json& summary) {
  load_checkpoint(run_->checkpoints() / "best.pt", *model_, nullptr, nullptr, /*restore_rng=*/false);
  json test = evaluate(*model_, *test_loader_, loss_fn_, device_, o_);
  summary["test"] = test;
  json rec = {{"split", "test"}, {"epoch", st_.best_epoch}, {"step", st_.step}};
  for (auto& [k, v] : test.items()) rec[k] = v;
  log(rec);
}

double TrainerImpl::wall_seconds() const {
  return wall_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count();
}

json TrainerImpl::summarize() {
  json summary;
  summary["experiment"] = experiment_name(cfg_);
  summary["run_dir"] = run_->path().string();
  summary["model"] = cfg_.name_of("model");
  summary["dataset"] = cfg_.name_of("data");
  summary["parameters"] = models::parameter_count(*model_);
  summary["device"] = device_.str();
  summary["world_size"] = dist_env_.world;
  summary["seed"] = o_.seed;
  summary["config_hash"] = cfg_.hash();
  summary["epochs"] = st_.epoch;
  summary["steps"] = st_.step;
  summary["samples"] = st_.samples;
  if (const fs::path ft = run_->path() / "finetune.json"; fs::exists(ft)) summary["finetune"] = json::parse(read_file(ft));
  if (!freezer_.prefixes().empty())
    summary["frozen"] = {{"prefixes", freezer_.prefixes()}, {"unfreeze_at_epoch", o_.unfreeze_at_epoch}};
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
  if (st_.has_best) summary["best"] = {{"value", st_.best}, {"epoch", st_.best_epoch}, {"step", st_.best_step}};
  if (!st_.last_val.is_null()) summary["val"] = st_.last_val;  // kept in the checkpoint, so a resume keeps it
  const bool finished = summary["status"] != "interrupted" && summary["status"] != "nonfinite_loss";
  if (finished && fs::exists(run_->checkpoints() / "best.pt")) test_best(summary);
  summary["wall_seconds"] = wall_seconds();
  return summary;
}

}  // namespace detail

TrainResult train(const config::Config& cfg, const TrainOptions& options) {
  detail::TrainerImpl trainer(cfg, options);
  return trainer.run();
}

}  // namespace smlab::trainers
