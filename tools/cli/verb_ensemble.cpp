// `smlab ensemble`: combine trained runs, calibrate them on validation, report on test, export.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "datasets/loader.h"
#include "inference/export.h"
#include "inference/open_run.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"
#include "trainers/ensemble.h"
#include "trainers/metrics.h"
#include "trainers/trainer.h"

namespace smlab::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Logits [N, K] and labels [N] of `model` on `ds`, evaluated as `cfg` says.
std::pair<torch::Tensor, torch::Tensor> collect(models::Model& model, const std::shared_ptr<datasets::Dataset>& ds,
                                                const config::Config& cfg, const c10::Device& device) {
  datasets::Loader loader(ds, trainers::eval_loader_options(cfg, device));
  std::vector<torch::Tensor> outs, ys;
  trainers::for_each_eval_batch(model, loader, device, cfg, [&](const torch::Tensor& out, const torch::Tensor& y) {
    outs.push_back(out.cpu());
    ys.push_back(y.cpu());
    return true;
  });
  return {torch::cat(outs), torch::cat(ys)};
}

/// top1, macro recall and F1, nll and ece of class scores (logits, or log-probabilities) against labels.
json quality(const torch::Tensor& scores, const torch::Tensor& labels) {
  metrics::ClassificationMetrics m(scores.size(1));
  m.update(scores, labels);
  const auto r = m.compute();
  return {{"top1", r.at("top1")},
          {"macro_recall", r.at("macro_recall")},
          {"macro_f1", r.at("macro_f1")},
          {"nll", r.at("nll")},
          {"ece", r.at("ece")}};
}

std::string pct(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100 * v;
  return s.str();
}

}  // namespace

Verb ensemble_verb() {
  VerbSpec s;
  s.name = "ensemble";
  s.summary = "combine trained runs (mean, weighted, stacking), calibrate, report and export";
  s.description =
      "Loads the runs' checkpoints (same data), computes their logits on the validation and test splits,\n"
      "fits a temperature per member on validation (--calibrate), fits the combination on validation\n"
      "(mean: equal weights; weighted: simplex weights minimising the validation NLL; stacking: logistic\n"
      "regression on the members' log-probabilities), and reports test top-1, NLL and ECE for every member\n"
      "(before and after calibration) and for the ensemble, with its gain over the best member. Writes\n"
      "<output>/summary.json, summary.md and model.pt, a TorchScript artifact of the whole ensemble with its\n"
      "preprocessing, whose outputs are class probabilities.";
  s.positionals = {{"runs", "two or more run folders", true, true}};
  s.flags = {{"method", "M", "mean, weighted or stacking", "weighted"},
             {"calibrate", "", "fit a temperature per member on validation", ""},
             {"checkpoint", "WHICH", "best or last", "best"},
             {"output", "DIR", "where summary.json, summary.md and model.pt go", ""},
             {"device", "DEV", "auto, cpu, cuda or cuda:N", "auto"}};
  s.examples = {"smlab ensemble runs/r18_s0/latest runs/r18_s1/latest runs/r18_s2/latest --calibrate --output runs/r18_ens",
                "smlab ensemble runA runB --method stacking --output ens_stack"};
  return {s, [](const Args& args) {
            const auto& runs = args.positionals();
            if (runs.size() < 2) throw UsageError("an ensemble needs at least two runs");
            if (!args.has("output")) throw UsageError("'smlab ensemble' needs --output DIR");
            const auto method = trainers::parse_ensemble_method(args.get("method"));
            const auto which = inference::parse_checkpoint(args.get("checkpoint"));
            const fs::path out = args.get("output");
            const auto device = resolve_device(args.get("device"));
            std::vector<config::Config> cfgs;
            std::vector<models::ModelPtr> members;
            std::vector<std::string> paths;
            std::shared_ptr<datasets::Dataset> val, test;
            std::string data0;
            for (const auto& r : runs) {
              // The first run's validation split sizes every member; the others must share its data.
              auto data = [&](const config::Config& cfg) {
                YAML::Emitter e;
                e << cfg.root()["data"];
                if (!val) {
                  data0 = e.c_str();
                  val = datasets::build(cfg, datasets::Split::Val);
                  test = datasets::build(cfg, datasets::Split::Test);
                  if (val->info().task != datasets::Task::Classification)
                    throw UserError(r + ": ensembles are for classification runs");
                } else if (data0 != e.c_str()) {
                  throw UserError(r + ": its data section differs from " + runs[0] + "'s; ensemble members must share data");
                }
                return val;
              };
              auto opened = inference::open_run(r, which, device, {}, data);
              members.push_back(opened.model);
              cfgs.push_back(opened.cfg);
              paths.push_back(fs::absolute(opened.run.path()).lexically_normal().string());
            }
            const int64_t m_count = static_cast<int64_t>(members.size());
            std::vector<torch::Tensor> val_logits, test_logits;
            torch::Tensor yv, yt;
            for (int64_t i = 0; i < m_count; ++i) {
              std::tie(val_logits.emplace_back(), yv) = collect(*members[i], val, cfgs[i], device);
              std::tie(test_logits.emplace_back(), yt) = collect(*members[i], test, cfgs[i], device);
            }
            auto temps = torch::ones({m_count});
            json report;
            report["method"] = trainers::ensemble_method_name(method);
            report["members"] = json::array();
            double best_member = -1;
            std::vector<torch::Tensor> pv, pt;
            for (int64_t i = 0; i < m_count; ++i) {
              if (args.has("calibrate")) temps[i] = trainers::fit_temperature(val_logits[i], yv);
              const double t = temps[i].item<double>();
              json m{{"run", paths[i]}, {"model", cfgs[i].name_of("model")}, {"temperature", t},
                     {"test", quality(test_logits[i], yt)}, {"test_calibrated", quality(test_logits[i] / t, yt)}};
              best_member = std::max(best_member, m["test"]["top1"].get<double>());
              report["members"].push_back(m);
              pv.push_back(torch::softmax(val_logits[i] / t, 1));
              pt.push_back(torch::softmax(test_logits[i] / t, 1));
            }
            const auto PV = torch::stack(pv), PT = torch::stack(pt);
            auto weights = torch::full({m_count}, 1.0 / m_count);
            torch::Tensor sw, sb;
            if (method == trainers::EnsembleMethod::Weighted) weights = trainers::fit_mixture_weights(PV, yv);
            if (method == trainers::EnsembleMethod::Stacking)
              std::tie(sw, sb) = trainers::fit_logistic_regression(torch::log(PV + 1e-12).transpose(0, 1).flatten(1), yv,
                                                                   PV.size(2));
            auto ens = std::make_shared<trainers::EnsembleModel>(members, method, temps, weights, sw, sb);
            ens->eval();
            const auto probs = ens->combine(PT);
            report["weights"] = std::vector<float>(weights.data_ptr<float>(), weights.data_ptr<float>() + m_count);
            report["ensemble_test"] = quality(torch::log(probs + 1e-12), yt);
            report["gain_over_best_member_top1"] = report["ensemble_test"]["top1"].get<double>() - best_member;
            report["validation_size"] = yv.size(0);
            report["test_size"] = yt.size(0);
            fs::create_directories(out);
            // The whole ensemble as one artifact (the members' preprocessing comes from the first config).
            ens->to(torch::kCPU);
            auto artifact = inference::export_model(*ens, cfgs[0], val->info(), {"ensemble", "probabilities"});
            artifact.spec.output.ensemble = inference::EnsembleSpec{
                paths, report["method"].get<std::string>(),
                std::vector<double>(temps.data_ptr<float>(), temps.data_ptr<float>() + m_count),
                report["weights"].get<std::vector<double>>()};
            inference::save_artifact(artifact, out / "model.pt");
            report["artifact"] = (out / "model.pt").string();
            write_file_atomic(out / "summary.json", report.dump(2) + "\n");
            std::ostringstream md;
            md << "| member | temperature | test top-1 | test macro recall | test ECE | calibrated ECE | calibrated NLL "
                  "|\n|---|---|---|---|---|---|---|\n";
            for (const auto& m : report["members"])
              md << "| " << m["run"].get<std::string>() << " (" << m["model"].get<std::string>() << ") | "
                 << m["temperature"].get<double>() << " | " << pct(m["test"]["top1"]) << " | "
                 << pct(m["test"]["macro_recall"]) << " | " << pct(m["test"]["ece"])
                 << " | " << pct(m["test_calibrated"]["ece"]) << " | " << m["test_calibrated"]["nll"].get<double>() << " |\n";
            md << "| **ensemble (" << report["method"].get<std::string>() << ")** | | **"
               << pct(report["ensemble_test"]["top1"]) << "** | **" << pct(report["ensemble_test"]["macro_recall"]) << "** | "
               << pct(report["ensemble_test"]["ece"]) << " | | "
               << report["ensemble_test"]["nll"].get<double>() << " |\n\nGain over the best member (top-1): "
               << pct(report["gain_over_best_member_top1"]) << " points.\n";
            write_file_atomic(out / "summary.md", md.str());
            std::cout << md.str() << "wrote " << (out / "model.pt").string() << " and summary.json\n";
            return 0;
          }};
}

}  // namespace smlab::cli
