// Error analysis of one run on one split (`smlab eval`, `smlab calibrate`): where a classifier is
// confused, whether its probabilities can be trusted, which examples it gets most confidently wrong,
// and, for regression and forecasting, the errors per target.
//
// Example:
//   auto p = smlab::analysis::collect_predictions(*model, loader, device, cfg);
//   auto j = smlab::analysis::classification_report(p, info.class_names);
//   // j["per_class"][k]["f1"], j["confusion"], j["reliability"], j["most_confidently_wrong"]
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainers/trainer.h"

namespace smlab::analysis {

/// Every output and target of a split, in the split's order (row i is sample i), on the CPU.
struct Predictions {
  torch::Tensor outputs;  ///< [N, K] float logits (or probabilities), or [N, D] regression outputs
  torch::Tensor targets;  ///< [N] int64 classes, or [N, D] float
};

/// Runs `model` over `loader` (the evaluation pass of training: eval augmentations, autocast,
/// multi-clip averaging) and keeps every output.
Predictions collect_predictions(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                                const config::Config& cfg);

struct ReportOptions {
  int top_wrong = 20;  ///< most confidently wrong examples listed (classification) or largest errors (regression)
  int bins = 15;       ///< equal-width confidence bins of the reliability diagram and ECE
};

/// The aggregates of training's evaluation (top1, macro_f1, ece, nll, ...), plus "per_class"
/// (precision, recall, f1, support per class), "confusion" (rows = true class, columns = predicted),
/// "reliability" (per bin: lower, upper, count, confidence, accuracy) and "most_confidently_wrong"
/// (index, target, predicted, confidence, target_probability).
nlohmann::json classification_report(const Predictions& p, const std::vector<std::string>& class_names,
                                     const ReportOptions& o = {});

/// Per target column: count, MAE, RMSE, bias (mean of output - target); overall MAE and RMSE; and
/// "largest_errors" (index, target column, output, target, absolute error).
nlohmann::json regression_report(const Predictions& p, const ReportOptions& o = {});

/// One CSV row per sample: index, target, predicted, confidence, p_<class>... (classification) or
/// index, target_<j>..., output_<j>... (regression). Written atomically.
void write_predictions_csv(const std::filesystem::path& path, const Predictions& p,
                           const std::vector<std::string>& class_names);

/// Temperature scaling of one classifier (Guo et al. 2017): T fitted on `val` minimises its NLL.
/// Reports NLL, ECE, top-1 and the reliability bins of each split before (T = 1) and after.
struct Calibration {
  double temperature = 1;
  nlohmann::json splits;  ///< {"val": {"before": {...}, "after": {...}}, "test": ...}
};
Calibration calibrate(const Predictions& val, const std::vector<std::pair<std::string, const Predictions*>>& report_on);

}  // namespace smlab::analysis
