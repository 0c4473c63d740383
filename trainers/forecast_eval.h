// Evaluation of a trained forecaster (data: time_series_windows) in the series' own units:
//   * per series and horizon on a split (test by default): MAE, RMSE, sMAPE, MAPE, and MASE
//     against the seasonal-naive forecast y[t - season] ("same time yesterday" at 5-minute steps),
//     next to the seasonal-naive and last-value baselines themselves;
//   * anomaly flags from forecast residuals over whole series (trainers/anomaly.h): labelled
//     windows hit, false-alarm rate, and the NAB score next to published NAB detectors.
// `smlab forecast-eval RUN` calls it and writes forecast_eval.json, forecast_eval.md and
// anomaly_scores.csv into the run folder.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include <c10/core/Device.h>

#include <vector>

#include "core/config.h"
#include "datasets/time_series.h"
#include "models/model.h"
#include "trainers/anomaly.h"

namespace smlab::trainers {

struct ForecastEvalOptions {
  std::string split = "test";       ///< split of the error metrics: val or test
  std::string labels;               ///< NAB-style windows JSON {"<dir>/<file>.csv": [[start, end], ...]}; "" = no anomaly part
  std::string nab_results;          ///< folder of NAB <detector>_standard_scores.csv files; "" = no published rows
  double threshold = 5.0;           ///< flag points with anomaly score >= threshold
  int64_t refractory = 0;           ///< after a flag, no new flag for this many steps (anomaly::detections)
  int64_t anomaly_horizon = 0;      ///< horizon (steps) whose residuals make the score; 0 = the smallest
  anomaly::ScoreOptions score;      ///< residual -> score options
  int64_t batch_size = 1024;
  std::string device = "auto";
  bool write_points = true;         ///< write anomaly_scores.csv (one row per scored point)
};

/// Model-space residuals r_t = z_t - zhat_t at horizon index `horizon` (the forecast made
/// horizons[horizon] steps before t) for every point t of every series of `ds`, NaN where no
/// forecast exists. `ds` should be built with all_origins (TimeSeriesWindows::create(cfg, split,
/// true)). Feed each series' vector to anomaly::residual_scores() for per-point anomaly scores.
std::vector<std::vector<double>> forecast_residuals(models::Model& model, const datasets::TimeSeriesWindows& ds,
                                                    int64_t horizon, const c10::Device& device, int64_t batch_size = 1024);

/// Evaluates the model of `cfg` with the weights in `checkpoint`; writes the reports into
/// `out_dir` and returns the JSON report. Throws UserError when the data is not
/// time_series_windows or the labels do not match the series.
nlohmann::json forecast_eval(const config::Config& cfg, const std::filesystem::path& checkpoint,
                             const std::filesystem::path& out_dir, const ForecastEvalOptions& options);

}  // namespace smlab::trainers
