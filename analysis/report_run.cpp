// The run report: overview, curves, learning rate, throughput, evaluation, config (see report.h).
#include <algorithm>
#include <cmath>
#include <set>

#include "analysis/report_detail.h"
#include "analysis/report_svg.h"
#include "core/atomic_file.h"

namespace smlab::analysis::report_detail {
namespace {

struct Log {
  std::vector<json> train, val, test;
};

Log read_log(const fs::path& dir, html::Page& page) {
  Log log;
  std::error_code ec;
  if (!fs::exists(dir / "metrics.jsonl", ec)) {
    page.note_missing("no metrics.jsonl: the run has not logged anything yet (no curves)");
    return log;
  }
  int bad = 0;
  for (auto& r : read_jsonl(dir / "metrics.jsonl", &bad)) {
    const std::string split = r.value("split", "");
    if (!r.contains("step") || !r["step"].is_number()) continue;
    (split == "train" ? log.train : split == "val" ? log.val : log.test).push_back(std::move(r));
  }
  if (bad > 0)
    page.note_missing("metrics.jsonl: " + std::to_string(bad) + " line(s) are not JSON records (cut short?); they are left out");
  return log;
}

svg::Series series(const std::string& name, const std::vector<json>& recs, const std::string& key, bool markers) {
  svg::Series s;
  s.name = name;
  s.markers = markers;
  for (const auto& r : recs)
    if (r.contains(key) && r[key].is_number()) s.x.push_back(num(r, "step")), s.y.push_back(num(r, key));
  return s;
}

void overview(html::Page& page, const fs::path& dir) {
  std::string why;
  const auto s = read_json(dir / "summary.json", &why);
  std::string body;
  if (!s) {
    const std::string m = "summary.json is " + why +
                          ": the run is still training, or it stopped before the end (crash, kill -9); this page shows what "
                          "metrics.jsonl held when it was written";
    page.note_missing(m);
    body += html::missing(m);
  } else {
    if (s->value("status", "") == "interrupted" || s->value("status", "") == "nonfinite_loss")
      page.note_missing("the run did not finish (status " + s->value("status", "") + "); `smlab train --resume RUN` continues it");
    std::vector<std::vector<std::string>> rows;
    for (const char* k : {"status", "experiment", "model", "dataset", "device", "parameters", "epochs", "steps", "samples",
                          "samples_per_second", "train_seconds", "wall_seconds", "best_metric", "seed"})
      if (s->contains(k)) rows.push_back({k, cell(*s, k, 6)});
    if (s->contains("best") && s->at("best").is_object())
      rows.push_back({"best", cell(s->at("best"), "value", 6) + " at epoch " + cell(s->at("best"), "epoch") + " (step " +
                                  cell(s->at("best"), "step") + ")"});
    body += html::table({"field", "value"}, rows);
    std::vector<std::vector<std::string>> metrics;
    for (const char* split : {"val", "test"})
      if (s->contains(split) && s->at(split).is_object())
        for (const auto& [k, v] : s->at(split).items()) metrics.push_back({split, k, v.is_number() ? fmt(v.get<double>(), 6) : v.dump()});
    if (!metrics.empty()) body += "<h3>Final metrics</h3>\n" + html::table({"split", "metric", "value"}, metrics, 2);
  }
  page.section("overview", "Overview", body);
}

void curves(html::Page& page, const Log& log) {
  if (log.train.empty() && log.val.empty()) {
    page.section("curves", "Loss and metric curves", html::missing("no training records in metrics.jsonl yet"));
    return;
  }
  std::vector<std::string> charts;
  svg::Chart loss{"curve-loss", "Loss", "optimizer step", "loss (the config's loss function)"};
  charts.push_back(svg::line_chart(loss, {series("train", log.train, "loss", false), series("val", log.val, "loss", true),
                                          series("test", log.test, "loss", true)}));
  static const std::set<std::string> skip = {"epoch", "step", "samples", "count", "loss", "seconds", "split", "lr"};
  std::vector<std::string> keys;
  for (const auto& r : log.val)
    for (const auto& [k, v] : r.items())
      if (!skip.count(k) && v.is_number() && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  for (const auto& k : keys) {
    svg::Chart c{"curve-" + k, k, "optimizer step", k + " (val" + std::string(log.test.empty() ? "" : ", test") + ")"};
    charts.push_back(svg::line_chart(c, {series("val", log.val, k, true), series("test", log.test, k, true)}));
  }
  page.section("curves", "Loss and metric curves", html::grid(charts));
}

void learning_rate(html::Page& page, const Log& log) {
  auto s = series("learning rate", log.train, "lr", false);
  if (s.y.empty()) {
    page.section("lr", "Learning rate", html::missing("no train records with 'lr' in metrics.jsonl"));
    return;
  }
  page.section("lr", "Learning rate", svg::line_chart({"curve-lr", "Learning rate", "optimizer step", "learning rate"}, {s}));
}

void throughput(html::Page& page, const Log& log, const fs::path& dir) {
  svg::Series s{"samples per second"};
  s.markers = log.train.size() <= 200;
  for (size_t i = 1; i < log.train.size(); ++i) {
    const double ds = num(log.train[i], "samples") - num(log.train[i - 1], "samples"),
                 dt = num(log.train[i], "seconds") - num(log.train[i - 1], "seconds");
    if (std::isfinite(ds) && std::isfinite(dt) && ds > 0 && dt > 0) s.x.push_back(num(log.train[i], "step")), s.y.push_back(ds / dt);
  }
  std::string body;
  if (const auto sum = read_json(dir / "summary.json"))
    body += html::para("Whole run: " + cell(*sum, "samples_per_second", 5) + " samples/s over " + cell(*sum, "train_seconds", 4) +
                       " s of training (evaluation included).");
  if (s.y.empty())
    body += html::missing("no throughput curve: metrics.jsonl's train records have no 'seconds' (written by smlab from the report "
                          "version on) or fewer than two of them");
  else
    body += svg::line_chart({"curve-throughput", "Training throughput between log records", "optimizer step", "samples / s"}, {s});
  page.section("throughput", "Throughput", body);
}

void config_sections(html::Page& page, const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir / "config.yaml", ec)) page.section("config", "Resolved config", html::pre(read_file(dir / "config.yaml")));
  else page.section("config", "Resolved config", html::missing("no config.yaml in the run folder"));
  std::string why;
  const auto meta = read_json(dir / "meta.json", &why);
  page.section("meta", "meta.json (versions, git, device)", meta ? html::pre(meta->dump(2)) : html::missing("meta.json is " + why));
}

}  // namespace

void eval_sections(html::Page& page, const fs::path& dir, const HtmlReportOptions& o);

void run_page(html::Page& page, const fs::path& dir, const HtmlReportOptions& o) {
  const Log log = read_log(dir, page);
  overview(page, dir);
  curves(page, log);
  learning_rate(page, log);
  throughput(page, log, dir);
  eval_sections(page, dir, o);
  std::error_code ec;
  if (fs::exists(dir / "forecast_eval.json", ec)) forecast_sections(page, dir, o);
  explain_sections(page, dir, o);
  config_sections(page, dir);
}

}  // namespace smlab::analysis::report_detail
