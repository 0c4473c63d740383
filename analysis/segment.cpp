#include "analysis/segment.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/csv.h"
#include "analysis/kmeans.h"
#include "analysis/stats.h"
#include "inference/writers.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::analysis {
namespace {

std::string fmt_p(double p) {
  char buf[64];
  if (p != 0 && p < 1e-4) std::snprintf(buf, sizeof buf, "%.3e", p);
  else std::snprintf(buf, sizeof buf, "%.4f", p);
  return buf;
}

using inference::csv_field;  // inference/writers.h

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

json segment(const SegmentOptions& o) {
  if (o.k_min < 2 || o.k_max < o.k_min) throw UserError("segment: need 2 <= k_min <= k_max, got " + std::to_string(o.k_min) + ".." + std::to_string(o.k_max));
  if (o.choose != "silhouette" && o.choose != "elbow") throw UserError("segment: --choose must be silhouette or elbow");
  if (o.transform != "log1p" && o.transform != "none") throw UserError("segment: --transform must be log1p or none");
  if (o.features.empty()) throw UserError("segment: no feature columns");
  if (o.k != 0 && o.k < 2) throw UserError("segment: --k must be >= 2 (or 0 to choose)");
  auto table = datasets::read_csv(o.input);
  if (o.limit > 0 && table.size() > o.limit) {
    table.rows.resize(o.limit);
    table.lines.resize(o.limit);
  }
  // Duplicates: always counted; dropped only on request.
  std::map<std::vector<std::string>, int64_t> seen;
  std::vector<int64_t> rows;
  int64_t duplicates = 0;
  for (int64_t r = 0; r < table.size(); ++r) {
    if (seen.count(table.rows[r])) {
      ++duplicates;
      if (o.dedupe) continue;
    } else {
      seen[table.rows[r]] = r;
    }
    rows.push_back(r);
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<int64_t> fcols;
  for (const auto& f : o.features) fcols.push_back(table.column(f));
  const int64_t oc = table.column(o.outcome);
  std::vector<int64_t> dcols;
  for (const auto& d : o.describe) dcols.push_back(table.column(d));
  const int64_t idc = table.has_column(o.id_column) ? table.column(o.id_column) : -1;
  const int64_t tc = table.has_column(o.type_column) ? table.column(o.type_column) : -1;
  if (n <= o.k_max) throw UserError(o.input.string() + ": " + std::to_string(n) + " rows; k_max " + std::to_string(o.k_max) + " needs more");

  // Features: transform, then standardise (population std over all rows).
  auto x = torch::empty({n, static_cast<int64_t>(fcols.size())}, torch::kDouble);
  auto xa = x.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (size_t j = 0; j < fcols.size(); ++j) {
      const double v = table.number(rows[i], fcols[j]);
      if (o.transform == "log1p" && v <= -1)
        throw UserError(table.where(rows[i], fcols[j]) + ": value " + std::to_string(v) + " is <= -1, which log1p cannot take");
      xa[i][j] = o.transform == "log1p" ? std::log1p(v) : v;
    }
  json scaling = json::array();
  if (o.standardize) {
    const auto mean = x.mean(0);
    auto sd = (x - mean).pow(2).mean(0).sqrt();
    sd = torch::where(sd > 1e-12, sd, torch::ones_like(sd));
    x = (x - mean) / sd;
    for (size_t j = 0; j < fcols.size(); ++j)
      scaling.push_back({{"column", o.features[j]}, {"mean", mean[j].item<double>()}, {"std", sd[j].item<double>()}});
  }
  const auto device = resolve_device(o.device);
  const auto xd = x.to(device);

  // Scan k.
  std::vector<int64_t> ks;
  std::vector<double> inertia, sil;
  std::map<int64_t, cluster::KMeansResult> results;
  json scan = json::array();
  for (int64_t k = o.k_min; k <= o.k_max; ++k) {
    cluster::KMeansOptions ko;
    ko.k = k;
    ko.n_init = o.n_init;
    ko.max_iter = o.max_iter;
    ko.seed = o.seed + static_cast<uint64_t>(k);
    auto r = cluster::kmeans(xd, ko);
    const double s = cluster::silhouette(xd, r.labels, k);
    ks.push_back(k);
    inertia.push_back(r.inertia);
    sil.push_back(s);
    scan.push_back({{"k", k}, {"inertia", r.inertia}, {"silhouette", s}, {"iterations", r.iterations}});
    results.emplace(k, std::move(r));
  }
  const int64_t k_elbow = cluster::elbow(ks, inertia);
  const int64_t k_sil = ks[std::max_element(sil.begin(), sil.end()) - sil.begin()];
  int64_t k = o.k > 0 ? o.k : (o.choose == "elbow" ? k_elbow : k_sil);
  if (!results.count(k)) {
    cluster::KMeansOptions ko;
    ko.k = k;
    ko.n_init = o.n_init;
    ko.max_iter = o.max_iter;
    ko.seed = o.seed + static_cast<uint64_t>(k);
    results.emplace(k, cluster::kmeans(xd, ko));
  }
  const auto& best = results.at(k);
  const auto labels_raw = best.labels.cpu();

  // Renumber clusters by descending mean outcome (cluster 0 = top).
  std::vector<double> outcome(n);
  for (int64_t i = 0; i < n; ++i) outcome[i] = table.number(rows[i], oc);
  std::vector<double> sum(k, 0);
  std::vector<int64_t> cnt(k, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = labels_raw[i].item<int64_t>();
    sum[c] += outcome[i];
    ++cnt[c];
  }
  std::vector<int64_t> order(k);
  for (int64_t c = 0; c < k; ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sum[a] / cnt[a] > sum[b] / cnt[b]; });
  std::vector<int64_t> rank(k);
  for (int64_t r = 0; r < k; ++r) rank[order[r]] = r;
  std::vector<int64_t> label(n);
  for (int64_t i = 0; i < n; ++i) label[i] = rank[labels_raw[i].item<int64_t>()];
  const double final_sil = cluster::silhouette(xd, torch::tensor(label, torch::kLong).to(device), k);

  // Describe clusters.
  std::set<std::string> types;
  if (tc >= 0)
    for (auto r : rows) types.insert(text::trim(table.rows[r][tc]));
  json clusters = json::array();
  std::vector<std::vector<double>> by_cluster(k);
  for (int64_t i = 0; i < n; ++i) by_cluster[label[i]].push_back(outcome[i]);
  for (int64_t c = 0; c < k; ++c) {
    json cj;
    cj["cluster"] = c;
    int64_t size = 0;
    std::map<std::string, int64_t> mix;
    std::vector<std::vector<double>> vals(dcols.size());
    for (int64_t i = 0; i < n; ++i) {
      if (label[i] != c) continue;
      ++size;
      for (size_t j = 0; j < dcols.size(); ++j) vals[j].push_back(table.number(rows[i], dcols[j]));
      if (tc >= 0) ++mix[text::trim(table.rows[rows[i]][tc])];
    }
    cj["size"] = size;
    cj["share"] = static_cast<double>(size) / n;
    for (size_t j = 0; j < dcols.size(); ++j) {
      double s = 0;
      for (double v : vals[j]) s += v;
      cj["mean"][o.describe[j]] = s / static_cast<double>(size);
      cj["median"][o.describe[j]] = median(vals[j]);
    }
    if (tc >= 0)
      for (const auto& t : types) cj["status_type_mix"][t] = static_cast<double>(mix[t]) / size;
    clusters.push_back(cj);
  }
  // Welch: top cluster vs the rest, on the outcome.
  std::vector<double> rest;
  for (int64_t c = 1; c < k; ++c) rest.insert(rest.end(), by_cluster[c].begin(), by_cluster[c].end());
  json welch;
  std::string welch_line;
  if (by_cluster[0].size() >= 2 && rest.size() >= 2) {
    const auto w = stats::welch_t_test(by_cluster[0], rest);
    welch = {{"outcome", o.outcome}, {"n_top", w.n_a},          {"n_rest", w.n_b},        {"mean_top", w.mean_a},
             {"mean_rest", w.mean_b}, {"var_top", w.var_a},     {"var_rest", w.var_b},    {"t", w.t},
             {"df", w.df},           {"p_greater", w.p_greater}, {"p_two_sided", w.p_two_sided}};
    welch_line = "Welch's t-test, mean " + o.outcome + " of cluster 0 (" + text::fixed(w.mean_a, 1) + ", n = " + std::to_string(w.n_a) +
                 ") vs all other posts (" + text::fixed(w.mean_b, 1) + ", n = " + std::to_string(w.n_b) + "): t = " + text::fixed(w.t, 2) +
                 ", df = " + text::fixed(w.df, 1) + ", one-sided p (top > rest) = " + fmt_p(w.p_greater) +
                 ", two-sided p = " + fmt_p(w.p_two_sided) + ".";
  } else {
    welch = {{"error", "the top cluster or the rest has fewer than 2 posts"}};
    welch_line = "Welch's t-test not run: the top cluster or the rest has fewer than 2 posts.";
  }

  json summary;
  summary["input"] = o.input.string();
  summary["rows"] = n;
  summary["rows_in_file"] = table.size();
  summary["duplicate_rows"] = duplicates;
  summary["duplicates_dropped"] = o.dedupe;
  summary["features"] = o.features;
  summary["transform"] = o.transform;
  summary["standardize"] = o.standardize;
  summary["scaling"] = scaling;
  summary["device"] = device.str();
  summary["seed"] = o.seed;
  summary["n_init"] = o.n_init;
  summary["scan"] = scan;
  summary["k_elbow"] = k_elbow;
  summary["k_silhouette"] = k_sil;
  summary["k"] = k;
  summary["k_rule"] = o.k > 0 ? "fixed" : o.choose;
  summary["inertia"] = best.inertia;
  summary["silhouette"] = final_sil;
  summary["clusters"] = clusters;
  summary["welch"] = welch;

  std::ostringstream md;
  md << "# Segmentation of " << o.input.string() << "\n\n"
     << n << " posts (" << duplicates << " exact duplicate rows " << (o.dedupe ? "dropped" : "kept") << "), features "
     << text::join(o.features, ", ") << " (" << o.transform << (o.standardize ? ", standardised" : "") << "), k-means with "
     << o.n_init << " k-means++ restarts on " << device.str() << ".\n\n"
     << "| k | inertia | mean silhouette |\n|---:|---:|---:|\n";
  for (size_t i = 0; i < ks.size(); ++i)
    md << "| " << ks[i] << " | " << text::fixed(inertia[i], 1) << " | " << text::fixed(sil[i], 4) << " |\n";
  md << "\nElbow: k = " << k_elbow << "; silhouette maximum: k = " << k_sil << "; chosen k = " << k << " ("
     << (o.k > 0 ? "fixed" : o.choose) << ").\n\n| cluster | posts | share |";
  for (const auto& d : o.describe) md << " mean " << d << " |";
  for (const auto& t : types) md << " " << t << " |";
  md << "\n|---:|---:|---:|";
  for (size_t j = 0; j < o.describe.size() + types.size(); ++j) md << "---:|";
  md << "\n";
  for (const auto& cj : clusters) {
    md << "| " << cj["cluster"] << " | " << cj["size"] << " | " << text::fixed(100 * cj["share"].get<double>(), 1) << "% |";
    for (const auto& d : o.describe) md << " " << text::fixed(cj["mean"][d].get<double>(), 1) << " |";
    for (const auto& t : types) md << " " << text::fixed(100 * cj["status_type_mix"][t].get<double>(), 1) << "% |";
    md << "\n";
  }
  md << "\n" << welch_line << "\n";

  fs::create_directories(o.output_dir);
  std::ostringstream seg;
  seg << "line," << (idc >= 0 ? csv_field(o.id_column) + "," : "") << (tc >= 0 ? csv_field(o.type_column) + "," : "") << "cluster";
  for (const auto& d : o.describe) seg << "," << csv_field(d);
  seg << "\n";
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = rows[i];
    seg << table.lines[r] << ",";
    if (idc >= 0) seg << csv_field(text::trim(table.rows[r][idc])) << ",";
    if (tc >= 0) seg << csv_field(text::trim(table.rows[r][tc])) << ",";
    seg << label[i];
    for (auto c : dcols) seg << "," << text::trim(table.rows[r][c]);
    seg << "\n";
  }
  write_file_atomic(o.output_dir / "segments.csv", seg.str());
  write_file_atomic(o.output_dir / "summary.json", summary.dump(2) + "\n");
  write_file_atomic(o.output_dir / "summary.md", md.str());
  summary["markdown"] = md.str();
  return summary;
}

}  // namespace smlab::analysis
