#include "datasets/dataset.h"

#include <torch/torch.h>

namespace smlab::datasets {

std::string split_name(Split s) {
  switch (s) {
    case Split::Train: return "train";
    case Split::Val: return "val";
    case Split::Test: return "test";
  }
  return "?";
}

TensorDataset::TensorDataset(torch::Tensor inputs, torch::Tensor targets, DatasetInfo info)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), info_(std::move(info)) {
  TORCH_CHECK(inputs_.size(0) == targets_.size(0), "TensorDataset: ", inputs_.size(0), " inputs but ",
              targets_.size(0), " targets");
}

Batch TensorDataset::get(const std::vector<int64_t>& indices) const {
  const auto idx = torch::from_blob(const_cast<int64_t*>(indices.data()), {static_cast<int64_t>(indices.size())},
                                    torch::kInt64);
  return {inputs_.index_select(0, idx), targets_.index_select(0, idx)};
}

ComponentRegistry<DatasetFactory>& registry() {
  static ComponentRegistry<DatasetFactory> r("dataset");
  return r;
}

std::shared_ptr<Dataset> build(const config::Config& cfg, Split split) {
  return registry().get(cfg.name_of("data")).make(cfg, split);
}

}  // namespace smlab::datasets
