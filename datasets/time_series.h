// time_series_windows: sliding windows over regular CSV time series (timestamp,value), e.g. the
// NAB Twitter-volume files, for multi-horizon forecasting trained across all series.
//
// Each series is split by time into train / val / test parts (earliest / middle / latest:
// [0, train_end), [train_end, val_end), [val_end, n)). Values are transformed (log1p or none)
// and standardised per series with the mean and std of its train part. A sample is a forecast
// origin o (the last input step):
//   input  [T, F]: the input_len steps o-input_len+1 .. o, cut into T = input_len/patch rows of
//          `patch` consecutive scaled values, each row followed by time features of its last
//          step (sin/cos of time of day, sin/cos of time of week) when time_features is on;
//   target [H]:    the scaled values at o + h for each h in `horizons`.
// A sample belongs to a split when all its targets lie in that split's part (inputs may reach
// back into earlier parts: they are the past). Origins step by `stride` in the train split and by
// `eval_stride` in val/test.
//
// Example (config):
//   data:
//     name: time_series_windows
//     path: ${SMLAB_DATA:-../shared/datasets}/nab_realtweets/data
//     input_len: 576     # 2 days of 5-minute steps
//     patch: 12          # 48 LSTM steps of 1 hour
//     horizons: [12, 288]
#pragma once
#include <torch/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace smlab::datasets {

/// One series as read, with its split boundaries and fitted scaling.
struct TimeSeries {
  std::string name;                 ///< file stem, e.g. "Twitter_volume_AAPL"
  std::string path;
  std::vector<std::string> stamps;  ///< timestamps as written
  std::vector<int64_t> time;        ///< seconds since 1970-01-01 (the written clock, read as UTC)
  std::vector<double> raw;          ///< values as read
  std::vector<int64_t> lines;       ///< 1-based file line of each point
  int64_t train_end = 0, val_end = 0;
  double mean = 0, std = 1;         ///< of the transformed train part
  int64_t size() const { return static_cast<int64_t>(raw.size()); }
};

struct WindowSpec {
  int64_t input_len = 576;
  int64_t patch = 12;
  std::vector<int64_t> horizons{12, 288};
  std::string transform = "log1p";  ///< "log1p" or "none"
  bool scale = true;
  bool time_features = true;
  int64_t step_seconds = 0;  ///< of the series (all must agree)
  int64_t season = 288;      ///< seasonal period in steps (seasonal-naive forecast y[t - season])
  int64_t rows() const { return input_len / patch; }
  int64_t features() const { return patch + (time_features ? 4 : 0); }
};

class TimeSeriesWindows : public Dataset {
 public:
  /// The configured dataset for `split`; with `all_origins`, every origin of every series whose
  /// smallest-horizon target exists (targets past a series' end are NaN): for scoring whole series.
  static std::shared_ptr<TimeSeriesWindows> create(const config::Config& cfg, Split split, bool all_origins = false);

  int64_t size() const override { return static_cast<int64_t>(sample_series_.size()); }
  Batch get(const std::vector<int64_t>& indices) const override;
  const DatasetInfo& info() const override { return info_; }
  nlohmann::json preprocessing() const override;

  const std::vector<TimeSeries>& series() const { return series_; }
  const WindowSpec& spec() const { return spec_; }
  int64_t series_of(int64_t sample) const { return sample_series_[sample]; }
  int64_t origin_of(int64_t sample) const { return sample_origin_[sample]; }
  /// Scaled (model-space) values of series `s` -> the file's units (float64; clamped at 0 after
  /// expm1 for log1p, since log1p data are counts or other values > -1).
  torch::Tensor decode(const torch::Tensor& scaled, int64_t s) const;
  /// The model-space value of series `s` at step `t`.
  double scaled(int64_t s, int64_t t) const { return values_[offsets_[s] + t].item<double>(); }
  /// The model-space values of series `s` (float32 [n]).
  torch::Tensor scaled_series(int64_t s) const { return values_.slice(0, offsets_[s], offsets_[s] + series_[s].size()); }

 private:
  std::vector<TimeSeries> series_;
  WindowSpec spec_;
  DatasetInfo info_;
  torch::Tensor values_;    // float32 [total]: scaled values of every series, concatenated
  torch::Tensor tfeat_;     // float32 [total, 4]: time features of every step
  std::vector<int64_t> offsets_;
  std::vector<int64_t> sample_series_, sample_origin_;
};

/// Reads one regular time series from a CSV file. Throws UserError naming file:line for an
/// unreadable timestamp or value, and for a step that differs from the first one.
TimeSeries read_time_series(const std::string& path, const std::string& timestamp_column,
                            const std::string& value_column, int64_t limit = 0);

/// "2015-02-26 21:42:53" (also with 'T', fractional seconds, or a date alone) -> seconds since
/// 1970-01-01 UTC; false when the text is not such a timestamp.
bool parse_timestamp(const std::string& text, int64_t* seconds);

}  // namespace smlab::datasets
