// `smlab report PATH`: one self-contained HTML page (inline SVG charts, inline CSS, thumbnails as
// data: URIs, no network) about a run folder, a sweep folder, a `smlab segment` output or a
// `smlab forecast-eval` output.
//
//   run:      overview (status, best, throughput), loss / metric / learning-rate curves from
//             metrics.jsonl, throughput, and from eval_<split>_<ckpt>.json the per-class table,
//             the confusion heatmap, the reliability diagram (before and after temperature scaling
//             when calibration.json holds both) and the most confidently wrong examples with their
//             inputs (text, image thumbnails, clip frames, feature rows); the resolved config and
//             meta.json; and the forecast sections when the run has forecast_eval.json.
//   sweep:    per point the stats metric as mean ± 95% CI over seeds (results.csv), every run's
//             status, and each metric's validation curves of every run overlaid.
//   segment:  the elbow (inertia) and silhouette curves over k, and the cluster profiles.
//   forecast: errors per series and horizon, and each series' forecast against the actual values
//             with the labelled anomaly windows shaded and smlab's flags marked (anomaly_scores.csv).
//
// Missing or malformed files never stop a report: the page lists what is missing and how to get it
// (e.g. "run `smlab eval RUN` for the per-class section"). Only a PATH that is none of the four kinds
// is a UserError.
//
// Example:
//   auto r = smlab::analysis::write_html_report({.input = "runs/quickstart/latest"});
//   // r.output == "runs/quickstart/latest/report.html"
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace smlab::analysis {

enum class ReportKind { Auto, Run, Sweep, Segment, Forecast };

/// "auto", "run", "sweep", "segment" or "forecast"; anything else is a UsageError.
ReportKind parse_report_kind(const std::string& name);
std::string report_kind_name(ReportKind kind);

struct HtmlReportOptions {
  std::filesystem::path input;   ///< the folder (a file inside it also works)
  std::filesystem::path output;  ///< empty: <input>/report.html
  ReportKind kind = ReportKind::Auto;
  /// Show the inputs of the most confidently wrong examples; this rebuilds the run's evaluated split
  /// from its config (reads the data, not the model).
  bool examples = true;
  int max_examples = 12;  ///< most confidently wrong examples shown with their inputs
  int max_series = 12;    ///< forecast: series drawn
};

struct HtmlReport {
  std::filesystem::path output;
  ReportKind kind = ReportKind::Auto;
  std::vector<std::string> sections;  ///< section ids, in page order
  std::vector<std::string> missing;   ///< what the page says is missing
};

/// What `dir` holds: sweep (results.csv or halving.json), segment (summary.json with a k scan, or
/// segments.csv), run (config.yaml, metrics.jsonl, meta.json or summary.json), forecast
/// (forecast_eval.json alone). UserError when it is none of them or does not exist.
ReportKind detect_report_kind(const std::filesystem::path& dir);

/// Writes the page atomically and returns what it holds.
HtmlReport write_html_report(const HtmlReportOptions& options);

}  // namespace smlab::analysis
