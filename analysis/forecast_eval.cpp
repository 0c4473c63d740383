#include "analysis/forecast_eval.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "core/text.h"
#include "datasets/csv.h"
#include "datasets/time_series.h"
#include "models/model.h"
#include "trainers/checkpoint.h"
#include "trainers/metrics.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::analysis {
// Moved from trainers/ (issue 17): the loop, checkpoints and metrics it uses stay there.
using namespace smlab::trainers;
namespace {

using datasets::TimeSeriesWindows;

/// Model outputs [N, H] (model space, float32 on the CPU) for every sample of `ds`, in order.
torch::Tensor predict(models::Model& model, const TimeSeriesWindows& ds, const c10::Device& device, int64_t batch) {
  torch::NoGradGuard ng;
  model.eval();
  std::vector<torch::Tensor> out;
  for (int64_t s = 0; s < ds.size(); s += batch) {
    std::vector<int64_t> idx;
    for (int64_t i = s; i < std::min(ds.size(), s + batch); ++i) idx.push_back(i);
    auto b = ds.get(idx);
    out.push_back(model.forward(b.input.to(device)).to(torch::kCPU, torch::kFloat));
  }
  return torch::cat(out);
}

std::string horizon_label(int64_t h, int64_t step_seconds) {
  const int64_t sec = h * step_seconds;
  if (sec % 86400 == 0) return std::to_string(sec / 86400) + "d";
  if (sec % 3600 == 0) return std::to_string(sec / 3600) + "h";
  if (sec % 60 == 0) return std::to_string(sec / 60) + "min";
  return std::to_string(h) + " steps";
}

json metrics_json(const metrics::RegressionMetrics& m) {
  json j;
  for (const auto& [k, v] : m.compute()) j[k] = std::isfinite(v) ? json(v) : json(nullptr);
  return j;
}

/// Labelled windows per series name ("<dir>/<name>.csv" keys matched by file stem).
std::map<std::string, std::vector<std::pair<std::string, std::string>>> read_windows(const std::string& path) {
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw UserError(path + ": not valid JSON (" + e.what() + ")");
  }
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> out;
  for (auto& [key, list] : j.items()) {
    const std::string stem = fs::path(key).stem().string();
    if (!list.is_array()) throw UserError(path + ": the windows of '" + key + "' must be a list");
    auto& mine = out[stem];  // present even when the list is empty (a labelled series without anomalies)
    for (const auto& w : list) {
      if (!w.is_array() || w.size() != 2 || !w[0].is_string() || !w[1].is_string())
        throw UserError(path + ": windows of '" + key + "' must be [start, end] timestamp pairs");
      mine.push_back({w[0].get<std::string>(), w[1].get<std::string>()});
    }
  }
  return out;
}

/// Published NAB per-file raw scores: detector -> file stem -> score (rows de-duplicated).
std::map<std::string, std::map<std::string, double>> read_nab_results(const std::string& dir) {
  std::map<std::string, std::map<std::string, double>> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const std::string suffix = "_standard_scores.csv";
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const auto t = datasets::read_csv(e.path());
    const int64_t dc = t.column("Detector"), fc = t.column("File"), sc = t.column("Score");
    for (int64_t r = 0; r < t.size(); ++r) {
      const std::string file = t.rows[r][fc];
      if (file.find('/') == std::string::npos) continue;  // the "Totals" row
      out[t.rows[r][dc]][fs::path(file).stem().string()] = t.number(r, sc);
    }
  }
  return out;
}

}  // namespace

std::vector<std::vector<double>> forecast_residuals(models::Model& model, const TimeSeriesWindows& ds, int64_t horizon,
                                                    const c10::Device& device, int64_t batch_size) {
  const auto& sp = ds.spec();
  TORCH_CHECK(horizon >= 0 && horizon < static_cast<int64_t>(sp.horizons.size()), "forecast_residuals: horizon index ",
              horizon, " out of range");
  const auto pred = predict(model, ds, device, batch_size);
  const auto pa = pred.accessor<float, 2>();
  std::vector<std::vector<double>> r(ds.series().size());
  for (size_t s = 0; s < r.size(); ++s) r[s].assign(ds.series()[s].size(), std::nan(""));
  const float* z = nullptr;
  for (int64_t i = 0; i < ds.size(); ++i) {
    const int64_t s = ds.series_of(i), t = ds.origin_of(i) + sp.horizons[horizon];
    if (t >= ds.series()[s].size()) continue;
    z = ds.scaled_series(s).data_ptr<float>();
    r[s][t] = static_cast<double>(z[t]) - static_cast<double>(pa[i][horizon]);
  }
  return r;
}

AnomalyPoints anomaly_points(models::Model& model, const TimeSeriesWindows& all, int64_t anomaly_horizon,
                             const anomaly::ScoreOptions& score, const c10::Device& device, int64_t batch_size) {
  const auto& hz = all.spec().horizons;
  AnomalyPoints p;
  if (anomaly_horizon > 0) {
    const auto it = std::find(hz.begin(), hz.end(), anomaly_horizon);
    if (it == hz.end())
      throw UserError("anomaly horizon " + std::to_string(anomaly_horizon) + " is not one of the data's horizons");
    p.horizon_index = it - hz.begin();
  } else {
    p.horizon_index = std::min_element(hz.begin(), hz.end()) - hz.begin();
  }
  p.residual = forecast_residuals(model, all, p.horizon_index, device, batch_size);
  const size_t n = all.series().size();
  p.forecast.resize(n);
  p.score.resize(n);
  for (size_t s = 0; s < n; ++s) {
    // forecasts in the file's units: scaled value minus residual, decoded (NaN where there is none)
    const auto z = all.scaled_series(static_cast<int64_t>(s)).to(torch::kDouble) - torch::tensor(p.residual[s], torch::kDouble);
    const auto dec = all.decode(z, static_cast<int64_t>(s)).contiguous();
    p.forecast[s].assign(dec.data_ptr<double>(), dec.data_ptr<double>() + dec.numel());
    p.score[s] = anomaly::residual_scores(p.residual[s], score);
  }
  return p;
}

void write_anomaly_points(const fs::path& path, const TimeSeriesWindows& all, const AnomalyPoints& points,
                          double threshold, int64_t refractory, const std::vector<std::vector<anomaly::Window>>* windows) {
  const auto& series = all.series();
  write_atomic_with(path, [&](const fs::path& tmp) {
    std::ofstream f(tmp);
    f << "series,timestamp,value,forecast,residual,score,flag" << (windows ? ",in_window" : "") << "\n";
    char buf[256];
    for (size_t s = 0; s < series.size(); ++s) {
      const auto& ser = series[s];
      std::vector<bool> inw(ser.size(), false);
      if (windows)
        for (const auto& w : (*windows)[s])
          for (int64_t i = w.first; i <= w.last; ++i) inw[i] = true;
      const auto& sc = points.score[s];
      const auto det = anomaly::detections(sc, threshold, refractory);
      for (int64_t t = 0; t < ser.size(); ++t) {
        std::snprintf(buf, sizeof buf, ",%.17g,%s,%s,%s,%d", ser.raw[t],
                      std::isfinite(points.forecast[s][t]) ? text::fixed(points.forecast[s][t], 4).c_str() : "",
                      std::isfinite(points.residual[s][t]) ? text::fixed(points.residual[s][t], 6).c_str() : "",
                      std::isfinite(sc[t]) ? text::fixed(sc[t], 4).c_str() : "", det[t] ? 1 : 0);
        f << ser.name << "," << ser.stamps[t] << buf;
        if (windows) f << "," << (inw[t] ? 1 : 0);
        f << "\n";
      }
    }
    if (!f) throw UserError(tmp.string() + ": write failed");
  });
}

int64_t score_series(const fs::path& run_dir, const std::string& checkpoint, const std::string& input,
                     const fs::path& output, const ForecastEvalOptions& opt) {
  const RunDir run = RunDir::open(run_dir);
  const auto cfg = config::load(run.config_file(), {"data.path=" + input, "data.series=[]"});
  if (cfg.name_of("data") != "time_series_windows")
    throw UserError(run_dir.string() + ": series scoring needs a forecaster run (data.name=time_series_windows), this run uses '" +
                    cfg.name_of("data") + "'");
  const auto device = resolve_device(opt.device == "auto" ? cfg.get<std::string>("experiment.device") : opt.device);
  auto all = TimeSeriesWindows::create(cfg, datasets::Split::Test, /*all_origins=*/true);
  auto model = models::build(cfg, all->info());
  load_checkpoint(run.checkpoints() / (checkpoint + ".pt"), *model, nullptr, nullptr, false);
  model->to(device);
  const auto points = anomaly_points(*model, *all, opt.anomaly_horizon, opt.score, device, opt.batch_size);
  if (!output.parent_path().empty()) fs::create_directories(output.parent_path());
  write_anomaly_points(output, *all, points, opt.threshold, opt.refractory);
  int64_t rows = 0;
  for (const auto& ser : all->series()) rows += ser.size();
  return rows;
}

json forecast_eval(const config::Config& cfg, const fs::path& checkpoint, const fs::path& out_dir,
                   const ForecastEvalOptions& opt) {
  if (cfg.name_of("data") != "time_series_windows")
    throw UserError("forecast-eval needs a run on data.name=time_series_windows, this run uses '" + cfg.name_of("data") + "'");
  const auto split = opt.split == "val" ? datasets::Split::Val : datasets::Split::Test;
  if (opt.split != "val" && opt.split != "test") throw UserError("forecast-eval: split must be val or test, got '" + opt.split + "'");
  const auto device = resolve_device(opt.device == "auto" ? cfg.get<std::string>("experiment.device") : opt.device);
  auto ds = TimeSeriesWindows::create(cfg, split);
  auto model = models::build(cfg, ds->info());
  load_checkpoint(checkpoint, *model, nullptr, nullptr, false);
  model->to(device);
  const auto& sp = ds->spec();
  const auto& series = ds->series();
  const int64_t H = static_cast<int64_t>(sp.horizons.size());
  std::vector<std::string> hl;
  for (auto h : sp.horizons) hl.push_back(horizon_label(h, sp.step_seconds));

  // ---------------------------------------------------------------- error metrics on the split
  const auto pred = predict(*model, *ds, device, opt.batch_size);
  const auto pa = pred.accessor<float, 2>();
  json report;
  report["split"] = opt.split;
  report["checkpoint"] = checkpoint.string();
  report["horizons"] = sp.horizons;
  report["horizon_labels"] = hl;
  report["season"] = sp.season;
  report["definitions"] = {
      {"mase", "MAE(model) / MAE(seasonal naive y[t - season]) over the same points; < 1 beats seasonal naive"},
      {"mase_insample", "MAE(model) / mean |y[t] - y[t - season]| over the train part (Hyndman & Koehler 2006)"},
      {"smape", "mean 2|y - yhat| / (|y| + |yhat|), 0 where both are 0 (fraction, 0..2)"},
      {"last_value", "persistence baseline: y at the forecast origin"}};
  // One accumulator each, default-constructed: a copied RegressionMetrics would share its state tensor.
  auto grid = [&] {
    std::vector<std::vector<metrics::RegressionMetrics>> g(series.size());
    for (auto& row : g) row.resize(H);
    return g;
  };
  auto model_m = grid(), naive_m = grid(), last_m = grid();
  std::vector<metrics::RegressionMetrics> pooled(H);
  for (size_t s = 0; s < series.size(); ++s) {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < ds->size(); ++i)
      if (ds->series_of(i) == static_cast<int64_t>(s)) rows.push_back(i);
    if (rows.empty()) continue;
    const auto& raw = series[s].raw;
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> p, y, naive, last;
      for (auto i : rows) {
        const int64_t o = ds->origin_of(i), t = o + sp.horizons[h];
        if (t - sp.season < 0)
          throw UserError("forecast-eval: data.season " + std::to_string(sp.season) + " reaches before the start of " +
                          series[s].name + " (origin " + std::to_string(o) + ")");
        p.push_back(pa[i][h]);
        y.push_back(raw[t]);
        naive.push_back(raw[t - sp.season]);
        last.push_back(raw[o]);
      }
      const auto pt = ds->decode(torch::tensor(p, torch::kDouble), static_cast<int64_t>(s));
      const auto yt = torch::tensor(y, torch::kDouble), nt = torch::tensor(naive, torch::kDouble),
                 lt = torch::tensor(last, torch::kDouble);
      model_m[s][h].update(pt, yt, nt);
      naive_m[s][h].update(nt, yt, nt);
      last_m[s][h].update(lt, yt, nt);
      pooled[h].update(pt, yt, nt);
    }
  }
  json per_series = json::object();
  std::vector<int64_t> below(H, 0);
  std::vector<double> mase_sum(H, 0);
  int64_t n_series = 0;
  for (size_t s = 0; s < series.size(); ++s) {
    const auto& ser = series[s];
    // in-sample seasonal-naive MAE of the train part (MASE scale of Hyndman & Koehler)
    double scale = 0;
    int64_t cnt = 0;
    for (int64_t t = sp.season; t < ser.train_end; ++t, ++cnt) scale += std::abs(ser.raw[t] - ser.raw[t - sp.season]);
    scale = cnt > 0 ? scale / cnt : std::nan("");
    json js;
    bool any = false;
    for (int64_t h = 0; h < H; ++h) {
      const auto m = model_m[s][h].compute();
      if (m.at("count") == 0) continue;
      any = true;
      json e = metrics_json(model_m[s][h]);
      e["mase_insample"] = scale > 0 ? json(m.at("mae") / scale) : json(nullptr);
      const auto nv = naive_m[s][h].compute();
      const auto lv = last_m[s][h].compute();
      e["naive_mae"] = nv.at("mae");
      e["naive_smape"] = nv.at("smape");
      e["last_value_mae"] = lv.at("mae");
      e["last_value_mase"] = lv.count("mase") ? json(lv.at("mase")) : json(nullptr);
      js[hl[h]] = e;
      if (m.count("mase")) {
        mase_sum[h] += m.at("mase");
        if (m.at("mase") < 1) ++below[h];
      }
    }
    if (!any) continue;
    ++n_series;
    js["points"] = ser.size();
    js["test_start"] = ser.stamps[ser.val_end];
    per_series[ser.name] = js;
  }
  report["series"] = per_series;
  json overall;
  bool met = n_series > 0;
  for (int64_t h = 0; h < H; ++h) {
    json o = metrics_json(pooled[h]);
    o["mase_pooled"] = o["mase"];
    o.erase("mase");
    o["mase_mean_over_series"] = n_series > 0 ? mase_sum[h] / n_series : 0.0;
    o["series_with_mase_below_1"] = below[h];
    o["series"] = n_series;
    overall[hl[h]] = o;
    met = met && below[h] == n_series;
  }
  report["overall"] = overall;
  report["target_mase_below_1_everywhere"] = met;

  std::ostringstream md;
  md << "# Forecast evaluation (" << opt.split << " part of every series)\n\n"
     << "MASE = MAE(model) / MAE(seasonal naive, y[t-" << sp.season << "]) on the same points; < 1 beats seasonal naive.\n\n";
  md << "| series |";
  for (const auto& l : hl) md << " MAE " << l << " | naive MAE " << l << " | sMAPE " << l << " | MASE " << l << " |";
  md << "\n|---|";
  for (int64_t h = 0; h < H; ++h) md << "---:|---:|---:|---:|";
  md << "\n";
  for (auto& [name, js] : per_series.items()) {
    md << "| " << name << " |";
    for (const auto& l : hl) {
      if (!js.contains(l)) {
        md << " | | | |";
        continue;
      }
      const auto& e = js[l];
      md << " " << text::fixed(e["mae"]) << " | " << text::fixed(e["naive_mae"]) << " | " << text::fixed(e["smape"]) << " | "
         << (e["mase"].is_number() ? text::fixed(e["mase"]) : "n/a") << " |";
    }
    md << "\n";
  }
  md << "| mean MASE over series |";
  for (const auto& l : hl) md << " | | | " << text::fixed(overall[l]["mase_mean_over_series"]) << " |";
  md << "\n\nSeries with MASE < 1:";
  for (int64_t h = 0; h < H; ++h) md << " " << hl[h] << " " << below[h] << "/" << n_series << ";";
  md << " target (every series, both horizons) " << (met ? "met" : "NOT met") << ".\n";

  // ---------------------------------------------------------------- anomaly scores on whole series
  if (!opt.labels.empty()) {
    const auto windows_by_name = read_windows(opt.labels);
    auto all = TimeSeriesWindows::create(cfg, split, /*all_origins=*/true);
    const auto points = anomaly_points(*model, *all, opt.anomaly_horizon, opt.score, device, opt.batch_size);
    const int64_t ha = points.horizon_index;
    const auto& scores = points.score;
    std::vector<std::vector<anomaly::Window>> wins(series.size());
    json aj;
    aj["horizon"] = hl[ha];
    aj["threshold"] = opt.threshold;
    aj["refractory"] = opt.refractory;
    aj["score"] = {{"definition", "robust z-score of the model-space residual against the previous `window` residuals"},
                   {"window", opt.score.window},
                   {"min_count", opt.score.min_count},
                   {"min_scale", opt.score.min_scale},
                   {"one_sided", opt.score.one_sided}};
    aj["labels"] = opt.labels;
    int64_t tot_w = 0, tot_hit = 0, tot_out = 0, tot_fo = 0, tot_events = 0, test_w = 0, test_hit = 0, test_out = 0,
            test_fo = 0;
    json per = json::object();
    std::ostringstream amd;
    amd << "\n# Anomaly flags from " << hl[ha] << "-ahead residuals (score >= " << text::fixed(opt.threshold, 2)
        << (opt.refractory > 0 ? ", at most one flag per " + std::to_string(opt.refractory) + " steps" : std::string())
        << ", whole series)\n\n"
        << "| series | windows | hit | false alarms (points) | scored points outside windows | false-alarm rate | alarm events | "
           "test-part windows hit |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (size_t s = 0; s < series.size(); ++s) {
      const auto& ser = series[s];
      const auto it = windows_by_name.find(ser.name);
      if (it == windows_by_name.end()) {
        std::cerr << "[smlab] forecast-eval: no labelled windows for " << ser.name << " in " << opt.labels << "\n";
        continue;
      }
      const int64_t step = sp.step_seconds;
      int64_t outside = 0;
      for (const auto& [a, b] : it->second) {
        int64_t ta = 0, tb = 0;
        if (!datasets::parse_timestamp(a, &ta) || !datasets::parse_timestamp(b, &tb))
          throw UserError(opt.labels + ": cannot read window [" + a + ", " + b + "] of " + ser.name + " as timestamps");
        const int64_t ia = (ta - ser.time.front() + step - 1) / step, ib = (tb - ser.time.front()) / step;
        if (ia < 0 || ib >= ser.size()) {
          ++outside;
          continue;
        }
        wins[s].push_back({ia, ib});
      }
      if (outside > 0)
        std::cerr << "[smlab] forecast-eval: " << outside << " of " << it->second.size() << " labelled windows of " << ser.name
                  << " lie outside its " << ser.size() << " points read (data.limit?); skipped\n";
      const auto h = anomaly::hit_stats(scores[s], wins[s], opt.threshold, 0, -1, opt.refractory);
      const auto ht = anomaly::hit_stats(scores[s], wins[s], opt.threshold, ser.val_end, -1, opt.refractory);
      tot_w += h.windows, tot_hit += h.hit, tot_out += h.outside, tot_fo += h.flagged_outside, tot_events += h.alarm_events;
      test_w += ht.windows, test_hit += ht.hit, test_out += ht.outside, test_fo += ht.flagged_outside;
      json wl = json::array();
      for (size_t w = 0; w < wins[s].size(); ++w)
        wl.push_back({{"start", ser.stamps[wins[s][w].first]},
                      {"end", ser.stamps[wins[s][w].last]},
                      {"hit", h.first_flag[w] >= 0},
                      {"first_flag", h.first_flag[w] >= 0 ? json(ser.stamps[h.first_flag[w]]) : json(nullptr)},
                      {"part", wins[s][w].first >= ser.val_end    ? "test"
                               : wins[s][w].first >= ser.train_end ? "val"
                                                                   : "train"}});
      per[ser.name] = {{"windows", h.windows},
                       {"hit", h.hit},
                       {"scored", h.scored},
                       {"outside", h.outside},
                       {"flagged_outside", h.flagged_outside},
                       {"false_alarm_rate", h.false_alarm_rate()},
                       {"alarm_events", h.alarm_events},
                       {"test_windows", ht.windows},
                       {"test_hit", ht.hit},
                       {"window_list", wl}};
      amd << "| " << ser.name << " | " << h.windows << " | " << h.hit << " | " << h.flagged_outside << " | " << h.outside
          << " | " << text::fixed(100.0 * h.false_alarm_rate(), 2) << "% | " << h.alarm_events << " | " << ht.hit << "/" << ht.windows
          << " |\n";
    }
    const double far = tot_out > 0 ? static_cast<double>(tot_fo) / tot_out : 0.0;
    amd << "| all | " << tot_w << " | " << tot_hit << " | " << tot_fo << " | " << tot_out << " | " << text::fixed(100.0 * far, 2) << "% | "
        << tot_events << " | " << test_hit << "/" << test_w << " |\n";
    aj["series"] = per;
    aj["total"] = {{"windows", tot_w},        {"hit", tot_hit},        {"flagged_outside", tot_fo},
                   {"outside", tot_out},      {"false_alarm_rate", far}, {"alarm_events", tot_events},
                   {"test_windows", test_w},  {"test_hit", test_hit},
                   {"test_false_alarm_rate", test_out > 0 ? static_cast<double>(test_fo) / test_out : 0.0}};

    // NAB standard-profile score of these detections, at the fixed threshold and at the
    // threshold that maximises it on these files (NAB tunes every detector's threshold so).
    std::vector<double> all_scores;
    int64_t nab_windows = 0;
    for (size_t s = 0; s < series.size(); ++s) {
      nab_windows += anomaly::nab_window_count(series[s].size(), wins[s]);
      for (double v : scores[s])
        if (std::isfinite(v)) all_scores.push_back(v);
    }
    auto nab_total = [&](double thr) {
      double tot = 0;
      for (size_t s = 0; s < series.size(); ++s) tot += anomaly::nab_score(scores[s], wins[s], thr, {}, 0.15, opt.refractory);
      return tot;
    };
    auto normalise = [&](double raw) { return nab_windows > 0 ? 100.0 * (raw + nab_windows) / (2.0 * nab_windows) : 0.0; };
    std::set<double> cands;
    std::sort(all_scores.begin(), all_scores.end());
    for (double q = 0.5; q < 1.0; q = 1.0 - (1.0 - q) * 0.8) {
      if (all_scores.empty()) break;
      cands.insert(all_scores[std::min<size_t>(all_scores.size() - 1, static_cast<size_t>(q * all_scores.size()))]);
      if (1.0 - q < 1e-6) break;
    }
    for (double z = 2.0; z <= 60.0; z += 0.25) cands.insert(z);
    double best_thr = opt.threshold, best_raw = nab_total(opt.threshold);
    for (double c : cands) {
      const double r = nab_total(c);
      if (r > best_raw) best_raw = r, best_thr = c;
    }
    const double fixed_raw = nab_total(opt.threshold);
    aj["nab"] = {{"profile", "standard (tp 1, fp 0.11, fn 1)"},
                 {"windows", nab_windows},
                 {"raw_at_threshold", fixed_raw},
                 {"normalised_at_threshold", normalise(fixed_raw)},
                 {"best_threshold", best_thr},
                 {"raw_at_best_threshold", best_raw},
                 {"normalised_at_best_threshold", normalise(best_raw)}};
    const auto hb = [&] {
      int64_t w = 0, hit = 0, out = 0, fo = 0;
      for (size_t s = 0; s < series.size(); ++s) {
        const auto h = anomaly::hit_stats(scores[s], wins[s], best_thr, 0, -1, opt.refractory);
        w += h.windows, hit += h.hit, out += h.outside, fo += h.flagged_outside;
      }
      return json{{"windows", w}, {"hit", hit}, {"false_alarm_rate", out > 0 ? static_cast<double>(fo) / out : 0.0}};
    }();
    aj["nab"]["hits_at_best_threshold"] = hb;
    amd << "\nNAB standard-profile score on these " << series.size() << " files (" << nab_windows
        << " windows; normalised 0 = no detections, 100 = perfect): " << text::fixed(normalise(fixed_raw), 1) << " at threshold "
        << text::fixed(opt.threshold, 2) << "; " << text::fixed(normalise(best_raw), 1) << " at the best threshold " << text::fixed(best_thr, 2)
        << " (hits " << hb["hit"] << "/" << hb["windows"] << ", false-alarm rate "
        << text::fixed(100.0 * hb["false_alarm_rate"].get<double>(), 3) << "%).\n";
    if (!opt.nab_results.empty()) {
      const auto pub = read_nab_results(opt.nab_results);
      json pj = json::object();
      std::vector<std::pair<double, std::string>> rows;
      for (const auto& [det, files] : pub) {
        double raw = 0;
        bool all_files = true;
        for (const auto& ser : series) {
          const auto f = files.find(ser.name);
          if (f == files.end()) all_files = false;
          else raw += f->second;
        }
        if (!all_files) continue;
        pj[det] = {{"raw", raw}, {"normalised", normalise(raw)}};
        rows.push_back({normalise(raw), det});
      }
      std::sort(rows.rbegin(), rows.rend());
      aj["nab"]["published_same_files"] = pj;
      amd << "\n| detector (NAB results, same files; thresholds tuned by NAB on the whole corpus) | normalised score |\n"
             "|---|---:|\n";
      bool placed = false;
      for (const auto& [v, det] : rows) {
        if (!placed && normalise(best_raw) >= v) {
          amd << "| **smlab " << cfg.name_of("model") << " residuals (best threshold)** | **" << text::fixed(normalise(best_raw), 1)
              << "** |\n";
          placed = true;
        }
        amd << "| " << det << " | " << text::fixed(v, 1) << " |\n";
      }
      if (!placed)
        amd << "| **smlab " << cfg.name_of("model") << " residuals (best threshold)** | **" << text::fixed(normalise(best_raw), 1)
            << "** |\n";
    }
    report["anomaly"] = aj;
    md << amd.str();

    if (opt.write_points)
      write_anomaly_points(out_dir / "anomaly_scores.csv", *all, points, opt.threshold, opt.refractory, &wins);
  }
  write_file_atomic(out_dir / "forecast_eval.json", report.dump(2) + "\n");
  write_file_atomic(out_dir / "forecast_eval.md", md.str());
  report["markdown"] = md.str();
  return report;
}

}  // namespace smlab::analysis
