// `smlab forecast-eval`: a forecaster run's error table against the seasonal-naive baseline and
// its anomaly flags against labelled windows (analysis/forecast_eval.h).
#include <iostream>

#include "core/error.h"
#include "core/run_dir.h"
#include "tools/cli/anomaly_flags.h"
#include "tools/cli/cli.h"
#include "analysis/forecast_eval.h"

namespace fs = std::filesystem;

namespace smlab::cli {

std::vector<Flag> anomaly_flags(const std::string& prefix) {
  return {{"threshold", "Z", prefix + "flag points with anomaly score >= Z", "5"},
          {"refractory", "N", prefix + "after a flag, no new flag for N steps (0 = flag every point over the threshold)", "0"},
          {"window", "N", prefix + "trailing residuals behind each robust z-score", "2016"},
          {"min-count", "N", prefix + "residuals needed before a point is scored", "288"},
          {"one-sided", "", prefix + "score only points above the forecast (spikes)", ""},
          {"anomaly-horizon", "H", prefix + "horizon (steps) whose residuals are scored (0 = the smallest)", "0"}};
}

void read_anomaly_flags(const Args& args, analysis::ForecastEvalOptions& o) {
  o.threshold = args.get_double("threshold");
  o.refractory = args.get_int("refractory");
  o.score.window = args.get_int("window");
  o.score.min_count = args.get_int("min-count");
  o.score.one_sided = args.has("one-sided");
  o.anomaly_horizon = args.get_int("anomaly-horizon");
}

Verb forecast_eval_verb() {
  VerbSpec s;
  s.name = "forecast-eval";
  s.summary = "per-series forecast errors vs seasonal naive, and anomaly flags from residuals, for a forecaster run";
  s.description =
      "Loads a run trained on data.name=time_series_windows and its checkpoint, forecasts every window of the\n"
      "split (test: the latest part of every series) and reports, per series and horizon, MAE, RMSE, sMAPE,\n"
      "MAPE and MASE = MAE(model)/MAE(seasonal naive y[t-season]) in the series' own units, with the\n"
      "seasonal-naive and last-value baselines. With labels, it also forecasts whole series, turns the\n"
      "residuals of the smallest horizon into robust z-scores (trailing median/MAD), flags points with\n"
      "score >= --threshold and counts labelled windows hit, false alarms, and the NAB standard score\n"
      "(next to published NAB detectors on the same files with --nab-results).\n"
      "Writes forecast_eval.json, forecast_eval.md and anomaly_scores.csv (one row per point) into the run\n"
      "folder (or --output).\n"
      "Labels and NAB results default to ../labels/realTweets_combined_windows.json and\n"
      "../results_standard_scores next to data.path when they exist (the NAB layout).";
  s.positionals = {{"run", "run folder (e.g. runs/nab_lstm/latest)"},
                   {"key=value", "config overrides, e.g. data.eval_stride=12", false, true}};
  s.flags = {{"checkpoint", "WHICH", "best or last", "best"},
             {"split", "NAME", "val or test", "test"},
             {"labels", "FILE", "anomaly windows JSON ({\"dir/file.csv\": [[start, end], ...]}); 'none' to skip", ""},
             {"nab-results", "DIR", "folder of NAB <detector>_standard_scores.csv; 'none' to skip", ""},
             {"output", "DIR", "folder for the reports", "<run>"},
             {"device", "DEV", "auto, cpu, cuda or cuda:N", "auto"}};
  const auto shared = anomaly_flags();
  s.flags.insert(s.flags.begin() + 4, shared.begin(), shared.end());
  s.examples = {"smlab train experiments/trends/nab_lstm.yaml --run-dir runs/nab_lstm/r1",
                "smlab forecast-eval runs/nab_lstm/r1",
                "smlab forecast-eval runs/nab_lstm/r1 --threshold 6 --refractory 288     # at most one flag a day",
                "smlab forecast-eval runs/nab_lstm/r1 --one-sided --labels none         # errors only, spikes only"};
  return {s, [](const Args& args) {
            std::vector<std::string> ov;
            for (size_t i = 1; i < args.positionals().size(); ++i) {
              if (args.positionals()[i].find('=') == std::string::npos)
                throw UsageError("'" + args.positionals()[i] + "' is not a key=value override");
              ov.push_back(args.positionals()[i]);
            }
            const RunDir run = RunDir::open(args.positional(0));
            const auto cfg = config::load(run.config_file(), ov);  // for the data path (labels, NAB results)
            analysis::ForecastEvalOptions o;
            o.split = args.get("split");
            read_anomaly_flags(args, o);
            o.device = args.get("device");
            const auto which = inference::parse_checkpoint(args.get("checkpoint"));
            fs::path data = fs::path(cfg.get<std::string>("data.path")).lexically_normal();
            if (!data.has_filename()) data = data.parent_path();
            const fs::path root = fs::is_directory(data) ? data.parent_path() : data.parent_path().parent_path();
            auto pick = [&](const std::string& flag, const fs::path& fallback) -> std::string {
              const std::string v = args.get(flag);
              if (v == "none") return "";
              if (!v.empty()) {
                if (!fs::exists(v)) throw UserError("--" + flag + " " + v + ": not found");
                return v;
              }
              return fs::exists(fallback) ? fallback.string() : "";
            };
            o.labels = pick("labels", root / "labels" / "realTweets_combined_windows.json");
            o.nab_results = pick("nab-results", root / "results_standard_scores");
            const fs::path out = args.has("output") ? fs::path(args.get("output")) : run.path();
            fs::create_directories(out);
            const auto report = analysis::forecast_eval(run.path(), which, out, o, ov);
            std::cout << report["markdown"].get<std::string>() << "\nwritten: " << (out / "forecast_eval.json").string()
                      << ", " << (out / "forecast_eval.md").string()
                      << (o.labels.empty() ? "" : ", " + (out / "anomaly_scores.csv").string()) << "\n";
            return 0;
          }};
}

}  // namespace smlab::cli
