// The `smlab forecast-eval` sections: errors per series and horizon (forecast_eval.json), the
// anomaly-flag results against the labelled windows, and each series' forecast against the actual
// values with the windows shaded and the flags marked (anomaly_scores.csv).
#include <algorithm>
#include <cmath>
#include <map>

#include "analysis/report_detail.h"
#include "analysis/report_svg.h"
#include "datasets/csv.h"

namespace smlab::analysis::report_detail {
namespace {

void errors(html::Page& page, const json& fe) {
  std::vector<std::string> horizons;
  for (const auto& h : get(fe, "horizon_labels"))
    if (h.is_string()) horizons.push_back(h.get<std::string>());
  std::vector<std::vector<std::string>> overall, per_series;
  for (const auto& h : horizons) {
    const json& o = get(get(fe, "overall"), h);
    overall.push_back({h, cell(o, "count"), cell(o, "mae"), cell(o, "rmse"), cell(o, "smape"), cell(o, "mase_pooled"),
                       cell(o, "series_with_mase_below_1") + " / " + cell(o, "series")});
  }
  std::vector<std::string> charts;
  for (const auto& h : horizons) {
    std::vector<svg::Bar> bars;
    for (const auto& [name, s] : get(fe, "series").items()) {
      const json& e = get(s, h);
      bars.push_back({name, num(e, "mase")});
      per_series.push_back({name, h, cell(e, "count"), cell(e, "mae"), cell(e, "naive_mae"), cell(e, "mase"), cell(e, "smape")});
    }
    svg::Chart c{"forecast-mase-" + h, "MASE per series, horizon " + h + " (below 1 beats seasonal naive)", "series", "MASE"};
    c.width = std::clamp(static_cast<int>(140 + 64 * bars.size()), 420, 1000);
    charts.push_back(svg::bar_chart(c, bars));
  }
  page.section("forecast-errors", "Forecast errors per series and horizon",
               html::table({"horizon", "points", "MAE", "RMSE", "sMAPE", "MASE (pooled)", "series with MASE < 1"}, overall) +
                   html::grid(charts) + html::table({"series", "horizon", "points", "MAE", "naive MAE", "MASE", "sMAPE"}, per_series, 2));
}

void anomaly(html::Page& page, const json& fe) {
  const json& a = get(fe, "anomaly");
  if (!a.is_object()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, s] : get(a, "series").items())
    rows.push_back({name, cell(s, "windows"), cell(s, "hit"), cell(s, "alarm_events"), cell(s, "flagged_outside"), cell(s, "false_alarm_rate")});
  const json& t = get(a, "total");
  rows.push_back({"total", cell(t, "windows"), cell(t, "hit"), cell(t, "alarm_events"), cell(t, "flagged_outside"), cell(t, "false_alarm_rate")});
  const json& nab = get(a, "nab");
  std::string body = html::para("Flags: residual score above " + cell(a, "threshold") + " at horizon " + cell(a, "horizon") +
                                ", refractory " + cell(a, "refractory") + " points.");
  if (nab.is_object())
    body += html::para("NAB score (" + cell(nab, "profile") + " profile): normalised " + cell(nab, "normalised_at_threshold") +
                       " at the threshold, " + cell(nab, "normalised_at_best_threshold") + " at the best threshold " + cell(nab, "best_threshold") + ".");
  page.section("anomaly", "Anomaly flags against the labelled windows",
               body + html::table({"series", "windows", "hit", "alarm events", "flagged outside", "false-alarm rate"}, rows));
}

struct SeriesPoints {
  std::vector<std::string> time;
  std::vector<double> value, forecast;
  std::vector<int> flag, in_window;
};

std::string series_chart(const std::string& name, const SeriesPoints& p, size_t index) {
  svg::Series actual{"actual"}, fc{"forecast"};
  actual.y = p.value, fc.y = p.forecast, fc.colour = 1;
  std::vector<svg::Band> bands;
  std::vector<svg::Mark> marks;
  for (size_t i = 0; i < p.in_window.size(); ++i) {
    if (p.in_window[i] && (i == 0 || !p.in_window[i - 1])) bands.push_back({double(i), double(i), "labelled anomaly window from " + p.time[i]});
    if (p.in_window[i]) bands.back().x1 = double(i);
    if (p.flag[i]) marks.push_back({double(i), p.value[i], "flag at " + p.time[i]});
  }
  svg::Chart c{"forecast-series-" + std::to_string(index), name + ": forecast against actual", "time", "value (series units)"};
  c.width = 1100, c.height = 280;
  const size_t n = p.time.size();
  for (size_t k = 0; k < 6 && n > 1; ++k) {
    const size_t i = k * (n - 1) / 5;
    c.x_ticks.push_back({double(i), p.time[i].substr(0, 16)});
  }
  return svg::line_chart(c, {actual, fc}, bands, marks);
}

void series_plots(html::Page& page, const fs::path& dir, const HtmlReportOptions& o) {
  std::error_code ec;
  if (!fs::exists(dir / "anomaly_scores.csv", ec)) {
    const std::string m = "no anomaly_scores.csv (forecast-eval ran with --labels none): the series plots need it";
    page.note_missing(m);
    page.section("forecast-series", "Forecast against actual, per series", html::missing(m));
    return;
  }
  const auto t = datasets::read_csv(dir / "anomaly_scores.csv", ',');
  const int64_t cs = t.column("series"), ct = t.column("timestamp"), cv = t.column("value"), cf = t.column("forecast"),
                cfl = t.column("flag"), cw = t.column("in_window");
  std::vector<std::string> order;
  std::map<std::string, SeriesPoints> by;
  for (int64_t r = 0; r < t.size(); ++r) {
    const std::string& s = t.rows[r][cs];
    if (!by.count(s)) order.push_back(s);
    auto& p = by[s];
    auto value = [&](int64_t c) { return t.missing(r, c) ? NAN : t.number(r, c); };
    p.time.push_back(t.rows[r][ct]), p.value.push_back(value(cv)), p.forecast.push_back(value(cf));
    p.flag.push_back(t.rows[r][cfl] == "1"), p.in_window.push_back(t.rows[r][cw] == "1");
  }
  std::string body = html::para("Shaded: labelled anomaly windows; triangles: smlab's flags. The forecast is the anomaly horizon's "
                                "(empty where the model has no window yet).");
  for (size_t i = 0; i < order.size() && static_cast<int>(i) < o.max_series; ++i) body += series_chart(order[i], by[order[i]], i);
  if (static_cast<int>(order.size()) > o.max_series)
    body += html::para(std::to_string(order.size() - o.max_series) + " more series not drawn (--max-series).");
  page.section("forecast-series", "Forecast against actual, per series", body);
}

}  // namespace

void forecast_sections(html::Page& page, const fs::path& dir, const HtmlReportOptions& o) {
  std::string why;
  const auto fe = read_json(dir / "forecast_eval.json", &why);
  if (!fe || !fe->is_object()) {
    const std::string m = "forecast_eval.json is " + why + ": run `smlab forecast-eval RUN`";
    page.note_missing(m);
    page.section("forecast-errors", "Forecast errors per series and horizon", html::missing(m));
    return;
  }
  errors(page, *fe);
  anomaly(page, *fe);
  try {
    series_plots(page, dir, o);
  } catch (const std::exception& e) {
    page.note_missing(std::string("anomaly_scores.csv is unreadable: ") + e.what());
    page.section("forecast-series", "Forecast against actual, per series", html::missing(std::string("anomaly_scores.csv: ") + e.what()));
  }
}

}  // namespace smlab::analysis::report_detail
