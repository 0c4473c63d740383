// `smlab export`: a run's checkpoint as a TorchScript artifact with its preprocessing and metadata.
#include <iostream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "datasets/dataset.h"
#include "inference/export.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"

namespace smlab::cli {
namespace fs = std::filesystem;

Verb export_verb() {
  VerbSpec s;
  s.name = "export";
  s.summary = "write a TorchScript artifact (model + preprocessing + metadata) from a run";
  s.description =
      "Traces the run's model (its best or last checkpoint) into one TorchScript file that loads with\n"
      "torch::jit::load in C++ and torch.jit.load in Python. Image artifacts take uint8 NHWC pixels at the\n"
      "model's input size and normalise inside the graph; token artifacts embed the SentencePiece model\n"
      "(also written beside the artifact as <output>.tokenizer.model). The metadata (smlab.json inside\n"
      "the file) holds the classes, the input spec, the preprocessing, the smlab version and the config\n"
      "and its hash. The artifact is checked against the C++ model before it is written.";
  s.positionals = {{"run", "run folder (e.g. runs/quickstart/latest)"},
                   {"key=value", "config overrides (rarely needed)", false, true}};
  s.flags = {{"output", "FILE", "artifact path", "<run>/model.pt"},
             {"checkpoint", "WHICH", "best or last", "best"},
             {"sample", "N", "tabular models: also write N test-split rows as <output>.sample.csv, an input for "
                             "'smlab score'", "0"}};
  s.examples = {"smlab export runs/quickstart/latest", "smlab export runs/quickstart/latest --output quickstart.pt"};
  return {s, [](const Args& args) {
            const RunDir run = RunDir::open(args.positional(0));
            const auto cfg = config::load(run.config_file(), overrides_from(args, 1));
            const std::string which = args.get("checkpoint");
            if (which != "best" && which != "last") throw UsageError("--checkpoint must be best or last, got '" + which + "'");
            const fs::path out = args.has("output") ? fs::path(args.get("output")) : run.path() / "model.pt";
            auto ds = datasets::build(cfg, datasets::Split::Train);
            auto model = models::build(cfg, ds->info());
            trainers::load_checkpoint(run.checkpoints() / (which + ".pt"), *model, nullptr, nullptr, false);
            auto artifact = inference::export_model(*model, cfg, ds->info());
            artifact.meta["run"] = fs::absolute(run.path()).lexically_normal().string();
            artifact.meta["checkpoint"] = which;
            inference::save_artifact(artifact, out);
            const auto tok = artifact.files.find(inference::kArtifactTokenizerFile);
            if (tok != artifact.files.end()) write_file_atomic(out.string() + ".tokenizer.model", tok->second);
            const auto& in = artifact.meta["input"];
            if (const int n = args.get_int("sample"); n > 0) {
              if (in["kind"] != "features") throw UsageError("--sample is for tabular (features) models");
              auto test = datasets::build(cfg, datasets::Split::Test);
              std::vector<int64_t> idx;
              for (int64_t i = 0; i < std::min<int64_t>(n, test->size()); ++i) idx.push_back(i);
              const auto x = test->get(idx).input.to(torch::kFloat).contiguous();
              std::string csv = "id";
              for (int64_t j = 0; j < x.size(1); ++j) csv += ",f" + std::to_string(j);
              csv += "\n";
              for (int64_t i = 0; i < x.size(0); ++i) {
                csv += "test-" + std::to_string(i);
                for (int64_t j = 0; j < x.size(1); ++j) csv += "," + std::to_string(x[i][j].item<float>());
                csv += "\n";
              }
              write_file_atomic(out.string() + ".sample.csv", csv);
              std::cout << "wrote " << out.string() << ".sample.csv (" << x.size(0) << " test rows)\n";
            }
            std::cout << "wrote " << out.string() << " (" << fs::file_size(out) / 1024 << " KiB): "
                      << artifact.meta["model"].get<std::string>() << ", input " << in["kind"].get<std::string>() << " "
                      << in["dtype"].get<std::string>() << " " << in["layout"].get<std::string>() << " "
                      << in["shape"].dump() << ", outputs " << artifact.meta["outputs"].get<std::string>()
                      << "; checked against the C++ model at batch 3: relative error "
                      << artifact.meta["export_check"]["relative_error"].get<double>() << "\n";
            return 0;
          }};
}

}  // namespace smlab::cli
