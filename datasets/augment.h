// The augmentation registry: batch-level transforms named in `augment.train` / `augment.eval`.
// Each takes a batch [B, ...] and a generator seeded per (seed, epoch, step), so a resumed
// run draws exactly the same parameters. The fused CUDA image ops of cuda/ plug in here.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "core/components.h"

namespace smlab::datasets {

using AugmentFn = std::function<torch::Tensor(const torch::Tensor& batch, at::Generator& gen)>;
ComponentRegistry<AugmentFn>& augment_registry();
void register_augmentations();

/// What an evaluation pipeline does to 8-bit pixels before the model sees them, so that an
/// exported artifact (and the scorer) can reproduce it: resize the shorter side to
/// `resize_shorter` (0 = no resize), center-crop to the model's input size, scale by 1/255,
/// then subtract `mean` and divide by `std` per channel (empty = no normalisation).
struct PixelPreprocessing {
  int64_t resize_shorter = 0;
  std::vector<double> mean, std;
};
/// The preprocessing of the eval pipeline `names` for `height` x `width` inputs; `train_names`
/// decide the normalisation when the eval pipeline has none but training normalised.
PixelPreprocessing eval_preprocessing(const std::vector<std::string>& names, const std::vector<std::string>& train_names,
                                      int64_t height, int64_t width);

/// Applies the named augmentations in order.
torch::Tensor apply_augmentations(const std::vector<std::string>& names, torch::Tensor batch, at::Generator& gen);

}  // namespace smlab::datasets
