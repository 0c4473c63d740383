#include "datasets/augment.h"

#include <torch/torch.h>

namespace smlab::datasets {

ComponentRegistry<AugmentFn>& augment_registry() {
  static ComponentRegistry<AugmentFn> r("augmentation");
  return r;
}

torch::Tensor apply_augmentations(const std::vector<std::string>& names, torch::Tensor batch, at::Generator& gen) {
  for (const auto& n : names) batch = augment_registry().get(n).make(batch, gen);
  return batch;
}

void register_augmentations() {
  augment_registry().add("hflip", {"flip each sample along its last (width) axis with probability 1/2", config::Schema(),
                                   [](const torch::Tensor& x, at::Generator& gen) {
                                     TORCH_CHECK(x.dim() >= 3, "hflip needs [B, ..., W] batches, got rank ", x.dim());
                                     // mask[b] ~ Bernoulli(1/2); out = mask ? flip(x) : x
                                     auto mask = torch::rand({x.size(0)}, gen, x.options().dtype(torch::kFloat)) < 0.5;
                                     std::vector<int64_t> shape(x.dim(), 1);
                                     shape[0] = x.size(0);
                                     return torch::where(mask.view(shape), x.flip({-1}), x);
                                   }});
  augment_registry().add("gaussian_noise", {"add N(0, 0.1^2) noise to every element", config::Schema(),
                                            [](const torch::Tensor& x, at::Generator& gen) {
                                              return x + 0.1 * torch::randn(x.sizes(), gen, x.options());
                                            }});
  expose(augment_registry());
}

}  // namespace smlab::datasets
