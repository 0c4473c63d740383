#include "analysis/report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "analysis/report_detail.h"
#include "core/atomic_file.h"
#include "core/error.h"

namespace smlab::analysis {
namespace report_detail {

std::optional<json> read_json(const fs::path& path, std::string* why) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    if (why) *why = "missing";
    return std::nullopt;
  }
  try {
    return json::parse(read_file(path));
  } catch (const std::exception& e) {
    if (why) *why = std::string("unreadable (") + e.what() + ")";
    return std::nullopt;
  }
}

std::vector<json> read_jsonl(const fs::path& path, int* bad) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  int n_bad = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      auto j = json::parse(line);
      if (j.is_object()) out.push_back(std::move(j));
      else ++n_bad;
    } catch (const std::exception&) {
      ++n_bad;  // a line cut short by a crash, or not JSON
    }
  }
  if (bad) *bad = n_bad;
  return out;
}

std::string fmt(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  char b[40];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

const json& get(const json& j, const std::string& key) {
  static const json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

double num(const json& j, const std::string& key) {
  if (!j.is_object()) return NAN;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

std::string cell(const json& j, const std::string& key, int digits) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "-";
  if (j[key].is_number_integer()) return std::to_string(j[key].get<int64_t>());  // ids and counts: every digit
  if (j[key].is_number()) return fmt(j[key].get<double>(), digits);
  if (j[key].is_string()) return j[key].get<std::string>();
  return j[key].dump();
}

}  // namespace report_detail

namespace {

bool has(const std::filesystem::path& dir, const char* name) {
  std::error_code ec;
  return std::filesystem::exists(dir / name, ec);
}

}  // namespace

ReportKind parse_report_kind(const std::string& name) {
  if (name == "auto") return ReportKind::Auto;
  if (name == "run") return ReportKind::Run;
  if (name == "sweep") return ReportKind::Sweep;
  if (name == "segment") return ReportKind::Segment;
  if (name == "forecast" || name == "forecast-eval") return ReportKind::Forecast;
  throw UsageError("--kind must be auto, run, sweep, segment or forecast, got '" + name + "'");
}

std::string report_kind_name(ReportKind kind) {
  switch (kind) {
    case ReportKind::Run: return "run";
    case ReportKind::Sweep: return "sweep";
    case ReportKind::Segment: return "segment";
    case ReportKind::Forecast: return "forecast";
    default: return "auto";
  }
}

ReportKind detect_report_kind(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) throw UserError(dir.string() + " does not exist");
  if (!std::filesystem::is_directory(dir, ec)) throw UserError(dir.string() + " is not a folder");
  if (has(dir, "results.csv") || has(dir, "halving.json")) return ReportKind::Sweep;
  if (has(dir, "segments.csv")) return ReportKind::Segment;
  if (const auto s = report_detail::read_json(dir / "summary.json"); s && s->contains("scan")) return ReportKind::Segment;
  if (has(dir, "config.yaml") || has(dir, "metrics.jsonl") || has(dir, "meta.json") || has(dir, "summary.json"))
    return ReportKind::Run;
  if (has(dir, "forecast_eval.json")) return ReportKind::Forecast;
  // A sweep still at its first runs has p<point>-s<seed> folders and no results.csv yet.
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.size() > 3 && n[0] == 'p' && n.find("-s") != std::string::npos) return ReportKind::Sweep;
  }
  throw UserError(dir.string() +
                  " is not a run folder (config.yaml, metrics.jsonl, meta.json, summary.json), a sweep folder (results.csv), "
                  "a `smlab segment` output (segments.csv, summary.json) or a `smlab forecast-eval` output (forecast_eval.json)");
}

HtmlReport write_html_report(const HtmlReportOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = options.input;
  if (fs::is_regular_file(dir, ec)) dir = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  const ReportKind kind = options.kind == ReportKind::Auto ? detect_report_kind(dir) : options.kind;
  if (!fs::is_directory(dir, ec)) throw UserError(dir.string() + " is not a folder");
  const fs::path shown = fs::weakly_canonical(dir, ec).empty() ? dir : fs::weakly_canonical(dir, ec);
  html::Page page("smlab " + report_kind_name(kind) + " report: " + dir.filename().string(), shown.string());
  switch (kind) {
    case ReportKind::Run: report_detail::run_page(page, dir, options); break;
    case ReportKind::Sweep: report_detail::sweep_page(page, dir, options); break;
    case ReportKind::Segment: report_detail::segment_page(page, dir, options); break;
    default: report_detail::forecast_sections(page, dir, options); break;
  }
  HtmlReport r;
  r.output = options.output.empty() ? dir / "report.html" : options.output;
  r.kind = kind;
  r.sections = page.section_ids();
  r.missing = page.missing_notes();
  write_file_atomic(r.output, page.render());
  return r;
}

}  // namespace smlab::analysis
