#include "analysis/error_analysis.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "trainers/ensemble.h"
#include "trainers/metrics.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace smlab::analysis {
namespace {

std::string class_name(const std::vector<std::string>& names, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(names.size()) ? names[k] : std::to_string(k);
}

/// Probabilities as the metrics read them: the outputs themselves when they already are a
/// distribution per row (metrics.h), else their softmax.
torch::Tensor probabilities(const torch::Tensor& out) {
  const auto o = out.to(torch::kDouble);
  const bool probs = o.numel() > 0 && o.min().item<double>() >= 0 && o.max().item<double>() <= 1 &&
                     (o.sum(1) - 1).abs().max().item<double>() <= 1e-3;
  return probs ? o : torch::softmax(o, 1);
}

/// The bins of the reliability diagram, from the metrics' sufficient statistics (metrics.h's layout:
/// count, top5, nll, confusion K*K, bin_count B, bin_correct B, bin_confidence_sum B).
json reliability(const metrics::ClassificationMetrics& m) {
  const auto s = m.state();
  const int64_t K = m.num_classes(), B = m.ece_bins(), off = 3 + K * K;
  const auto* v = s.data_ptr<double>();
  json bins = json::array();
  for (int64_t b = 0; b < B; ++b) {
    const double n = v[off + b], correct = v[off + B + b], conf = v[off + 2 * B + b];
    bins.push_back({{"lower", static_cast<double>(b) / B},
                    {"upper", static_cast<double>(b + 1) / B},
                    {"count", static_cast<int64_t>(n)},
                    {"confidence", n > 0 ? conf / n : 0.0},
                    {"accuracy", n > 0 ? correct / n : 0.0}});
  }
  return bins;
}

json per_class(const std::map<std::string, double>& flat, const torch::Tensor& confusion,
               const std::vector<std::string>& names) {
  json rows = json::array();
  const auto support = confusion.sum(1);
  for (int64_t k = 0; k < confusion.size(0); ++k) {
    const std::string i = std::to_string(k);
    rows.push_back({{"class", k},
                    {"name", class_name(names, k)},
                    {"precision", flat.at("precision/" + i)},
                    {"recall", flat.at("recall/" + i)},
                    {"f1", flat.at("f1/" + i)},
                    {"support", support[k].item<int64_t>()}});
  }
  return rows;
}

json confidently_wrong(const Predictions& p, const std::vector<std::string>& names, int top) {
  const auto probs = probabilities(p.outputs);
  const auto [conf, pred] = probs.max(1);
  const auto target = p.targets.to(torch::kLong);
  const auto wrong = torch::nonzero(pred != target).flatten();
  const auto order = torch::argsort(conf.index_select(0, wrong), /*stable=*/true, /*dim=*/0, /*descending=*/true);
  json out = json::array();
  for (int64_t r = 0; r < std::min<int64_t>(top, order.size(0)); ++r) {
    const int64_t i = wrong[order[r].item<int64_t>()].item<int64_t>();
    const int64_t t = target[i].item<int64_t>(), k = pred[i].item<int64_t>();
    out.push_back({{"index", i},
                   {"target", t},
                   {"target_name", class_name(names, t)},
                   {"predicted", k},
                   {"predicted_name", class_name(names, k)},
                   {"confidence", conf[i].item<double>()},
                   {"target_probability", probs[i][t].item<double>()}});
  }
  return out;
}

}  // namespace

Predictions collect_predictions(models::Model& model, datasets::Loader& loader, const c10::Device& device,
                                const config::Config& cfg) {
  std::vector<torch::Tensor> outs, targets;
  trainers::for_each_eval_batch(model, loader, device, cfg, [&](const torch::Tensor& out, const torch::Tensor& t) {
    outs.push_back(out.detach().cpu());
    targets.push_back(t.cpu());
    return true;
  });
  if (outs.empty()) throw UserError("the split has no samples to evaluate");
  return {torch::cat(outs), torch::cat(targets)};
}

json classification_report(const Predictions& p, const std::vector<std::string>& class_names, const ReportOptions& o) {
  metrics::ClassificationMetrics m(p.outputs.size(1), o.bins);
  m.update(p.outputs, p.targets);
  const auto flat = m.compute();
  json j;
  for (const auto& [k, v] : flat)
    if (k.find('/') == std::string::npos) j[k] = v;
  const auto confusion = m.confusion();
  j["per_class"] = per_class(flat, confusion, class_names);
  json rows = json::array();
  for (int64_t r = 0; r < confusion.size(0); ++r) {
    std::vector<int64_t> row(confusion.size(1));
    for (int64_t c = 0; c < confusion.size(1); ++c) row[c] = confusion[r][c].item<int64_t>();
    rows.push_back(row);
  }
  j["confusion"] = rows;
  j["classes"] = class_names;
  j["reliability"] = reliability(m);
  j["most_confidently_wrong"] = confidently_wrong(p, class_names, o.top_wrong);
  return j;
}

json regression_report(const Predictions& p, const ReportOptions& o) {
  const auto out = p.outputs.to(torch::kDouble).reshape({p.outputs.size(0), -1});
  const auto tgt = p.targets.to(torch::kDouble).reshape({out.size(0), -1});
  const auto err = out - tgt;
  json per_target = json::array();
  for (int64_t c = 0; c < err.size(1); ++c) {
    const auto e = err.select(1, c);
    per_target.push_back({{"target", c},
                          {"count", e.size(0)},
                          {"mae", e.abs().mean().item<double>()},
                          {"rmse", std::sqrt(e.square().mean().item<double>())},
                          {"bias", e.mean().item<double>()}});
  }
  json j = {{"mae", err.abs().mean().item<double>()},
            {"rmse", std::sqrt(err.square().mean().item<double>())},
            {"count", err.size(0)},
            {"per_target", per_target}};
  const auto flat_abs = err.abs().flatten();
  const auto order = torch::argsort(flat_abs, /*stable=*/true, /*dim=*/0, /*descending=*/true);
  json worst = json::array();
  for (int64_t r = 0; r < std::min<int64_t>(o.top_wrong, order.size(0)); ++r) {
    const int64_t f = order[r].item<int64_t>(), i = f / err.size(1), c = f % err.size(1);
    worst.push_back({{"index", i},
                     {"target_column", c},
                     {"output", out[i][c].item<double>()},
                     {"target", tgt[i][c].item<double>()},
                     {"abs_error", flat_abs[f].item<double>()}});
  }
  j["largest_errors"] = worst;
  return j;
}

void write_predictions_csv(const fs::path& path, const Predictions& p, const std::vector<std::string>& class_names) {
  std::ostringstream csv;
  csv.precision(9);
  const bool cls = p.targets.dim() == 1 && !p.targets.is_floating_point();
  if (cls) {
    const auto probs = probabilities(p.outputs).contiguous();
    const auto [conf, pred] = probs.max(1);
    csv << "index,target,predicted,confidence";
    for (int64_t k = 0; k < probs.size(1); ++k) csv << ",p_" << k;
    csv << "\n";
    const auto pa = probs.accessor<double, 2>();
    const auto ca = conf.accessor<double, 1>();
    const auto ka = pred.accessor<int64_t, 1>();
    const auto t = p.targets.to(torch::kLong).contiguous();
    const auto ta = t.accessor<int64_t, 1>();
    for (int64_t i = 0; i < probs.size(0); ++i) {
      csv << i << "," << ta[i] << "," << ka[i] << "," << ca[i];
      for (int64_t k = 0; k < probs.size(1); ++k) csv << "," << pa[i][k];
      csv << "\n";
    }
  } else {
    const auto out = p.outputs.to(torch::kDouble).reshape({p.outputs.size(0), -1}).contiguous();
    const auto tgt = p.targets.to(torch::kDouble).reshape({out.size(0), -1}).contiguous();
    csv << "index";
    for (int64_t c = 0; c < tgt.size(1); ++c) csv << ",target_" << c;
    for (int64_t c = 0; c < out.size(1); ++c) csv << ",output_" << c;
    csv << "\n";
    const auto oa = out.accessor<double, 2>();
    const auto ga = tgt.accessor<double, 2>();
    for (int64_t i = 0; i < out.size(0); ++i) {
      csv << i;
      for (int64_t c = 0; c < tgt.size(1); ++c) csv << "," << ga[i][c];
      for (int64_t c = 0; c < out.size(1); ++c) csv << "," << oa[i][c];
      csv << "\n";
    }
  }
  (void)class_names;  // the CSV keeps class ids; names are in the JSON report's "classes"
  write_file_atomic(path, csv.str());
}

namespace {

json quality(const Predictions& p, double temperature) {
  metrics::ClassificationMetrics m(p.outputs.size(1));
  m.update(p.outputs.to(torch::kDouble) / temperature, p.targets);
  const auto flat = m.compute();
  return {{"nll", flat.at("nll")}, {"ece", flat.at("ece")}, {"top1", flat.at("top1")}, {"reliability", reliability(m)}};
}

}  // namespace

Calibration calibrate(const Predictions& val, const std::vector<std::pair<std::string, const Predictions*>>& report_on) {
  if (val.targets.dim() != 1 || val.targets.is_floating_point())
    throw UserError("calibration needs a classifier; this run is a regression or forecasting task");
  const auto o = val.outputs.to(torch::kDouble);
  if (o.min().item<double>() >= 0 && o.max().item<double>() <= 1 && (o.sum(1) - 1).abs().max().item<double>() <= 1e-3)
    throw UserError("the model outputs probabilities, not logits; temperature scaling needs logits");
  Calibration c;
  c.temperature = trainers::fit_temperature(val.outputs, val.targets);
  c.splits["val"] = {{"before", quality(val, 1.0)}, {"after", quality(val, c.temperature)}};
  for (const auto& [name, p] : report_on) c.splits[name] = {{"before", quality(*p, 1.0)}, {"after", quality(*p, c.temperature)}};
  return c;
}

}  // namespace smlab::analysis
