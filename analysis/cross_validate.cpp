#include "analysis/cross_validate.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/device.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/tabular.h"
#include "trainers/checkpoint.h"
#include "trainers/metrics.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::analysis {
// Moved from trainers/ (issue 17): the loop, checkpoints and metrics it uses stay there.
using namespace smlab::trainers;
namespace {

std::pair<double, double> mean_std(const std::vector<double>& v) {
  if (v.empty()) return {std::nan(""), std::nan("")};
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0};
}

/// Whether `run` holds a finished training of exactly this config (same config hash).
bool completed(const fs::path& run, const std::string& config_hash) {
  if (!fs::exists(run / "summary.json") || !fs::exists(run / "checkpoints" / "best.pt")) return false;
  try {
    const auto s = json::parse(read_file(run / "summary.json"));
    const std::string status = s.value("status", "");
    return (status == "completed" || status == "early_stopped") && s.value("config_hash", "") == config_hash;
  } catch (...) {
    return false;
  }
}

}  // namespace

json cross_validate(const fs::path& config_file, const CrossValidateOptions& opt) {
  if (opt.folds < 2) throw UserError("cross-validation needs at least 2 folds, got " + std::to_string(opt.folds));
  if (opt.output_dir.empty()) throw UserError("cross-validation needs an output folder");
  fs::create_directories(opt.output_dir);
  std::vector<std::string> targets;
  std::vector<metrics::RegressionMetrics> pooled, pooled_base;
  std::vector<std::vector<double>> fold_mape, fold_r2, fold_smape;
  std::vector<std::vector<double>> ape;  // pooled |y - yhat| / |y| per target (y != 0), for the median
  std::ostringstream preds;
  json folds_json = json::array();
  for (int64_t f = 0; f < opt.folds; ++f) {
    auto ov = opt.overrides;
    ov.push_back("data.split=kfold");
    ov.push_back("data.folds=" + std::to_string(opt.folds));
    ov.push_back("data.fold=" + std::to_string(f));
    const auto cfg = config::load(config_file, ov);
    if (cfg.name_of("data") != "csv_table")
      throw UserError("cross-validation works on data.name=csv_table, " + config_file.string() + " uses '" +
                      cfg.name_of("data") + "'");
    const fs::path run = opt.output_dir / ("fold" + std::to_string(f));
    if (completed(run, cfg.hash())) {
      std::cerr << "[smlab] cv: fold " << f << " already trained in " << run.string() << "; reusing it\n";
    } else {
      if (fs::exists(run)) std::cerr << "[smlab] cv: fold " << f << ": " << run.string() << " is unfinished or from another config; retraining\n";
      fs::remove_all(run);
      TrainOptions to;
      to.run_dir = run;
      const auto r = train(cfg, to);
      if (r.outcome == Outcome::NonFinite) throw UserError("cv: fold " + std::to_string(f) + " diverged (non-finite loss); see " + run.string());
      if (r.summary.value("status", "") == "interrupted")
        throw UserError("cv: interrupted in fold " + std::to_string(f) + "; run the same command again to resume");
    }
    auto base = datasets::build(cfg, datasets::Split::Test);
    auto ds = std::dynamic_pointer_cast<datasets::TabularDataset>(base);
    if (!ds || ds->info().task != datasets::Task::Regression) throw UserError("cross-validation needs a csv_table regression task");
    const auto& prep = ds->preprocessor();
    if (targets.empty()) {
      targets = prep.targets;
      pooled.resize(targets.size());
      pooled_base.resize(targets.size());
      fold_mape.resize(targets.size());
      fold_r2.resize(targets.size());
      fold_smape.resize(targets.size());
      ape.resize(targets.size());
      preds << "fold,line";
      for (const auto& t : targets) preds << ",\"" << t << "\",\"pred " << t << "\"";
      preds << "\n";
    }
    const auto device = resolve_device(cfg.get<std::string>("experiment.device"));
    auto model = models::build(cfg, ds->info());
    load_checkpoint(run / "checkpoints" / "best.pt", *model, nullptr, nullptr, false);
    model->to(device);
    model->eval();
    torch::Tensor out;
    {
      torch::NoGradGuard ng;
      out = model->forward(ds->inputs().to(device)).to(torch::kCPU, torch::kDouble);
    }
    const auto pred = prep.decode_targets(out);                                 // [n, T], file units
    const auto base_pred = prep.decode_targets(torch::zeros_like(out));        // the training mean
    const auto& y = ds->raw_targets();
    json fj = {{"fold", f}, {"run", run.string()}, {"test_rows", ds->size()}, {"targets", json::object()}};
    for (size_t j = 0; j < targets.size(); ++j) {
      metrics::RegressionMetrics m;
      m.update(pred.select(1, j), y.select(1, j));
      pooled[j].update(pred.select(1, j), y.select(1, j));
      pooled_base[j].update(base_pred.select(1, j), y.select(1, j));
      const auto r = m.compute();
      fold_mape[j].push_back(r.at("mape"));
      fold_r2[j].push_back(r.at("r2"));
      fold_smape[j].push_back(r.at("smape"));
      fj["targets"][targets[j]] = {{"mape", r.at("mape")}, {"r2", r.at("r2")}, {"smape", r.at("smape")}, {"mae", r.at("mae")}};
    }
    folds_json.push_back(fj);
    const auto pa = pred.accessor<double, 2>();
    const auto ya = y.accessor<double, 2>();
    for (int64_t i = 0; i < ds->size(); ++i)
      for (size_t j = 0; j < targets.size(); ++j)
        if (ya[i][j] != 0) ape[j].push_back(std::abs(ya[i][j] - pa[i][j]) / std::abs(ya[i][j]));
    for (int64_t i = 0; i < ds->size(); ++i) {
      preds << f << "," << ds->lines()[i];
      for (size_t j = 0; j < targets.size(); ++j) preds << "," << ya[i][j] << "," << text::fixed(pa[i][j], 4);
      preds << "\n";
    }
  }
  json summary;
  summary["config"] = config_file.string();
  summary["folds"] = opt.folds;
  summary["overrides"] = opt.overrides;
  summary["per_fold"] = folds_json;
  summary["definitions"] = {{"mape", "mean |y - yhat| / |y| over rows with y != 0 (fraction; mape_skipped rows have y = 0)"},
                            {"pooled", "metrics over all held-out rows of all folds together"},
                            {"fold_mean_std", "mean and sample std of the per-fold values"},
                            {"mdape", "median of |y - yhat| / |y| over rows with y != 0 (pooled)"},
                            {"baseline", "a constant prediction: the training folds' mean target in model space"}};
  std::ostringstream md;
  md << "# " << opt.folds << "-fold cross-validation: " << config_file.string() << "\n\n"
     << "| target | MAPE (pooled) | MAPE fold mean ± std | MdAPE | R² (pooled) | R² fold mean ± std | sMAPE | baseline MAPE | "
        "baseline R² | rows with y = 0 (no MAPE term) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  json tj = json::object();
  for (size_t j = 0; j < targets.size(); ++j) {
    const auto p = pooled[j].compute();
    const auto b = pooled_base[j].compute();
    const auto [mm, ms] = mean_std(fold_mape[j]);
    const auto [rm, rs] = mean_std(fold_r2[j]);
    const auto [sm, ss] = mean_std(fold_smape[j]);
    std::vector<double> sorted = ape[j];
    std::sort(sorted.begin(), sorted.end());
    const size_t m = sorted.size();
    const double mdape = m == 0 ? std::nan("") : (m % 2 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]));
    tj[targets[j]] = {{"pooled", {{"mape", p.at("mape")}, {"mdape", mdape}, {"r2", p.at("r2")}, {"smape", p.at("smape")}, {"mae", p.at("mae")},
                                  {"rmse", p.at("rmse")}, {"count", p.at("count")}, {"mape_skipped", p.at("mape_skipped")}}},
                      {"fold_mean_std", {{"mape", {mm, ms}}, {"r2", {rm, rs}}, {"smape", {sm, ss}}}},
                      {"baseline", {{"mape", b.at("mape")}, {"r2", b.at("r2")}, {"smape", b.at("smape")}}}};
    md << "| " << targets[j] << " | " << text::fixed(100 * p.at("mape"), 1) << "% | " << text::fixed(100 * mm, 1) << " ± " << text::fixed(100 * ms, 1)
       << "% | " << text::fixed(100 * mdape, 1) << "% | " << text::fixed(p.at("r2")) << " | " << text::fixed(rm) << " ± " << text::fixed(rs) << " | " << text::fixed(100 * p.at("smape"), 1) << "% | "
       << text::fixed(100 * b.at("mape"), 1) << "% | " << text::fixed(b.at("r2")) << " | " << static_cast<int64_t>(p.at("mape_skipped"))
       << " |\n";
  }
  summary["targets"] = tj;
  write_file_atomic(opt.output_dir / "cv_summary.json", summary.dump(2) + "\n");
  write_file_atomic(opt.output_dir / "cv_report.md", md.str());
  write_file_atomic(opt.output_dir / "cv_predictions.csv", preds.str());
  summary["markdown"] = md.str();
  return summary;
}

}  // namespace smlab::analysis
