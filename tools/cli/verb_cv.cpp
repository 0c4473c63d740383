// `smlab cv`: k-fold cross-validation of a csv_table regression experiment (analysis/cross_validate.h).
#include <iostream>

#include "core/config.h"
#include "core/error.h"
#include "tools/cli/cli.h"
#include "analysis/cross_validate.h"

namespace smlab::cli {

Verb cv_verb() {
  VerbSpec s;
  s.name = "cv";
  s.summary = "k-fold cross-validation of a tabular regression config, metrics per target in the data's units";
  s.description =
      "Trains the config once per fold (data.split=kfold, data.fold=0..K-1) into <output>/fold<k>/, predicts\n"
      "each held-out fold with its best checkpoint, undoes the target transform, and reports per target\n"
      "MAPE, sMAPE, MAE, RMSE and R² pooled over all held-out rows and as mean ± std over folds, next to a\n"
      "constant baseline. Folds already completed in <output> are reused, so an interrupted run resumes.\n"
      "Writes <output>/cv_summary.json, cv_report.md and cv_predictions.csv.";
  s.positionals = {{"config", "experiment YAML with data.name=csv_table"},
                   {"key=value", "config overrides for every fold, e.g. train.epochs=50", false, true}};
  s.flags = {{"folds", "K", "number of folds", "10"},
             {"output", "DIR", "output folder", "runs/<experiment>-cv"},
             {"device", "DEV", "shortcut for experiment.device=DEV", ""}};
  s.examples = {"smlab cv experiments/engagement/fb_metrics_mlp.yaml --folds 10 --output runs/fb_metrics_cv",
                "smlab cv experiments/engagement/fb_metrics_mlp.yaml train.epochs=5 --folds 3 --output /tmp/cv"};
  return {s, [](const Args& args) {
            analysis::CrossValidateOptions o;
            o.folds = args.get_int("folds");
            for (size_t i = 1; i < args.positionals().size(); ++i) {
              if (args.positionals()[i].find('=') == std::string::npos)
                throw UsageError("'" + args.positionals()[i] + "' is not a key=value override");
              o.overrides.push_back(args.positionals()[i]);
            }
            if (args.has("device")) o.overrides.push_back("experiment.device=" + args.get("device"));
            if (args.has("output")) {
              o.output_dir = args.get("output");
            } else {
              const auto cfg = config::load(args.positional(0), o.overrides);
              o.output_dir = std::filesystem::path(cfg.get<std::string>("experiment.output_dir")) /
                             (std::filesystem::path(args.positional(0)).stem().string() + "-cv");
            }
            const auto r = analysis::cross_validate(args.positional(0), o);
            std::cout << r["markdown"].get<std::string>() << "\nwritten: " << (o.output_dir / "cv_summary.json").string()
                      << ", cv_report.md, cv_predictions.csv\n";
            return 0;
          }};
}

}  // namespace smlab::cli
