// `smlab active-learn`: the pool-based active-learning simulation (analysis/active_learning.h).
#include <iostream>

#include "analysis/active_learning.h"
#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "tools/cli/cli.h"

namespace smlab::cli {

namespace {

std::vector<int64_t> int_list(const Args& args, const std::string& flag) {
  std::vector<int64_t> out;
  for (const auto& part : text::split(args.get(flag), ',')) {
    long long v = 0;
    if (!text::parse_int(part, &v)) throw UsageError("--" + flag + ": '" + part + "' is not an integer (comma-separated list)");
    out.push_back(v);
  }
  return out;
}

int run_active_learn(const Args& args) {
  analysis::ActiveLearningOptions o;
  o.overrides = overrides_from(args, 1);  // and --device
  o.sizes = int_list(args, "sizes");
  o.seeds = int_list(args, "seeds");
  o.strategies = text::split(args.get("strategies"), ',');
  o.metric = args.get("metric");
  o.min_steps = args.get_int("min-steps", 0, 1 << 30);
  o.output_dir = args.get("output");
  const auto r = analysis::simulate_active_learning(args.positional(0), o);
  std::cout << r["markdown"].get<std::string>() << "\nwritten: " << (o.output_dir / "al_summary.json").string()
            << ", al_report.md, al_curves.csv, al_curves.svg\n";
  return 0;
}

}  // namespace

Verb active_learn_verb() {
  VerbSpec s;
  s.name = "active-learn";
  s.summary = "simulate pool-based active learning on a labelled text pool: uncertainty against random sampling";
  s.description =
      "Hides the labels of a text_tsv config's training split and buys them round by round: a seeded\n"
      "random start of the first --sizes labels, then each round trains on the labelled rows\n"
      "(data.train_rows), scores the rest with its best checkpoint and buys the next rows that the\n"
      "strategy ranks first (margin, entropy, least_confident) or a seeded random draw (random). Every\n"
      "round's test metric goes into a learning curve per strategy (mean and 95% t interval over --seeds)\n"
      "and a table of the labels saved at equal metric. The config's validation split selects each\n"
      "round's best epoch. Seeded and resumable: rerun the same command after an interruption.\n"
      "Writes <output>/al_summary.json, al_report.md, al_curves.csv and al_curves.svg.";
  s.positionals = {{"config", "text_tsv classification experiment YAML"},
                   {"key=value", "config overrides for every round, e.g. train.epochs=3", false, true}};
  s.flags = {{"output", "DIR", "output folder", "runs/active_learning"},
             {"sizes", "N,N,...", "labelled examples after each round (increasing)", "1000,2000,4000,8000,16000"},
             {"strategies", "S,S", "margin, entropy, least_confident and/or random", "margin,random"},
             {"seeds", "S,S", "seeds (each: its own random start and training seed)", "0,1,2"},
             {"metric", "PATH", "summary.json metric of the curves", "test.macro_recall"},
             {"min-steps", "N", "raise train.epochs so that every round trains at least N steps (0: off)", "0"},
             {"device", "DEV", "shortcut for experiment.device=DEV", ""}};
  s.examples = {"smlab active-learn experiments/sentiment/text_cnn.yaml --output runs/al_sentiment --min-steps 600",
                "smlab active-learn experiments/sentiment/text_cnn.yaml --sizes 500,1000 --seeds 0 --strategies entropy,random"};
  return {s, run_active_learn};
}

}  // namespace smlab::cli
