// The augmentation registry: batch-level transforms listed in `augment.train` / `augment.eval`.
//
// An entry is a name (`hflip`) or a map of the name and its parameters
// (`{name: random_resized_crop_flip, scale: [0.5, 1.0]}`); the config layer validates the parameters
// against the augmentation's own schema and fills the defaults. Each registered augmentation is a
// factory in the style of detectron2's from_config: it reads the resolved parameters once and returns
// the batch transform. A transform draws every random number from the step's generator, seeded per
// (seed, epoch, step), so a resumed run draws exactly the same parameters. The fused CUDA image and
// video ops of cuda/ plug in here (datasets/augment_image.cpp, augment_video.cpp), as do MixUp/CutMix
// and the RandAugment/TrivialAugment policies (augment_policy.cpp).
#pragma once
#include <ATen/core/Generator.h>
#include <torch/types.h>
#include <yaml-cpp/yaml.h>

#include "core/components.h"

namespace smlab::config {
class Config;
}

namespace smlab::datasets {

/// A batch as the augmentations see it. `target` holds class ids [B] (int64) until a mixing
/// augmentation (mixup, cutmix) replaces it by soft targets [B, num_classes] (float32, rows sum to 1),
/// which the cross_entropy loss takes as class probabilities. `num_classes` = 0: not a classification
/// batch (mixing refuses it).
struct AugmentBatch {
  torch::Tensor input, target;
  int64_t num_classes = 0;
};

/// A built augmentation: changes the batch, drawing its random numbers from `gen` only.
using BatchTransform = std::function<void(AugmentBatch& batch, at::Generator& gen)>;
/// Builds the transform from the resolved parameters (a map with every key of the schema).
using AugmentFactory = std::function<BatchTransform(const YAML::Node& params)>;

/// What an evaluation pipeline does to 8-bit pixels before the model sees them, so that an
/// exported artifact (and the scorer) can reproduce it: resize the shorter side to
/// `resize_shorter` (0 = no resize), center-crop to the model's input size, scale by 1/255,
/// then subtract `mean` and divide by `std` per channel (empty = no normalisation).
struct PixelPreprocessing {
  int64_t resize_shorter = 0;
  std::vector<double> mean, std;
};

/// What an augmentation means for the preprocessing of `height` x `width` inputs at evaluation time,
/// from its parameters: a normalising op sets `mean`/`std`, a resizing op sets `resize_shorter`.
using EvalMeaning =
    std::function<void(const YAML::Node& params, int64_t height, int64_t width, PixelPreprocessing& out)>;

/// A registered augmentation: help, parameter schema, factory, and its evaluation-time meaning
/// (null: nothing to reproduce at inference, e.g. a random flip). `mixes_targets`: it needs the
/// targets (training only).
struct AugmentComponent : ComponentMeta {
  AugmentFactory make;
  EvalMeaning eval_meaning;
  bool mixes_targets = false;
};

Registry<AugmentComponent>& augment_registry();
void register_augmentations();

/// One resolved entry of an augmentation pipeline.
struct AugmentSpec {
  std::string name;
  YAML::Node params;  ///< every parameter of the augmentation's schema, the name included
};

/// The resolved entries of `augment.train` or `augment.eval` (`key`).
std::vector<AugmentSpec> augment_specs(const config::Config& cfg, const std::string& key);
/// `name` with its parameters at their schema defaults, then `overrides` ("key: value" YAML map text).
AugmentSpec default_spec(const std::string& name, const std::string& overrides = "");

/// A pipeline built once from its entries and applied to every batch.
class AugmentPipeline {
 public:
  AugmentPipeline() = default;
  explicit AugmentPipeline(const std::vector<AugmentSpec>& specs);
  bool empty() const { return stages_.empty(); }
  /// Whether some entry mixes targets (mixup, cutmix).
  bool mixes_targets() const { return mixes_targets_; }
  /// Applies every entry in order.
  void apply(AugmentBatch& batch, at::Generator& gen) const;
  /// Inputs only (evaluation, scoring); a target-mixing entry is a UserError here.
  torch::Tensor apply(torch::Tensor input, at::Generator& gen) const;

 private:
  struct Stage {
    std::string name;
    BatchTransform transform;
    bool mixes_targets = false;
  };
  std::vector<Stage> stages_;
  bool mixes_targets_ = false;
};

/// The preprocessing of the eval pipeline `eval` for `height` x `width` inputs, derived from the
/// entries' parameters through their eval_meaning: the eval pipeline's resize and normalisation;
/// when the eval pipeline does not normalise, the normalisation of the training pipeline `train`.
PixelPreprocessing eval_preprocessing(const std::vector<AugmentSpec>& eval, const std::vector<AugmentSpec>& train,
                                      int64_t height, int64_t width);

/// Applies the named augmentations in order, each with its default parameters (tests, benchmarks).
torch::Tensor apply_augmentations(const std::vector<std::string>& names, torch::Tensor batch, at::Generator& gen);

}  // namespace smlab::datasets
