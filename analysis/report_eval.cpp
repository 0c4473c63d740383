// The run report's evaluation sections, from eval_<split>_<ckpt>.json and calibration.json:
// per-class table and F1 bars, confusion heatmap, reliability diagram before/after temperature
// scaling, the most confidently wrong examples; for regression, the errors per target.
#include <algorithm>

#include "analysis/report_detail.h"
#include "analysis/report_svg.h"
#include "core/text.h"

namespace smlab::analysis::report_detail {
namespace {

/// eval_test_best.json first, then eval_test_last, then eval_val_*, then any other eval_*.json.
std::optional<fs::path> pick_eval(const fs::path& dir) {
  for (const char* n : {"eval_test_best.json", "eval_test_last.json", "eval_val_best.json", "eval_val_last.json"})
    if (std::error_code ec; fs::is_regular_file(dir / n, ec)) return dir / n;
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (text::starts_with(n, "eval_") && text::ends_with(n, ".json")) found.push_back(e.path());
  }
  std::sort(found.begin(), found.end());
  if (found.empty()) return std::nullopt;
  return found.front();
}

std::vector<std::string> class_names(const json& eval) {
  std::vector<std::string> names;
  if (eval.contains("classes") && get(eval, "classes").is_array())
    for (const auto& c : get(eval, "classes")) names.push_back(c.is_string() ? c.get<std::string>() : c.dump());
  const size_t k = eval.contains("confusion") && get(eval, "confusion").is_array() ? get(eval, "confusion").size() : 0;
  for (size_t i = names.size(); i < k; ++i) names.push_back(std::to_string(i));
  return names;
}

void per_class(html::Page& page, const json& eval, const std::string& source) {
  const auto names = class_names(eval);
  std::vector<svg::Bar> bars;
  std::vector<std::vector<std::string>> rows;
  size_t k = 0;
  for (const auto& r : get(eval, "per_class")) {
    const std::string name = k < names.size() ? names[k] : std::to_string(k);
    bars.push_back({name, num(r, "f1")});
    rows.push_back({name, cell(r, "precision"), cell(r, "recall"), cell(r, "f1"), cell(r, "support")});
    ++k;
  }
  svg::Chart c{"per-class-f1", "F1 per class (" + source + ")", "class", "F1 (0-1)"};
  c.y_min = 0, c.y_max = 1;
  c.width = std::clamp(static_cast<int>(120 + 48 * bars.size()), 360, 1200);
  std::vector<std::vector<std::string>> agg;
  for (const char* m : {"top1", "top5", "macro_f1", "macro_precision", "macro_recall", "ece", "nll", "loss", "count"})
    if (eval.contains(m)) agg.push_back({m, cell(eval, m, 6)});
  page.section("per-class", "Per-class precision, recall and F1",
               html::para("From " + source + ".") + html::table({"metric", "value"}, agg) + svg::bar_chart(c, bars) +
                   html::table({"class", "precision", "recall", "F1", "support"}, rows));
}

void confusion(html::Page& page, const json& eval, const std::string& source) {
  const auto names = class_names(eval);
  std::vector<std::vector<double>> m;
  for (const auto& row : get(eval, "confusion")) {
    m.emplace_back();
    if (row.is_array())
      for (const auto& v : row) m.back().push_back(v.is_number() ? v.get<double>() : 0.0);
  }
  svg::Chart c{"confusion-matrix", "Confusion matrix (" + source + ")", "predicted class", "true class"};
  c.width = 900;
  page.section("confusion", "Confusion matrix",
               html::para("Rows are the true class, columns the prediction; a cell's text is its count, its colour the "
                          "fraction of its row.") +
                   svg::heatmap(c, names, names, m, true));
}

std::vector<svg::ReliabilityBin> bins_of(const json& j) {
  std::vector<svg::ReliabilityBin> out;
  if (!j.is_array()) return out;
  for (const auto& b : j)
    out.push_back({num(b, "lower"), num(b, "upper"), num(b, "confidence"), num(b, "accuracy"),
                   b.contains("count") && get(b, "count").is_number() ? get(b, "count").get<int64_t>() : 0});
  return out;
}

void reliability(html::Page& page, const fs::path& dir, const json& eval, const std::string& source) {
  std::vector<std::pair<std::string, std::vector<svg::ReliabilityBin>>> curves;
  std::string body, why;
  const auto cal = read_json(dir / "calibration.json", &why);
  const json* split = nullptr;
  if (cal && cal->contains("splits") && get((*cal), "splits").is_object())
    for (const char* s : {"test", "val"})
      if (get((*cal), "splits").contains(s)) {
        split = &get((*cal), "splits")[s];
        body += html::para(std::string("Before and after temperature scaling (T = ") + cell(*cal, "temperature", 5) + ") on the " + s +
                           " split, from calibration.json.");
        break;
      }
  if (split && split->contains("after") && get((*split), "after").contains("reliability")) {
    curves.push_back({"before (T = 1), ECE " + cell(get((*split), "before"), "ece"), bins_of(get(get(*split, "before"), "reliability"))});
    curves.push_back({"after (T = " + cell(*cal, "temperature", 4) + "), ECE " + cell(get((*split), "after"), "ece"),
                      bins_of(get(get(*split, "after"), "reliability"))});
  } else {
    curves.push_back({"uncalibrated, ECE " + cell(eval, "ece"), bins_of(get(eval, "reliability"))});
    body = html::para("From " + source + ".");
    const std::string m = cal ? "calibration.json has no reliability bins (written by an older smlab): rerun `smlab calibrate RUN`"
                              : "no calibration.json: run `smlab calibrate RUN` for the diagram after temperature scaling";
    page.note_missing(m);
    body += html::missing(m);
  }
  if (cal && cal->contains("splits") && get((*cal), "splits").is_object()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, ba] : get((*cal), "splits").items())
      rows.push_back({name, cell(get(ba, "before"), "nll"), cell(get(ba, "after"), "nll"), cell(get(ba, "before"), "ece"), cell(get(ba, "after"), "ece")});
    body += html::table({"split", "NLL before", "NLL after", "ECE before", "ECE after"}, rows);
  }
  svg::Chart c{"reliability-diagram", "Reliability diagram", "confidence (max probability)", "accuracy (fraction correct)"};
  c.width = 520, c.height = 380;
  page.section("reliability", "Calibration: reliability diagram", body + svg::reliability_diagram(c, curves));
}

void regression(html::Page& page, const json& eval, const std::string& source) {
  std::vector<svg::Bar> bars;
  std::vector<std::vector<std::string>> rows, worst;
  for (const auto& r : get(eval, "per_target")) {
    bars.push_back({"target " + cell(r, "target"), num(r, "mae")});
    rows.push_back({cell(r, "target"), cell(r, "count"), cell(r, "mae"), cell(r, "rmse"), cell(r, "bias")});
  }
  if (eval.contains("largest_errors") && get(eval, "largest_errors").is_array())
    for (const auto& w : get(eval, "largest_errors"))
      worst.push_back({cell(w, "index"), cell(w, "target_column"), cell(w, "target"), cell(w, "output"), cell(w, "abs_error")});
  svg::Chart c{"per-target-mae", "MAE per target (" + source + ")", "target column", "mean absolute error (target units)"};
  page.section("errors", "Errors per target",
               html::para("From " + source + ": overall MAE " + cell(eval, "mae") + ", RMSE " + cell(eval, "rmse") + ".") +
                   svg::bar_chart(c, bars) + html::table({"target", "count", "MAE", "RMSE", "bias"}, rows) +
                   "<h3>Largest errors</h3>\n" + html::table({"index", "target column", "target", "output", "|error|"}, worst));
}

}  // namespace

void eval_sections(html::Page& page, const fs::path& dir, const HtmlReportOptions& o) {
  const auto path = pick_eval(dir);
  std::string why;
  const auto eval = path ? read_json(*path, &why) : std::nullopt;
  if (!eval || !eval->is_object()) {
    const std::string m = path ? path->filename().string() + " is " + why + "; rerun `smlab eval RUN`"
                               : "no eval_*.json: run `smlab eval RUN` for the per-class section, the confusion matrix, the "
                                 "reliability diagram and the most confidently wrong examples";
    page.note_missing(m);
    page.section("evaluation", "Evaluation", html::missing(m));
    return;
  }
  const std::string source = path->filename().string();
  if (eval->contains("per_target") && get((*eval), "per_target").is_array()) {
    regression(page, *eval, source);
    return;
  }
  if (!eval->contains("per_class") || !get((*eval), "per_class").is_array() || !eval->contains("confusion")) {
    page.note_missing(source + " has no per-class table: rerun `smlab eval RUN`");
    page.section("evaluation", "Evaluation", html::missing(source + " has no per-class table: rerun `smlab eval RUN`"));
    return;
  }
  per_class(page, *eval, source);
  confusion(page, *eval, source);
  reliability(page, dir, *eval, source);
  page.section("wrong", "Most confidently wrong examples", wrong_examples(dir, *eval, o, page));
}

}  // namespace smlab::analysis::report_detail
