// Shared pieces of the report kinds (report_run.cpp, report_sweep.cpp, ...): tolerant readers that
// record what is missing instead of throwing, and the per-kind page builders.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/report.h"
#include "analysis/report_html.h"

namespace smlab::analysis::report_detail {

namespace fs = std::filesystem;
using nlohmann::json;

/// The JSON in `path`, or nothing (with the reason in *why: "missing" or the parse error).
std::optional<json> read_json(const fs::path& path, std::string* why = nullptr);

/// Every parsable JSON object line of a .jsonl file; *bad counts the lines that were not.
std::vector<json> read_jsonl(const fs::path& path, int* bad = nullptr);

/// A number with `digits` significant digits, "-" when not finite; for tables.
std::string fmt(double v, int digits = 4);
/// j[key] as a table cell: numbers through fmt, strings as they are, "-" when absent.
std::string cell(const json& j, const std::string& key, int digits = 4);  // integers in full
/// j[key], or a null when j is not an object or has no `key` (const json's operator[] would be UB).
const json& get(const json& j, const std::string& key);
/// j[key] as a double, NaN when absent or not a number.
double num(const json& j, const std::string& key);

/// Standard base64 (RFC 4648, padded) of `bytes`, for data: URIs.
std::string base64(std::string_view bytes);

void run_page(html::Page& page, const fs::path& dir, const HtmlReportOptions& o);
/// The `smlab explain` outputs inside a run folder (report_explain.cpp): one section per subfolder
/// holding an explain scores.json (overlays, token highlights, faithfulness).
void explain_sections(html::Page& page, const fs::path& dir, const HtmlReportOptions& o);
/// The most confidently wrong examples of `eval` (an eval_*.json) with their inputs (report_examples.cpp).
std::string wrong_examples(const fs::path& run, const json& eval, const HtmlReportOptions& o, html::Page& page);
void sweep_page(html::Page& page, const fs::path& dir, const HtmlReportOptions& o);
void segment_page(html::Page& page, const fs::path& dir, const HtmlReportOptions& o);
/// The forecast-eval sections (forecast_eval.json, anomaly_scores.csv) of `dir`.
void forecast_sections(html::Page& page, const fs::path& dir, const HtmlReportOptions& o);

}  // namespace smlab::analysis::report_detail
