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

/// Applies the named augmentations in order.
torch::Tensor apply_augmentations(const std::vector<std::string>& names, torch::Tensor batch, at::Generator& gen);

}  // namespace smlab::datasets
