#include "trainers/trainer_options.h"

namespace smlab::trainers {

std::string setting_origin(const config::Config& cfg, const std::string& key) {
  auto it = cfg.origins().find(key);
  const std::string where = it != cfg.origins().end() ? it->second.str() : cfg.source();
  return (where.empty() ? "" : where + ": ") + key;
}

std::string TrainerOptions::where(const std::string& key) const {
  auto it = origins_.find(key);
  const std::string at = it != origins_.end() ? it->second.str() : source_;
  return (at.empty() ? "" : at + ": ") + key;
}

namespace {

BestMode parse_best_mode(const std::string& mode) {
  if (mode == "max") return BestMode::Max;
  if (mode == "min") return BestMode::Min;
  return BestMode::Auto;  // the schema allows auto, max, min only
}

void read_experiment(TrainerOptions& o, const config::Config& cfg) {
  o.seed = cfg.get<uint64_t>("experiment.seed");
  o.device = cfg.get<std::string>("experiment.device");
  o.threads = cfg.get<int>("experiment.threads");
  o.deterministic = cfg.get<bool>("experiment.deterministic");
  o.fill_uninitialized = cfg.get<bool>("experiment.fill_uninitialized");
}

void read_data(TrainerOptions& o, const config::Config& cfg) {
  o.batch_size = cfg.get<int64_t>("data.batch_size");
  o.eval_batch_size = cfg.get<int64_t>("data.eval_batch_size");
  o.shuffle = cfg.get<bool>("data.shuffle");
  o.drop_last = cfg.get<bool>("data.drop_last");
  o.workers = cfg.get<int>("data.workers");
  o.prefetch = cfg.get<int>("data.prefetch");
  o.augment_train = datasets::augment_specs(cfg, "augment.train");
  o.augment_eval = datasets::augment_specs(cfg, "augment.eval");
}

void read_train(TrainerOptions& o, const config::Config& cfg) {
  o.epochs = cfg.get<int64_t>("train.epochs");
  o.max_steps = cfg.get<int64_t>("train.max_steps");
  o.grad_accum = cfg.get<int64_t>("train.grad_accum");
  o.grad_clip = cfg.get<double>("train.grad_clip");
  o.amp = parse_amp(cfg.get<std::string>("train.amp"), setting_origin(cfg, "train.amp"));
  o.channels_last = cfg.get<bool>("train.channels_last");
  o.cuda_graphs = cfg.get<bool>("train.cuda_graphs");
  o.ema_decay = cfg.get<double>("train.ema_decay");
  o.eval_every = cfg.get<int64_t>("train.eval_every");
  o.eval_every_steps = cfg.get<int64_t>("train.eval_every_steps");
  o.log_every = cfg.get<int64_t>("train.log_every");
  o.checkpoint_every = cfg.get<int64_t>("train.checkpoint_every");
  o.early_stop_patience = cfg.get<int64_t>("train.early_stop_patience");
  o.best_metric = cfg.get<std::string>("train.best_metric");
  o.best_mode = parse_best_mode(cfg.get<std::string>("train.best_mode"));
  o.progress = Progress::parse_mode(cfg.get<std::string>("train.progress"));
  o.tensorboard = cfg.get<bool>("train.tensorboard");
  o.tb_histogram_every = cfg.get<int64_t>("train.tb_histogram_every");
  o.hooks = cfg.get<std::vector<std::string>>("train.hooks");
}

void read_finetune(TrainerOptions& o, const config::Config& cfg) {
  o.finetune_init = cfg.get<std::string>("finetune.init");
  o.finetune_strict = cfg.get<bool>("finetune.strict");
  o.freeze = cfg.get<std::vector<std::string>>("finetune.freeze");
  o.unfreeze_at_epoch = cfg.get<int64_t>("finetune.unfreeze_at_epoch");
}

}  // namespace

TrainerOptions TrainerOptions::from_config(const config::Config& cfg) {
  TrainerOptions o;
  o.origins_ = cfg.origins();
  o.source_ = cfg.source();
  read_experiment(o, cfg);
  read_data(o, cfg);
  read_train(o, cfg);
  read_finetune(o, cfg);
  o.warmup_epochs = cfg.get<double>("sched.warmup_epochs");
  o.lr = cfg.get<double>("optim.lr");
  return o;
}

}  // namespace smlab::trainers
