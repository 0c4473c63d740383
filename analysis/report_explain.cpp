// The run report's explanation sections: `smlab explain RUN --output RUN/<name>` output found inside
// the run folder (any subfolder whose scores.json is an explain result) is embedded as one section per
// folder: the method, the image or clip overlays (the PNG files' own bytes as data: URIs), the text
// items' words as tokens.html draws them, and the faithfulness curves'
// summary when faithfulness.json is there. Nothing is recomputed: the page shows what explain wrote.
#include <algorithm>

#include "analysis/explain_render.h"
#include "analysis/report_detail.h"
#include "core/atomic_file.h"

namespace smlab::analysis::report_detail {
namespace {

bool is_explain_output(const fs::path& folder, json* scores) {
  auto j = read_json(folder / "scores.json");
  if (!j || !j->is_object() || !j->contains("method") || !j->contains("items") || !(*j)["items"].is_array()) return false;
  *scores = std::move(*j);
  return true;
}

/// The overlay PNGs (overlay_<n>.png, in item order), as <figure>s with the item's id and target.
std::string overlays(const fs::path& folder, const json& items, int max) {
  std::vector<std::string> figs;
  for (size_t i = 0; i < items.size() && static_cast<int>(figs.size()) < max; ++i) {
    const fs::path png = folder / ("overlay_" + std::to_string(i) + ".png");
    std::error_code ec;
    if (!fs::exists(png, ec)) continue;
    const auto& it = items[i];
    const std::string caption = cell(it, "id") + ": " + cell(it, "target_name") +
                                (it.contains("probability") ? " (p " + cell(it, "probability", 3) + ")" : "");
    figs.push_back("<figure class=\"overlay\"><img alt=\"" + html::escape(caption) + "\" data-file=\"" +
                   html::escape(png.filename().string()) + "\" src=\"data:image/png;base64," + base64(read_file(png)) +
                   "\"><figcaption>" + html::escape(caption) + "</figcaption></figure>");
  }
  return figs.empty() ? "" : html::grid(figs);
}

/// Each text item's words as `smlab explain`'s tokens.html draws them (explain::highlight_rows): red for
/// a positive score, blue for a negative one, each score in data-value.
std::string words(const json& items, int max) {
  std::vector<explain::HighlightRow> rows;
  for (const auto& it : items) {
    const json& w = get(it, "words");
    if (!w.is_array() || static_cast<int>(rows.size()) >= max) continue;
    explain::HighlightRow r{cell(it, "id"), cell(it, "target_name"), {}};
    for (const auto& x : w) r.words.emplace_back(get(x, "word").is_string() ? get(x, "word").get<std::string>() : "", num(x, "score"));
    rows.push_back(std::move(r));
  }
  return explain::highlight_rows(rows);
}

/// faithfulness.json as a table: AUC and AOPC of the map against random rankings, per curve.
std::string faithfulness_table(const json& f) {
  std::vector<std::vector<std::string>> rows;
  for (const char* curve : {"deletion", "insertion"}) {
    const json& c = get(f, curve);
    for (const char* measure : {"auc", "aopc"}) {
      const json& m = get(c, measure);
      if (!m.is_object()) continue;
      const json& d = get(m, "difference");
      const json& ci = get(d, "ci95");
      const std::string interval = ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number()
                                       ? "[" + fmt(ci[0].get<double>()) + ", " + fmt(ci[1].get<double>()) + "]"
                                       : "-";
      rows.push_back({curve, measure, cell(m, "method"), cell(m, "random"), cell(d, "mean"), interval, cell(d, "n")});
    }
  }
  if (rows.empty()) return html::missing("faithfulness.json has no deletion or insertion curves");
  return html::para("Deletion and insertion curves (" + cell(f, "steps") + " steps, " + cell(f, "random_maps") +
                    " random rankings per input, baseline " + cell(f, "baseline") +
                    "): lower deletion and higher insertion AUC are better; the difference is map minus random, "
                    "paired over inputs, with its 95% t interval.") +
         html::table({"curve", "measure", "map", "random", "difference", "95% CI", "inputs"}, rows, 2);
}

}  // namespace

void explain_sections(html::Page& page, const fs::path& dir, const HtmlReportOptions& o) {
  std::vector<fs::path> folders;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  for (const auto& folder : folders) {
    json scores;
    if (!is_explain_output(folder, &scores)) continue;
    const std::string name = folder.filename().string();
    std::string body = html::para("`smlab explain` output in " + name + "/: " + cell(scores, "method") +
                                  (get(scores, "layer").is_string() && !scores["layer"].get<std::string>().empty()
                                       ? " at " + scores["layer"].get<std::string>()
                                       : "") +
                                  ", " + std::to_string(scores["items"].size()) + " input(s), from the " +
                                  cell(scores, "format") + ".");
    body += overlays(folder, scores["items"], o.max_examples);
    body += words(scores["items"], o.max_examples);
    std::string why;
    if (auto f = read_json(folder / "faithfulness.json", &why)) body += faithfulness_table(*f);
    else if (why != "missing") page.note_missing(name + "/faithfulness.json is " + why);
    page.section("explain-" + name, "Explanations: " + name, body);
  }
}

}  // namespace smlab::analysis::report_detail
