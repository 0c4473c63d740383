// `smlab eval` (metrics and error analysis of a run on a split) and `smlab calibrate` (temperature
// scaling of one run on its validation split, carried into `smlab export`).
#include <cstdio>
#include <iostream>

#include "analysis/error_analysis.h"
#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "datasets/loader.h"
#include "inference/open_run.h"
#include "tools/cli/cli.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::cli {
namespace {

datasets::Split parse_split(const std::string& name) {
  if (name == "train") return datasets::Split::Train;
  if (name == "val") return datasets::Split::Val;
  if (name == "test") return datasets::Split::Test;
  throw UsageError("--split must be train, val or test, got '" + name + "'");
}

/// The run's checkpoint with the data of `split`, on --device or the run's own device.
inference::OpenedRun open_for(const Args& args, datasets::Split split) {
  const auto which = inference::parse_checkpoint(args.get("checkpoint"));
  std::optional<c10::Device> dev;
  if (!args.get("device").empty()) dev = resolve_device(args.get("device"));
  return inference::open_run(args.positional(0), which, dev, overrides_from(args, 1),
                             [split](const config::Config& c) { return datasets::build(c, split); });
}

analysis::Predictions predictions_on(inference::OpenedRun& r, const std::shared_ptr<datasets::Dataset>& data) {
  datasets::Loader loader(data, trainers::eval_loader_options(r.cfg, r.device));
  return analysis::collect_predictions(*r.model, loader, r.device, r.cfg);
}

void print_summary(const json& m) {
  for (const char* k : {"top1", "macro_f1", "ece", "nll", "mae", "rmse", "loss"})
    if (m.contains(k) && m[k].is_number()) std::printf("%s=%.4f ", k, m[k].get<double>());
  std::printf("\n");
}

}  // namespace

Verb eval_verb() {
  VerbSpec s;
  s.name = "eval";
  s.summary = "evaluate a run's checkpoint on a split, with per-class and calibration analysis";
  s.description =
      "Loads the run's resolved config and checkpoint, evaluates, and writes\n"
      "<run>/eval_<split>_<checkpoint>.json: the metrics of training's evaluation (top1, macro_f1, ece,\n"
      "nll, loss, ...) and, for classifiers, per-class precision/recall/F1/support, the confusion matrix\n"
      "(rows = true class), the reliability bins (confidence, accuracy, count) and the most confidently\n"
      "wrong examples (their index in the split); for regression and forecasting, errors per target\n"
      "and the largest errors. --predictions also writes every prediction as CSV next to it.";
  s.positionals = {{"run", "run folder (e.g. runs/quickstart/latest)"},
                   {"key=value", "config overrides, e.g. data.eval_batch_size=512", false, true}};
  s.flags = {{"split", "NAME", "train, val or test", "test"},
             {"checkpoint", "WHICH", "best or last", "best"},
             {"device", "DEV", "auto, cpu, cuda or cuda:N", ""},
             {"top-wrong", "N", "most confidently wrong examples (or largest errors) listed", "20"},
             {"predictions", "", "also write eval_<split>_<checkpoint>.predictions.csv", ""}};
  s.examples = {"smlab eval runs/quickstart/latest", "smlab eval runs/quickstart/latest --split val --checkpoint last",
                "smlab eval runs/sentiment/latest --predictions --top-wrong 50"};
  return {s, [](const Args& args) {
            const std::string split_name = args.get("split");
            auto r = open_for(args, parse_split(split_name));
            const auto p = predictions_on(r, r.data);
            auto loss = trainers::loss_registry().get(r.cfg.name_of("loss")).make(r.cfg);
            analysis::ReportOptions o;
            o.top_wrong = args.get_int("top-wrong", 0, 100000);
            const auto& info = r.data->info();
            json m = info.task == datasets::Task::Classification ? analysis::classification_report(p, info.class_names, o)
                                                                  : analysis::regression_report(p, o);
            {
              torch::NoGradGuard ng;
              m["loss"] = loss(p.outputs.to(r.device), p.targets.to(r.device)).item<double>();
            }
            m["split"] = split_name;
            m["checkpoint"] = inference::checkpoint_name(inference::parse_checkpoint(args.get("checkpoint")));
            const std::string stem = "eval_" + split_name + "_" + m["checkpoint"].get<std::string>();
            write_file_atomic(r.run.path() / (stem + ".json"), m.dump(2) + "\n");
            if (args.has("predictions"))
              analysis::write_predictions_csv(r.run.path() / (stem + ".predictions.csv"), p, info.class_names);
            std::cout << split_name << " (" << m["checkpoint"].get<std::string>() << "): ";
            print_summary(m);
            std::cout << "report: " << (r.run.path() / (stem + ".json")).string() << "\n";
            return 0;
          }};
}

Verb calibrate_verb() {
  VerbSpec s;
  s.name = "calibrate";
  s.summary = "fit a temperature on a run's validation split; export then carries it";
  s.description =
      "Temperature scaling (Guo et al. 2017) of one classifier: the temperature T minimising the\n"
      "validation NLL of softmax(logits / T). Prints and writes <run>/calibration.json with NLL, ECE\n"
      "and top-1 on val and test before and after (top-1 does not change). `smlab export` reads it and\n"
      "records the temperature in the artifact, and `smlab score` applies it to the probabilities.";
  s.positionals = {{"run", "run folder"}, {"key=value", "config overrides", false, true}};
  s.flags = {{"checkpoint", "WHICH", "best or last", "best"}, {"device", "DEV", "auto, cpu, cuda or cuda:N", ""}};
  s.examples = {"smlab calibrate runs/quickstart/latest", "smlab calibrate runs/sentiment/latest && smlab export runs/sentiment/latest"};
  return {s, [](const Args& args) {
            auto r = open_for(args, datasets::Split::Val);
            if (r.data->info().task != datasets::Task::Classification)
              throw UserError(args.positional(0) + " is a regression or forecasting run; only classifiers are calibrated");
            const auto val = predictions_on(r, r.data);
            const auto test = predictions_on(r, datasets::build(r.cfg, datasets::Split::Test));
            const auto c = analysis::calibrate(val, {{"test", &test}});
            const json out = {{"temperature", c.temperature},
                              {"checkpoint", inference::checkpoint_name(inference::parse_checkpoint(args.get("checkpoint")))},
                              {"splits", c.splits}};
            write_file_atomic(r.run.path() / "calibration.json", out.dump(2) + "\n");
            std::printf("temperature %.4f\n", c.temperature);
            for (const auto& [split, ba] : c.splits.items())
              std::printf("  %-4s NLL %.4f -> %.4f   ECE %.4f -> %.4f\n", split.c_str(), ba["before"]["nll"].get<double>(),
                          ba["after"]["nll"].get<double>(), ba["before"]["ece"].get<double>(), ba["after"]["ece"].get<double>());
            std::cout << "written: " << (r.run.path() / "calibration.json").string()
                      << " (smlab export records it in the artifact)\n";
            return 0;
          }};
}

}  // namespace smlab::cli
