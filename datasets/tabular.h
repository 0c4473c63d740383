// Tabular data from CSV (the csv_table dataset): numeric and one-hot categorical features,
// regression targets (optionally log1p-transformed and standardised) or one class column, and a
// seeded hold-out or k-fold split. Standardisation is fitted on the training rows only and kept
// in a TabularPreprocessor, which serialises to JSON (<run>/preprocessing.json), so evaluation,
// cross-validation and scoring prepare rows exactly as training did.
//
// Example (config):
//   data:
//     name: csv_table
//     path: ${SMLAB_DATA:-../shared/datasets}/fb_metrics_moro2016/dataset_Facebook.csv
//     features: [Page total likes, Type, Category, Post Month, Post Weekday, Post Hour, Paid]
//     categorical: [Type, Category]
//     targets: [Lifetime Post Consumers, Total Interactions]
//     target_transform: log1p
//     split: kfold
//     folds: 10
//     fold: 0
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/csv.h"
#include "datasets/dataset.h"

namespace smlab::datasets {

struct TabularColumn {
  std::string name;
  bool categorical = false;
  std::vector<std::string> categories;  ///< one-hot order (categorical only)
  double mean = 0, std = 1;             ///< standardisation (numeric only; identity when off)
};

/// The fitted preparation of CSV rows into model inputs and targets.
class TabularPreprocessor {
 public:
  std::vector<TabularColumn> features;
  std::vector<std::string> targets;
  Task task = Task::Regression;
  std::vector<std::string> classes;           ///< classification: class names in id order
  std::string target_transform = "none";      ///< "none" or "log1p" (regression)
  std::vector<double> target_mean, target_std;  ///< regression, after the transform

  /// Fits on `rows` of `table`: one-hot categories from every row of the table (sorted), numeric
  /// means/stds and target means/stds from `rows` only (the training rows).
  static TabularPreprocessor fit(const CsvTable& table, const std::vector<int64_t>& rows,
                                 const std::vector<std::string>& features, const std::vector<std::string>& categorical,
                                 const std::vector<std::string>& targets, Task task, const std::string& target_transform,
                                 bool standardize, bool standardize_targets);

  /// Input width: numeric columns plus one per category.
  int64_t width() const;
  /// Names of the input columns: "Page total likes", "Type=Photo", ...
  std::vector<std::string> input_names() const;
  /// [n, width] float32 inputs of `rows`. An unknown category (not in the fitted list) is an
  /// error naming file, line and column.
  torch::Tensor encode_features(const CsvTable& table, const std::vector<int64_t>& rows) const;
  /// Targets in model space: [n, targets] float32 (regression) or [n] int64 class ids.
  torch::Tensor encode_targets(const CsvTable& table, const std::vector<int64_t>& rows) const;
  /// [n, targets] float64 targets in the file's units (regression).
  torch::Tensor raw_targets(const CsvTable& table, const std::vector<int64_t>& rows) const;
  /// Model outputs [n, targets] -> the file's units (undo standardisation, then expm1 for log1p).
  torch::Tensor decode_targets(const torch::Tensor& out) const;

  nlohmann::json to_json() const;
  static TabularPreprocessor from_json(const nlohmann::json& j);
};

/// A csv_table split held in memory, with what evaluation needs to report in the file's units.
class TabularDataset : public TensorDataset {
 public:
  TabularDataset(torch::Tensor inputs, torch::Tensor targets, DatasetInfo info, TabularPreprocessor prep,
                 torch::Tensor raw_targets, std::vector<int64_t> lines)
      : TensorDataset(std::move(inputs), std::move(targets), std::move(info)),
        prep_(std::move(prep)),
        raw_targets_(std::move(raw_targets)),
        lines_(std::move(lines)) {}
  const TabularPreprocessor& preprocessor() const { return prep_; }
  /// [n, targets] float64, the file's units (regression; undefined for classification).
  const torch::Tensor& raw_targets() const { return raw_targets_; }
  /// 1-based file line of each sample.
  const std::vector<int64_t>& lines() const { return lines_; }
  nlohmann::json preprocessing() const override { return prep_.to_json(); }

 private:
  TabularPreprocessor prep_;
  torch::Tensor raw_targets_;
  std::vector<int64_t> lines_;
};

}  // namespace smlab::datasets
