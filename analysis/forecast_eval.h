// Evaluation of a trained forecaster (data: time_series_windows) in the series' own units:
//   * per series and horizon on a split (test by default): MAE, RMSE, sMAPE, MAPE, and MASE
//     against the seasonal-naive forecast y[t - season] ("same time yesterday" at 5-minute steps),
//     next to the seasonal-naive and last-value baselines themselves;
//   * anomaly flags from forecast residuals over whole series (analysis/anomaly.h): labelled
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
#include "analysis/anomaly.h"
#include "inference/open_run.h"

namespace smlab::analysis {

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

/// Per-point anomaly scores over whole series (the anomaly part of forecast_eval, and `smlab score`
/// on a forecaster run): for every point of every series of `all` (built with all_origins), the
/// forecast made `horizon` steps before it in the file's units, the model-space residual, and its
/// robust z-score. NaN where no forecast or score exists.
struct AnomalyPoints {
  int64_t horizon_index = 0;  ///< index into the data's horizons
  std::vector<std::vector<double>> forecast, residual, score;
};

/// `anomaly_horizon` in steps (0 = the smallest of the data's horizons; otherwise one of them).
AnomalyPoints anomaly_points(models::Model& model, const datasets::TimeSeriesWindows& all, int64_t anomaly_horizon,
                             const anomaly::ScoreOptions& score, const c10::Device& device, int64_t batch_size = 1024);

/// Writes series,timestamp,value,forecast,residual,score,flag rows (one per point; flag = 1 where
/// anomaly::detections flags it), atomically; with `windows`, an in_window column too.
void write_anomaly_points(const std::filesystem::path& path, const datasets::TimeSeriesWindows& all,
                          const AnomalyPoints& points, double threshold, int64_t refractory,
                          const std::vector<std::vector<anomaly::Window>>* windows = nullptr);

/// `smlab score` on a forecaster run: the run's model and config, the series at `input` (a CSV
/// file or a folder of them, read like data.path; each series is scaled by its own first
/// train_fraction, as in training) and the anomaly options of `options`; writes
/// write_anomaly_points' rows to `output`. Returns the number of rows written.
int64_t score_series(const std::filesystem::path& run_dir, inference::Checkpoint checkpoint, const std::string& input,
                     const std::filesystem::path& output, const ForecastEvalOptions& options);

/// Evaluates the run in `run_dir` at `checkpoint` (its config with `overrides`); writes the
/// reports into `out_dir` and returns the JSON report. Throws UserError when the data is not
/// time_series_windows or the labels do not match the series.
nlohmann::json forecast_eval(const std::filesystem::path& run_dir, inference::Checkpoint checkpoint,
                             const std::filesystem::path& out_dir, const ForecastEvalOptions& options,
                             const std::vector<std::string>& overrides = {});

}  // namespace smlab::analysis
