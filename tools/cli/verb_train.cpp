// `smlab train` and `smlab config` (`smlab eval` and `smlab calibrate`: verb_eval.cpp).
#include <iostream>

#include "core/atomic_file.h"
#include "core/device.h"
#include "core/run_dir.h"
#include "datasets/loader.h"
#include "inference/open_run.h"
#include "core/error.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"
#include "trainers/distributed.h"
#include "trainers/hooks.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;

namespace smlab::cli {

namespace {

/// The closing lines of `smlab train`: status, last validation and best test metrics, where things are.
void print_outcome(const trainers::TrainResult& result) {
  const auto& sm = result.summary;
  std::cout << "\nsmlab train: " << sm["status"].get<std::string>() << " after " << sm["epochs"] << " epochs, "
            << sm["steps"] << " steps in " << static_cast<int>(sm["train_seconds"].get<double>()) << "s\n";
  if (sm.contains("val")) {
    std::cout << "  ";
    print_metrics_line("val  (last):", sm["val"]);
  }
  if (sm.contains("test")) {
    std::cout << "  ";
    print_metrics_line("test (best):", sm["test"]);
  }
  std::cout << "  run folder: " << result.run_dir.string() << "\n"
            << "  summary:    " << (result.run_dir / "summary.json").string() << "\n";
  if (fs::is_directory(result.run_dir / "tb"))  // train.tensorboard: false writes none
    std::cout << "  TensorBoard: tensorboard --logdir " << (result.run_dir / "tb").string() << "\n";
}

}  // namespace

Verb train_verb() {
  VerbSpec s;
  s.name = "train";
  s.summary = "train a model from a YAML experiment config";
  s.description =
      "Trains, evaluates on the validation split every train.eval_every epochs, keeps the best\n"
      "checkpoint by train.best_metric, and reports test metrics of the best weights. Everything goes\n"
      "into a run folder runs/<experiment>/<stamp>-<hash>/ (config.yaml, meta.json, metrics.jsonl,\n"
      "tb/, checkpoints/last.pt and best.pt, summary.json). Ctrl-C or SIGTERM checkpoints and stops;\n"
      "--resume continues exactly where the last checkpoint stopped. Exit status 3 means the loss\n"
      "became NaN/Inf (the last good checkpoint is kept).";
  s.positionals = {{"config", "experiment YAML (see docs/configs.md); omit with --resume", false},
                   {"key=value", "config overrides, e.g. train.epochs=3 optim.lr=0.05", false, true}};
  s.flags = {{"resume", "RUN", "continue the run in folder RUN from its last checkpoint", ""},
             {"run-dir", "DIR", "write the new run into DIR instead of runs/<experiment>/<stamp>", ""},
             {"device", "DEV", "shortcut for experiment.device=DEV (auto, cpu, cuda, cuda:N)", ""},
             {"nproc", "N", "spawn N local ranks (data parallel over c10d: NCCL on GPUs, Gloo on CPU)", "1"},
             {"stop-at-epoch", "N", "stop after epoch N's evaluation and checkpoint (exit 0); --resume continues "
              "exactly as if it had not stopped", ""},
             {"print-config", "", "print the resolved config and exit without training", ""}};
  s.examples = {"smlab train experiments/quickstart.yaml",
                "smlab train experiments/quickstart.yaml train.epochs=3 optim.lr=0.05 --device cpu",
                "smlab train --resume runs/quickstart/latest",
                "smlab train experiments/quickstart.yaml --run-dir runs/q --stop-at-epoch 2   # then --resume runs/q",
                "smlab train experiments/quickstart.yaml --nproc 2 --device cpu     # 2 Gloo ranks",
                "torchrun --nproc-per-node 8 --no-python build/smlab train cfg.yaml  # 8 GPUs, NCCL"};
  return {s, [](const Args& args) {
            const int nproc = args.get_int("nproc");
            if (nproc < 1) throw UsageError("--nproc must be >= 1");
            if (nproc > 1 && !std::getenv("WORLD_SIZE")) {
              // Re-launch this command N times as ranks 0..N-1, without --nproc.
              std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string()};
              const auto& inv = invocation();
              for (size_t i = 0; i < inv.size(); ++i) {
                if (inv[i] == "--nproc") { ++i; continue; }
                if (inv[i].rfind("--nproc=", 0) == 0) continue;
                argv.push_back(inv[i]);
              }
              return trainers::spawn_local_workers(nproc, argv);
            }
            config::Config cfg;
            trainers::TrainOptions opt;
            if (args.has("resume")) {
              const RunDir run = RunDir::open(args.get("resume"));
              const size_t first = args.positionals().empty() || args.positional(0).find('=') != std::string::npos ? 0 : 1;
              if (first == 1) throw UsageError("give either a config or --resume RUN, not both");
              cfg = config::load(run.config_file(), overrides_from(args, 0));
              opt.run_dir = run.path();
              opt.resume = true;
            } else {
              if (args.positionals().empty()) throw UsageError("'smlab train' needs a config file (or --resume RUN)");
              cfg = config::load(args.positional(0), overrides_from(args, 1));
              if (args.has("run-dir")) opt.run_dir = args.get("run-dir");
            }
            if (args.has("print-config")) {
              std::cout << cfg.dump();
              return 0;
            }
            if (args.has("stop-at-epoch")) {
              const int stop = args.get_int("stop-at-epoch");
              if (stop < 1) throw UsageError("--stop-at-epoch must be >= 1");
              opt.hooks.push_back(trainers::stop_at_epoch_hook(stop));
            }
            const auto result = trainers::train(cfg, opt);
            const auto& sm = result.summary;
            if (sm["status"] == "worker")
              return result.signal ? 128 + result.signal : result.outcome == trainers::Outcome::NonFinite ? 3 : 0;
            print_outcome(result);
            if (result.outcome == trainers::Outcome::NonFinite) return 3;
            if (sm["status"] == "interrupted") {
              std::cout << "  resume with: smlab train --resume " << result.run_dir.string() << "\n";
            }
            // Stopped by SIGINT/SIGTERM with its checkpoint saved: 128 + signal, as for a killed command.
            return result.signal ? 128 + result.signal : 0;
          }};
}

Verb config_verb() {
  VerbSpec s;
  s.name = "config";
  s.summary = "show a resolved config, or print the config reference (docs/configs.md)";
  s.description = "'smlab config show FILE [key=value...]' prints the config after _base_, overrides, ${ENV}\n"
                  "interpolation and defaults, or the first error. 'smlab config docs' prints the reference of\n"
                  "every key, generated from the schema and the registries.";
  s.positionals = {{"action", "show or docs"}, {"args", "for show: the config file and overrides", false, true}};
  s.examples = {"smlab config show experiments/quickstart.yaml train.epochs=1", "smlab config docs > docs/configs.md"};
  return {s, [](const Args& args) {
            const std::string action = args.positional(0);
            if (action == "docs") {
              std::cout << config::render_docs();
              return 0;
            }
            if (action != "show") throw UsageError("unknown action '" + action + "' (show or docs)");
            if (args.positionals().size() < 2) throw UsageError("'smlab config show' needs a config file");
            std::vector<std::string> ov(args.positionals().begin() + 2, args.positionals().end());
            std::cout << config::load(args.positional(1), ov).dump();
            return 0;
          }};
}

}  // namespace smlab::cli
