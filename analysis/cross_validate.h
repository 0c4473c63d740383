// k-fold cross-validation of a csv_table regression experiment, reported in the file's units.
//
// For each fold f of K, the config is trained with data.split=kfold, data.folds=K, data.fold=f
// into <out>/fold<f>/ (a fold whose summary.json says it completed with the same config hash is
// reused), its best weights
// predict the held-out fold, and predictions are mapped back to the file's units (undoing the
// target standardisation and log1p). Per target it reports MAPE, sMAPE, MAE, RMSE and R² pooled
// over all held-out rows, the mean ± std over folds, and the same for a constant baseline (the
// training folds' mean in model space, i.e. the geometric-style mean for log1p targets).
// Writes <out>/cv_summary.json, cv_report.md and cv_predictions.csv.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace smlab::analysis {

struct CrossValidateOptions {
  int64_t folds = 10;
  std::filesystem::path output_dir;
  std::vector<std::string> overrides;  ///< applied to every fold, before the fold keys
};

nlohmann::json cross_validate(const std::filesystem::path& config_file, const CrossValidateOptions& options);

}  // namespace smlab::analysis
