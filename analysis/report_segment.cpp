// The `smlab segment` report: the elbow (inertia) and silhouette curves over k, and the cluster
// profiles (size, mean and median of the described columns, status-type mix), from summary.json.
#include <algorithm>

#include "analysis/report_detail.h"
#include "analysis/report_svg.h"

namespace smlab::analysis::report_detail {
namespace {

void scan_charts(html::Page& page, const json& s) {
  svg::Series inertia{"inertia"}, silhouette{"mean silhouette"};
  inertia.markers = silhouette.markers = true;
  silhouette.colour = 2;
  for (const auto& r : get(s, "scan")) {
    inertia.x.push_back(num(r, "k")), inertia.y.push_back(num(r, "inertia"));
    silhouette.x.push_back(num(r, "k")), silhouette.y.push_back(num(r, "silhouette"));
  }
  const double k = num(s, "k");
  std::vector<svg::Mark> mi, ms;
  for (size_t i = 0; i < inertia.x.size(); ++i)
    if (inertia.x[i] == k) mi.push_back({k, inertia.y[i], "chosen k"}), ms.push_back({k, silhouette.y[i], "chosen k"});
  std::vector<std::pair<double, std::string>> ticks;
  for (double x : inertia.x) ticks.push_back({x, fmt(x)});
  svg::Chart e{"segment-elbow", "Elbow: k-means inertia over k", "number of clusters k", "inertia (standardised units)"};
  svg::Chart c{"segment-silhouette", "Mean silhouette over k", "number of clusters k", "mean silhouette (-1 to 1)"};
  e.x_ticks = c.x_ticks = ticks;
  e.marks_label = c.marks_label = "chosen k";
  page.section("scan", "Choosing k: elbow and silhouette",
               html::para("k = " + cell(s, "k") + " (rule: " + cell(s, "k_rule") + "; elbow says " + cell(s, "k_elbow") +
                          ", silhouette says " + cell(s, "k_silhouette") + "). The triangle marks the chosen k.") +
                   html::grid({svg::line_chart(e, {inertia}, {}, mi), svg::line_chart(c, {silhouette}, {}, ms)}));
}

void clusters(html::Page& page, const json& s) {
  std::vector<std::string> cols;
  for (const auto& cl : get(s, "clusters"))
    for (const auto& [k, v] : get(cl, "mean").items())
      if (std::find(cols.begin(), cols.end(), k) == cols.end()) cols.push_back(k);
  std::vector<std::string> header = {"cluster", "size", "share"};
  for (const auto& c : cols) header.push_back("mean " + c), header.push_back("median " + c);
  header.push_back("status-type mix");
  std::vector<std::vector<std::string>> rows;
  std::vector<svg::Bar> sizes;
  std::vector<std::vector<svg::Bar>> means(cols.size());
  for (const auto& cl : get(s, "clusters")) {
    const std::string name = "cluster " + cell(cl, "cluster");
    std::vector<std::string> row = {cell(cl, "cluster"), cell(cl, "size"), cell(cl, "share", 3)};
    for (size_t i = 0; i < cols.size(); ++i) {
      row.push_back(cell(get(cl, "mean"), cols[i], 5)), row.push_back(cell(get(cl, "median"), cols[i], 5));
      means[i].push_back({name, num(get(cl, "mean"), cols[i])});
    }
    std::string mix;
    for (const auto& [k, v] : get(cl, "status_type_mix").items()) mix += (mix.empty() ? "" : ", ") + k + " " + fmt(v.is_number() ? v.get<double>() * 100 : NAN, 3) + "%";
    row.push_back(mix.empty() ? "-" : mix);
    rows.push_back(row);
    sizes.push_back({name, num(cl, "size")});
  }
  std::vector<std::string> charts = {svg::bar_chart({"segment-sizes", "Cluster sizes", "cluster", "rows (posts)"}, sizes)};
  for (size_t i = 0; i < cols.size(); ++i)
    charts.push_back(svg::bar_chart({"segment-mean-" + cols[i], "Mean " + cols[i] + " per cluster", "cluster", cols[i] + " (count per post)"}, means[i]));
  const json& w = get(s, "welch");
  std::string welch;
  if (w.is_object())
    welch = html::para("Welch's t-test, top cluster against the rest on " + cell(w, "outcome") + ": mean " + cell(w, "mean_top", 5) +
                       " vs " + cell(w, "mean_rest", 5) + ", t = " + cell(w, "t") + ", df = " + cell(w, "df") +
                       ", p (one-sided, greater) = " + cell(w, "p_greater") + ", p (two-sided) = " + cell(w, "p_two_sided") + ".");
  page.section("clusters", "Cluster profiles", html::para("Clusters are numbered by descending mean outcome (cluster 0 = the top one).") +
                                                  html::grid(charts) + html::table(header, rows) + welch);
}

}  // namespace

void segment_page(html::Page& page, const fs::path& dir, const HtmlReportOptions&) {
  std::string why;
  const auto s = read_json(dir / "summary.json", &why);
  if (!s || !s->is_object() || !s->contains("scan")) {
    const std::string m = "summary.json is " + (s ? std::string("not a `smlab segment` summary (no 'scan')") : why) +
                          ": rerun `smlab segment CSV --output DIR`";
    page.note_missing(m);
    page.section("scan", "Choosing k: elbow and silhouette", html::missing(m));
    page.section("clusters", "Cluster profiles", html::missing(m));
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const char* k : {"input", "rows", "rows_in_file", "duplicate_rows", "transform", "standardize", "n_init", "seed", "device", "k",
                        "silhouette", "inertia"})
    if (s->contains(k)) rows.push_back({k, cell(*s, k, 6)});
  page.section("overview", "Overview", html::table({"field", "value"}, rows));
  scan_charts(page, *s);
  clusters(page, *s);
}

}  // namespace smlab::analysis::report_detail
