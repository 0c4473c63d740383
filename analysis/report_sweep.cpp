// The sweep report: every run's status and metrics, the stats metric per grid point as mean ± 95%
// CI over seeds (from results.csv, as `smlab sweep` computed it), and the validation curves of
// every run overlaid, coloured by point.
#include <algorithm>
#include <map>
#include <optional>
#include <regex>

#include "analysis/report_detail.h"
#include "analysis/report_svg.h"
#include "core/atomic_file.h"
#include "datasets/csv.h"
#include "trainers/trainer.h"

namespace smlab::analysis::report_detail {
namespace {

std::string field(const datasets::CsvTable& t, int64_t row, const std::string& col) {
  return t.has_column(col) ? t.rows[row][t.column(col)] : "";
}

double number_or_nan(const std::string& text) {
  double v = NAN;
  return datasets::parse_number(text, &v) ? v : NAN;
}

/// The metric columns of results.csv: after "status", up to "train_seconds", "run_dir" or "stats_metric".
std::vector<std::string> metric_columns(const datasets::CsvTable& t) {
  std::vector<std::string> out;
  bool in = false;
  for (const auto& h : t.header) {
    if (h == "train_seconds" || h == "run_dir" || h == "stats_metric") break;
    if (in) out.push_back(h);
    if (h == "status") in = true;
  }
  return out;
}

void runs_table(html::Page& page, const datasets::CsvTable& t) {
  const auto metrics = metric_columns(t);
  std::vector<std::string> header = {"point", "seed", "overrides", "status"};
  header.insert(header.end(), metrics.begin(), metrics.end());
  std::vector<std::vector<std::string>> rows;
  for (int64_t r = 0; r < t.size(); ++r) {
    if (field(t, r, "row") != "run") continue;
    std::vector<std::string> row = {field(t, r, "point"), field(t, r, "seed"), field(t, r, "overrides"), field(t, r, "status")};
    for (const auto& m : metrics) row.push_back(field(t, r, m).empty() ? "-" : field(t, r, m));
    const std::string st = field(t, r, "status");
    if (!trainers::finished_status(st) && st.rfind("pruned", 0) != 0)
      page.note_missing("point " + field(t, r, "point") + " seed " + field(t, r, "seed") + ": " + st +
                        " (see p" + field(t, r, "point") + "-s" + field(t, r, "seed") + ".log); counted, not dropped");
    rows.push_back(row);
  }
  page.section("runs", "Runs", html::table(header, rows, 4));
}

void points_chart(html::Page& page, const datasets::CsvTable& t) {
  std::vector<svg::Bar> bars;
  std::vector<std::vector<std::string>> rows;
  std::string metric;
  std::optional<double> baseline;
  for (int64_t r = 0; r < t.size(); ++r) {
    if (field(t, r, "row") != "point") continue;
    metric = field(t, r, "stats_metric");
    svg::Bar b{"p" + field(t, r, "point"), number_or_nan(field(t, r, "mean"))};
    if (field(t, r, "verdict") == "baseline" && std::isfinite(b.value)) baseline = b.value;
    const double lo = number_or_nan(field(t, r, "ci_low")), hi = number_or_nan(field(t, r, "ci_high"));
    if (std::isfinite(lo) && std::isfinite(hi)) b.lo = lo, b.hi = hi;
    b.note = field(t, r, "overrides");
    bars.push_back(b);
    rows.push_back({b.label, field(t, r, "overrides"), field(t, r, "n"), fmt(b.value, 5),
                    b.lo ? "[" + fmt(*b.lo, 5) + ", " + fmt(*b.hi, 5) + "]" : "-", field(t, r, "verdict")});
  }
  if (bars.empty()) {
    page.note_missing("results.csv has no per-point statistics rows (written by an older smlab); rerun `smlab sweep` to refresh it");
    page.section("points", "Per grid point", html::missing("results.csv has no per-point statistics rows"));
    return;
  }
  svg::Chart c{"sweep-points", metric + " per grid point: mean and 95% CI over seeds", "grid point", metric};
  c.width = std::clamp(static_cast<int>(140 + 56 * bars.size()), 420, 1200);
  page.section("points", "Per grid point: " + metric + " (mean ± 95% CI over seeds)",
               html::para("A dot is the mean over the seeds that finished; the whisker is the 95% confidence interval "
                          "(from 2 seeds on); the dashed line is the baseline point's mean. The axis spans the values, "
                          "not from 0, so that differences of a point or two show. Points without finished seeds have no dot.") +
                   svg::dot_chart(c, bars, baseline) + html::table({"point", "overrides", "n", "mean", "95% CI", "verdict"}, rows, 2));
}

/// Every p<point>-s<seed> folder's validation records, overlaid per metric.
void curves(html::Page& page, const fs::path& dir) {
  static const std::regex name(R"(p(\d+)-s(\d+))");
  std::map<std::pair<int, int>, std::vector<json>> runs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string n = e.path().filename().string();
    if (!e.is_directory() || !std::regex_match(n, m, name)) continue;
    auto& recs = runs[{std::stoi(m[1]), std::stoi(m[2])}];
    for (auto& r : read_jsonl(e.path() / "metrics.jsonl"))
      if (r.value("split", "") == "val" && get(r, "step").is_number()) recs.push_back(std::move(r));
  }
  std::vector<std::string> keys;
  for (const auto& [k, recs] : runs)
    for (const auto& r : recs)
      for (const auto& [key, v] : r.items())
        if (v.is_number() && key != "step" && key != "epoch" && key != "count" && std::find(keys.begin(), keys.end(), key) == keys.end())
          keys.push_back(key);
  if (keys.empty()) {
    page.section("sweep-curves", "Validation curves", html::missing("no run folder has validation records yet"));
    return;
  }
  std::vector<std::string> charts;
  for (const auto& key : keys) {
    std::vector<svg::Series> series;
    for (const auto& [ps, recs] : runs) {
      svg::Series s{"p" + std::to_string(ps.first) + " s" + std::to_string(ps.second)};
      s.colour = ps.first, s.dashed = ps.second % 2 == 1, s.markers = recs.size() <= 30;
      for (const auto& r : recs)
        if (get(r, key).is_number()) s.x.push_back(num(r, "step")), s.y.push_back(num(r, key));
      series.push_back(s);
    }
    charts.push_back(svg::line_chart({"sweep-curve-" + key, "val " + key + ", every run", "optimizer step", "val " + key}, series));
  }
  page.section("sweep-curves", "Validation curves, every run overlaid",
               html::para("Colour = grid point, dashed = odd seeds.") + html::grid(charts));
}

}  // namespace

void sweep_page(html::Page& page, const fs::path& dir, const HtmlReportOptions&) {
  std::error_code ec;
  if (fs::exists(dir / "results.csv", ec)) {
    try {
      const auto t = datasets::read_csv(dir / "results.csv", ',');
      points_chart(page, t);
      runs_table(page, t);
    } catch (const std::exception& e) {
      page.note_missing(std::string("results.csv is unreadable: ") + e.what());
      page.section("points", "Per grid point", html::missing(std::string("results.csv is unreadable: ") + e.what()));
    }
  } else {
    page.note_missing("no results.csv: the sweep has not finished its first pass (`smlab sweep` writes it at the end)");
    page.section("points", "Per grid point", html::missing("no results.csv yet"));
  }
  curves(page, dir);
  if (fs::exists(dir / "results.md", ec)) page.section("results-md", "results.md", html::pre(read_file(dir / "results.md")));
}

}  // namespace smlab::analysis::report_detail
