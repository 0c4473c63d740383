// The anomaly-scoring flags shared by `smlab forecast-eval` and `smlab score` on a forecaster run.
#pragma once
#include <string>
#include <vector>

#include "tools/cli/cli.h"
#include "analysis/forecast_eval.h"

namespace smlab::cli {

/// --threshold, --refractory, --window, --min-count, --one-sided, --anomaly-horizon; `prefix`
/// starts each description (e.g. "series: ").
std::vector<Flag> anomaly_flags(const std::string& prefix = "");

/// Those flags' values into `o` (threshold, refractory, score options, anomaly horizon).
void read_anomaly_flags(const Args& args, analysis::ForecastEvalOptions& o);

}  // namespace smlab::cli
