// `smlab train` and `smlab sweep`.
#include "tools/cli/cli.h"

namespace smlab::cli {

Verb train_verb() {
  VerbSpec s;
  s.name = "train";
  s.summary = "train a model from a YAML experiment config";
  s.positionals = {{"config", "experiment YAML (see docs/configs.md)"},
                   {"key=value", "config overrides, e.g. train.epochs=3", false, true}};
  s.examples = {"smlab train experiments/quickstart.yaml"};
  s.owner_issue = "issue 4, trainer";
  return {s, [](const Args&) { return 2; }};
}

Verb sweep_verb() {
  VerbSpec s;
  s.name = "sweep";
  s.summary = "run an ablation grid and write results.csv / results.md";
  s.positionals = {{"sweep", "sweep YAML (experiments/sweeps/<name>.yaml)"}};
  s.examples = {"smlab sweep experiments/sweeps/quickstart_grid.yaml"};
  s.owner_issue = "issue 3, experiment system";
  return {s, [](const Args&) { return 2; }};
}

}  // namespace smlab::cli
