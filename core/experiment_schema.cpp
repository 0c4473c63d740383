// The experiment schema: every top-level section and its fixed keys. Component sections
// (model, data, optim, sched, loss) also accept the chosen component's own parameters,
// declared next to the component (models/, datasets/, trainers/).
#include "core/config.h"

namespace smlab::config {
namespace {

/// A field whose values are names from `registry` (member-wise: no missing-initializer warnings).
Field registry_field(const std::string& key, Type type, const std::string& def, const std::string& help,
                     const std::string& registry) {
  Field f;
  f.key = key;
  f.type = type;
  f.default_yaml = def;
  f.help = help;
  f.registry = registry;
  return f;
}

Field registry_name(const std::string& registry, const std::string& def, const std::string& help) {
  return registry_field("name", Type::String, def, help, registry);
}

std::vector<std::string> device_choices() {
  std::vector<std::string> out = {"auto", "cpu", "cuda"};
  for (int i = 0; i < 16; ++i) out.push_back("cuda:" + std::to_string(i));
  return out;
}

std::vector<Section> make_sections() {
  std::vector<Section> s;
  s.push_back({"experiment", "What the run is called, where it goes, and how it is seeded.",
               Schema()
                   .string("name", "", "experiment name; runs go to <output_dir>/<name>/ (default: the config file's stem)")
                   .integer("seed", 0, "seed for initialisation, shuffling and augmentation", 0)
                   .string("output_dir", "runs", "root folder of run folders")
                   .choice("device", "auto", device_choices(),
                           "auto (cuda when a GPU is present, else cpu), cpu, cuda or cuda:N")
                   .integer("threads", 0, "intra-op CPU threads (0 = LibTorch's default)", 0, 1024)
                   .boolean("deterministic", true, "use deterministic algorithms (bit-identical reruns on CPU)")
                   .boolean("fill_uninitialized", false,
                            "with deterministic: fill every new uninitialised tensor with NaN (LibTorch's check "
                            "that no kernel reads uninitialised memory; costs about 5% of a CPU CNN step)"),
               ""});
  s.push_back({"model", "The network. `name` picks a registered model; its parameters follow.",
               Schema().add(registry_name("model", "mlp", "registered model name")), "model"});
  s.push_back({"data", "The dataset and how it is batched. `name` picks a registered dataset.",
               Schema()
                   .add(registry_name("dataset", "synthetic_blobs", "registered dataset name"))
                   .integer("batch_size", 64, "training batch size (global, over all ranks)", 1)
                   .integer("eval_batch_size", 0, "evaluation batch size (0 = batch_size)", 0)
                   .boolean("shuffle", true, "reshuffle the training set every epoch (deterministic by seed and epoch)")
                   .boolean("drop_last", false, "drop the last incomplete training batch")
                   .integer("workers", 2, "loader threads that assemble batches ahead of the trainer", 0, 64)
                   .integer("prefetch", 2, "batches prepared ahead of the trainer", 1, 64),
               "dataset"});
  s.push_back({"optim", "The optimizer. `name` picks a registered optimizer.",
               Schema().add(registry_name("optimizer", "sgd", "registered optimizer name")), "optimizer"});
  s.push_back({"sched", "The learning-rate schedule, applied per step after an optional linear warmup.",
               Schema()
                   .add(registry_name("scheduler", "cosine", "registered schedule name"))
                   .number("warmup_epochs", 0.0, "linear warmup from 0 to the base LR, in epochs (fractions allowed)", 0.0),
               "scheduler"});
  s.push_back({"loss", "The training loss. `name` picks a registered loss.",
               Schema().add(registry_name("loss", "cross_entropy", "registered loss name")), "loss"});
  s.push_back(
      {"finetune",
       "Start from saved weights, replace the classifier, freeze parts of the model (see docs/finetuning.md).",
       Schema()
           .string("init", "",
                   "weights to start from: an smlab checkpoint (`smlab import-weights` output, a run's "
                   "checkpoints/*.pt), a run folder (its best.pt, else last.pt) or a TorchScript module; tensors "
                   "match by name, and the classifier (the model's last Linear) is freshly initialised when its "
                   "shape differs (\"\" = random initialisation)")
           .boolean("strict", true, "tensors missing on either side (other than the classifier) are an error")
           .list("freeze", Type::StringList, "[]",
                 "parameter-name prefixes to keep fixed (e.g. [conv1, bn1, layer1]); their norm layers stay in eval "
                 "mode")
           .integer("unfreeze_at_epoch", 0,
                    "train everything after this many epochs (0 = the frozen prefixes stay frozen)", 0),
       ""});
  // Each entry is a name (`hflip`) or a map `{name: random_resized_crop_flip, scale: [0.5, 1.0]}` of a
  // name and that augmentation's own parameters; the resolved config holds maps with every parameter.
  const Field aug_train = registry_field("train", Type::ComponentList, "[]",
                                         "augmentations applied to training batches, in order: names or {name: ..., params} maps",
                                         "augmentation");
  const Field aug_eval = registry_field("eval", Type::ComponentList, "[]",
                                        "augmentations applied to evaluation batches, in order: names or {name: ..., params} maps",
                                        "augmentation");
  s.push_back({"augment", "Batch augmentation pipelines (see docs/augmentation.md).", Schema().add(aug_train).add(aug_eval), ""});
  const Field hooks = registry_field("hooks", Type::StringList, "[]",
                                     "optional trainer hooks by name, in order (core hooks are on by their own "
                                     "settings; see docs/training.md#hooks)",
                                     "hook");
  s.push_back(
      {"train", "The training loop.",
       Schema()
           .integer("epochs", 10, "epochs to train", 1)
           .integer("max_steps", 0, "stop after this many optimizer steps (0 = no limit)", 0)
           .integer("grad_accum", 1, "micro-batches accumulated per optimizer step", 1, 1024)
           .number("grad_clip", 0.0, "clip the global gradient norm to this value (0 = off)", 0.0)
           .choice("amp", "none", {"none", "bf16", "fp16"},
                   "mixed precision autocast; fp16 adds a dynamic loss scaler (CUDA only)")
           .boolean("channels_last", false, "channels-last memory format for inputs and conv weights: NHWC for images (4-D), NDHWC (channels-last-3d) for video clips (5-D)")
           .boolean("cuda_graphs", false,
                    "capture forward + backward + optimizer step in a CUDA graph and replay it (CUDA only; needs "
                    "static shapes: data.drop_last true, grad_accum 1, one process, amp none or bf16, sgd or adamw)")
           .number("ema_decay", 0.0, "exponential moving average of weights, evaluated and saved when > 0", 0.0, 0.99999)
           .integer("eval_every", 1, "evaluate on the validation split every N epochs (0 = only at the end)", 0)
           .integer("eval_every_steps", 0,
                    "also evaluate every N optimizer steps, mid-epoch included (0 = off); best checkpoint and early "
                    "stopping count these evaluations too",
                    0)
           .integer("log_every", 20, "write train metrics every N optimizer steps", 1)
           .integer("checkpoint_every", 0, "also checkpoint every N optimizer steps (0 = at each epoch end only)", 0)
           .integer("early_stop_patience", 0, "stop after N evaluations without improvement (0 = off)", 0)
           .string("best_metric", "auto", "validation metric that selects the best checkpoint (auto: top1 or mae)")
           .choice("best_mode", "auto", {"auto", "max", "min"}, "whether larger or smaller best_metric is better")
           .choice("progress", "auto", {"auto", "bar", "plain", "none"},
                   "console output: a progress bar on a TTY (auto), plain log lines, or nothing")
           .boolean("tensorboard", true,
                    "write TensorBoard event files under <run>/tb: every metrics.jsonl value, the confusion matrix as "
                    "an image at each evaluation, histograms, and peak GPU memory on CUDA")
           .integer("tb_histogram_every", 500,
                    "TensorBoard: histograms of every weight and gradient every N optimizer steps (0 = off)", 0)
           .add(hooks),
       ""});
  return s;
}

}  // namespace

const std::vector<Section>& experiment_sections() {
  static const std::vector<Section> sections = make_sections();
  return sections;
}

}  // namespace smlab::config
