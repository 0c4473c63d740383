// `smlab sweep`: ablation grids with results tables.
#include <iostream>

#include "analysis/sweep_results.h"
#include "core/error.h"
#include "tools/cli/cli.h"
#include "trainers/sweep.h"

namespace smlab::cli {

Verb sweep_verb() {
  VerbSpec s;
  s.name = "sweep";
  s.summary = "run an ablation grid and write results.csv / results.md";
  s.description =
      "Runs every point of the sweep file's grid (or list, or `random:` draw) for every seed, one line per\n"
      "point on the console; with a `halving:` section, successive halving trains only the promising points\n"
      "to the end and prints the epochs saved. Rerunning the same command skips finished runs and resumes interrupted ones from their\n"
      "checkpoints. Tables: <output_dir>/<name>/results.csv (one row per run, then one per point) and\n"
      "results.md (mean ± std over seeds, best point in bold; then, on the stats metric, 95% confidence\n"
      "intervals and paired tests of every point against the baseline, Holm-corrected, with a verdict in\n"
      "words). The sweep file's `stats:` section picks the metric, baseline and alpha. With --jobs N > 1,\n"
      "N runs go at a time as separate processes, spread over the GPUs when there are several.\n"
      "--compare A B runs nothing: it compares two points (index or override label) over the seeds both\n"
      "finished (paired t-test, sign-flip test, effect size).";
  s.positionals = {{"sweep", "sweep YAML (experiments/sweeps/<name>.yaml)"},
                   {"key=value", "overrides applied to every run, after the sweep's own", false, true}};
  s.flags = {{"jobs", "N", "runs at a time (separate processes when > 1)", "1"},
             {"device", "DEV", "experiment.device for every run", ""},
             {"dry-run", "", "list the points and exit", ""},
             {"compare", "A", "compare point A with point B (the next positional) and exit", ""}};
  s.examples = {"smlab sweep experiments/sweeps/quickstart_grid.yaml",
                "smlab sweep experiments/sweeps/quickstart_grid.yaml train.epochs=1 --jobs 2",
                "smlab sweep experiments/sweeps/quickstart_grid.yaml --compare 1 0",
                "smlab sweep experiments/sweeps/quickstart_grid.yaml --compare 'model.hidden=[32] optim.lr=0.1' 0"};
  return {s, [](const Args& args) {
            const auto spec = trainers::load_sweep(args.positional(0));
            if (args.has("compare")) {
              if (args.positionals().size() != 2)
                throw UsageError("--compare A B: give the second point after the first (e.g. --compare 1 0)");
              const size_t a = trainers::find_point(spec, args.get("compare"), "--compare");
              const size_t b = trainers::find_point(spec, args.positional(1), "--compare");
              std::cout << analysis::compare_sweep_points(spec, a, b);
              return 0;
            }
            trainers::SweepOptions o;
            o.reporter = analysis::write_sweep_results;
            o.jobs = args.get_int("jobs");
            if (o.jobs < 1) throw UsageError("--jobs must be >= 1");
            o.device = args.get("device");
            o.extra_overrides.assign(args.positionals().begin() + 1, args.positionals().end());
            o.smlab_binary = std::filesystem::read_symlink("/proc/self/exe").string();
            if (args.has("dry-run")) {
              for (size_t i = 0; i < spec.points.size(); ++i)
                std::cout << "point " << i << ": " << spec.points[i].label() << "\n";
              std::cout << spec.points.size() << " points x " << spec.seeds.size() << " seeds\n";
              const auto& st = spec.stats;
              std::cout << "stats: " << st.metric << " against point " << st.baseline << " ("
                        << spec.points[st.baseline].label() << "), alpha " << st.alpha << "\n";
              if (spec.halving.on) {
                std::cout << "halving: rungs " << nlohmann::json(spec.halving.rungs).dump() << " epochs, eta "
                          << spec.halving.eta << ", by " << spec.halving.metric << " (the grid: "
                          << spec.points.size() * spec.seeds.size() * spec.halving.rungs.back() << " epochs)\n";
              }
              return 0;
            }
            trainers::run_sweep(spec, o);
            return 0;
          }};
}

}  // namespace smlab::cli
