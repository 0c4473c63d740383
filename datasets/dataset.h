// The dataset interface used by the trainer, the evaluator and the scorer.
//
// A dataset is an indexable collection of (input, target) samples that assembles whole
// batches at once (`get`), so no per-sample torch::data overhead sits in the hot path.
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/components.h"

namespace smlab::datasets {

enum class Task { Classification, Regression };
enum class Split { Train, Val, Test };
std::string split_name(Split s);

/// What a model needs to know about its data to be built.
struct DatasetInfo {
  Task task = Task::Classification;
  int64_t num_classes = 0;              ///< classification only
  int64_t output_dim = 0;               ///< regression targets per sample
  std::vector<int64_t> input_shape;     ///< per sample, e.g. {3, 32, 32} or {16} features
  std::vector<std::string> class_names; ///< classification only
  int64_t vocab_size = 0;               ///< token datasets
  /// Image/video samples are 8-bit pixels (uint8, or float scaled by 1/255), so an exported
  /// artifact takes uint8 pixels and scales (and normalises) them inside its graph.
  bool pixels = false;
};

struct Batch {
  torch::Tensor input;   ///< [B, ...]
  torch::Tensor target;  ///< [B] int64 class ids, or [B, output_dim] float
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  /// Assembles the samples at `indices` into one batch. Must be thread-safe.
  virtual Batch get(const std::vector<int64_t>& indices) const = 0;
  virtual const DatasetInfo& info() const = 0;
  /// What a deployed model needs to prepare raw inputs the way this dataset does (fitted
  /// scalers, one-hot categories, window layout), or null when there is nothing to record.
  /// The trainer writes it to <run>/preprocessing.json.
  virtual nlohmann::json preprocessing() const { return nullptr; }
};

/// A dataset held as two tensors in memory (generated sets, packed shards once loaded).
class TensorDataset : public Dataset {
 public:
  TensorDataset(torch::Tensor inputs, torch::Tensor targets, DatasetInfo info);
  int64_t size() const override { return inputs_.size(0); }
  Batch get(const std::vector<int64_t>& indices) const override;
  const DatasetInfo& info() const override { return info_; }
  const torch::Tensor& inputs() const { return inputs_; }
  const torch::Tensor& targets() const { return targets_; }

 private:
  torch::Tensor inputs_, targets_;
  DatasetInfo info_;
};

using DatasetFactory = std::function<std::shared_ptr<Dataset>(const config::Config&, Split)>;

/// The dataset registry ("dataset" in configs: data.name).
ComponentRegistry<DatasetFactory>& registry();
void register_builtin();

/// Builds the configured dataset for a split.
std::shared_ptr<Dataset> build(const config::Config& cfg, Split split);

}  // namespace smlab::datasets
