// Fine-tuning (the `finetune` config section): start a model from saved weights, replace its
// classifier when the number of classes differs, and freeze parts of it for some or all epochs.
//
//   finetune:
//     init: runs/imagenet_r18/latest     # smlab checkpoint, run folder, or TorchScript file
//     freeze: [conv1, bn1, layer1]       # parameter-name prefixes kept fixed
//     unfreeze_at_epoch: 3               # train everything from the 4th epoch on (0 = never)
//
// Tensors are matched by name. The classifier (the model's last Linear: `fc`, `classifier.6`, ...)
// is skipped and keeps its fresh initialisation when its shape in the file differs; any other
// shape mismatch is an error naming the tensor and both shapes. Frozen parameters get
// requires_grad=false and stay out of the optimizer; normalisation layers with running
// statistics inside frozen prefixes stay in eval mode (their statistics do not change), as in
// torchvision's and detectron2's fine-tuning.
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "trainers/checkpoint.h"

namespace smlab::trainers {

/// The named parameters and buffers saved in `path`: an smlab checkpoint (`smlab import-weights`
/// output or a run's checkpoints/*.pt), a run folder (its checkpoints/best.pt, else last.pt), or
/// a TorchScript module (e.g. a scripted torchvision model). `what` names the setting in errors.
std::map<std::string, torch::Tensor> read_weights(const std::filesystem::path& path, const std::string& what);

/// The weights file a path stands for: `path` itself, or a run folder's checkpoints/best.pt
/// (else last.pt). Throws UserError naming the path when neither exists.
std::filesystem::path resolve_weights_file(const std::filesystem::path& path, const std::string& what);

/// Name of the classifier module: the last torch::nn::Linear of `model` ("" when it has none).
std::string classifier_prefix(torch::nn::Module& model);

/// What init_from_weights did, by tensor name.
struct InitReport {
  std::string file;
  std::vector<std::string> loaded;
  std::vector<std::string> skipped;  ///< "fc.weight (file [1000, 512], model [10, 512])" and such
  std::vector<std::string> unused;   ///< names in the file the model lacks (non-strict only)
  /// When the file is a run's checkpoint: that run's summary.json status ("completed", "interrupted",
  /// ...), or "unfinished" when it has none yet (still training, or killed); "" for other files.
  std::string source_status;
  /// Whether the source is a run that has not finished: its best.pt may be an early epoch's.
  bool source_unfinished() const;
  nlohmann::json to_json() const;
  std::string summary() const;       ///< one line for the run log
};

/// Copies the tensors of `file` (see read_weights) into `model` by name. The classifier (see
/// classifier_prefix) is skipped as a whole, keeping its current values, when any of its tensors
/// is absent from the file or differs in shape. Other shape mismatches throw UserError naming the
/// tensor and both shapes; with `strict`, so do names missing on either side.
InitReport init_from_weights(torch::nn::Module& model, const std::filesystem::path& file, bool strict = true,
                             const std::string& what = "finetune.init");

/// Freezing by parameter-name prefix ("layer1" covers "layer1.0.conv1.weight", not "layer10.*").
class Freezer {
 public:
  Freezer() = default;
  /// Validates `prefixes` against `model`: one that matches no parameter throws UserError naming
  /// `where` (file:line of the setting) and listing the model's top-level modules.
  Freezer(torch::nn::Module& model, std::vector<std::string> prefixes, const std::string& where = "finetune.freeze");

  bool active() const { return frozen_ && !prefixes_.empty(); }
  const std::vector<std::string>& prefixes() const { return prefixes_; }
  /// The parameters the prefixes cover, in model order.
  const std::vector<torch::Tensor>& frozen_parameters() const { return params_; }
  /// Sets requires_grad=false on the covered parameters. Throws UserError when nothing would train.
  void freeze();
  /// Sets requires_grad=true on the covered parameters again, and puts their norm layers back in
  /// train mode when `model_training`.
  void unfreeze(bool model_training);
  /// After model.train(): puts norm layers inside the frozen prefixes back in eval mode.
  void apply_modes();

 private:
  torch::nn::Module* model_ = nullptr;
  std::vector<std::string> prefixes_;
  std::vector<torch::Tensor> params_;
  std::vector<std::shared_ptr<torch::nn::Module>> norms_;  ///< modules with running statistics inside the prefixes
  bool frozen_ = false;
  int64_t total_params_ = 0;
};

/// Whether `name` lies under the dotted `prefix` ("layer1" covers "layer1" and "layer1.x").
bool under_prefix(const std::string& name, const std::string& prefix);

/// Adds parameter groups for `params` to `opt` with the options of its first group; with
/// optim.no_decay_norm_bias, params of rank <= 1 go to a group without weight decay (as build_optimizer).
void add_param_groups(torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params, const config::Config& cfg);

/// Whether a run at `state` has already passed finetune.unfreeze_at_epoch = `at` (> 0): the unfreeze
/// happens when epoch `at` starts, so a checkpoint at (epoch at, batch 0) was written before it.
inline bool unfrozen_at(const TrainState& state, int64_t at) {
  return at > 0 && (state.epoch > at || (state.epoch == at && state.batch > 0));
}

/// The training position saved in a checkpoint, without loading its tensors into a model.
TrainState peek_state(const std::filesystem::path& checkpoint);

}  // namespace smlab::trainers
