// `smlab export`: a run's checkpoint as a TorchScript artifact with its preprocessing and metadata.
#include <iostream>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/dataset.h"
#include "inference/export.h"
#include "inference/export_formats.h"
#include "inference/journal.h"
#include "inference/open_run.h"
#include "tools/cli/cli.h"

namespace smlab::cli {
namespace fs = std::filesystem;

namespace {

/// The first `n` test-split rows of a tabular run as a CSV that `smlab score` reads.
void write_sample(const config::Config& cfg, int64_t n, const fs::path& path) {
  auto test = datasets::build(cfg, datasets::Split::Test);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < std::min<int64_t>(n, test->size()); ++i) idx.push_back(i);
  const auto x = test->get(idx).input.to(torch::kFloat).contiguous();
  std::string csv = "id";
  for (int64_t j = 0; j < x.size(1); ++j) csv += ",f" + std::to_string(j);
  csv += "\n";
  for (int64_t i = 0; i < x.size(0); ++i) {
    csv += "test-" + std::to_string(i);
    for (int64_t j = 0; j < x.size(1); ++j) (csv += ',') += std::to_string(x[i][j].item<float>());
    csv += "\n";
  }
  write_file_atomic(path, csv);
  std::cout << "wrote " << path.string() << " (" << x.size(0) << " test rows)\n";
}

/// --output must not replace a file the run itself owns (its checkpoints, config, logs) or a folder
/// (issue 22, item 12): a typo such as `--output RUN/checkpoints/best.pt` destroyed the run's weights.
void refuse_run_files(const fs::path& run, const fs::path& out) {
  if (fs::is_directory(out))
    throw UsageError("--output " + out.string() + " is a folder; give the artifact's file name, e.g. " +
                     (out / "model.pt").string());
  const fs::path o = fs::weakly_canonical(out), r = fs::weakly_canonical(run);
  const fs::path rel = o.lexically_relative(r);
  if (rel.empty() || rel.native().rfind("..", 0) == 0) return;  // outside the run folder
  const std::string first = rel.begin()->string();
  for (const char* owned : {"checkpoints", "tb", "config.yaml", "meta.json", "metrics.jsonl", "summary.json",
                            "preprocessing.json", "finetune.json", "calibration.json", ".lock"})
    if (first == owned)
      throw UsageError("--output " + out.string() + " would overwrite the run's own " + first +
                       "; write the artifact elsewhere, e.g. " + (r / "model.pt").string());
}

/// The temperature of `smlab calibrate` (RUN/calibration.json), recorded in the artifact for the
/// checkpoint it was fitted on.
void carry_calibration(const fs::path& run, inference::Artifact& a, bool skip) {
  const fs::path f = run / "calibration.json";
  if (skip || !fs::exists(f)) return;
  const auto c = nlohmann::json::parse(read_file(f));
  if (c.value("checkpoint", "") != a.spec.checkpoint) {
    std::cerr << "[export] " << f.string() << " was fitted on the " << c.value("checkpoint", "?")
              << " checkpoint, not " << a.spec.checkpoint << ": not applied (run smlab calibrate --checkpoint "
              << a.spec.checkpoint << ")\n";
    return;
  }
  if (!a.spec.output.classification() || a.spec.output.outputs != inference::OutputKind::Logits)
    throw UserError(f.string() + ": a temperature applies to a classifier's logits, and this artifact outputs " +
                    inference::output_kind_name(a.spec.output.outputs) + "; pass --no-calibration");
  a.spec.output.temperature = c.at("temperature").get<double>();
  std::cout << "calibration: temperature " << a.spec.output.temperature << " from " << f.string() << "\n";
}

/// The formats of --format: torchscript (always written: it is the source of the others), pt2, onnx.
std::vector<inference::DerivedFormat> derived_formats(const std::string& f) {
  if (f == "torchscript") return {};
  if (f == "pt2") return {inference::DerivedFormat::Pt2};
  if (f == "onnx") return {inference::DerivedFormat::Onnx};
  if (f == "all") return {inference::DerivedFormat::Pt2, inference::DerivedFormat::Onnx};
  throw UsageError("--format must be torchscript, pt2, onnx or all, got '" + f + "'");
}

/// --output names the TorchScript artifact (X.pt); a .pt2 or .onnx name is taken as its stem.
fs::path torchscript_path(fs::path out) {
  const auto ext = out.extension().string();
  if (ext == ".pt2" || ext == ".onnx") out.replace_extension(".pt");
  return out;
}

/// Writes the .pt2 / .onnx of the TorchScript artifact at `ts` (docs/deployment.md).
void export_derived_formats(const fs::path& run, const fs::path& ts, const std::vector<inference::DerivedFormat>& formats,
                            const Args& args) {
  const auto tools = inference::export_tools(args.has("python") ? args.get("python") : "");
  const std::string device = args.get("device");
  if (device != "cpu" && device != "cuda") throw UsageError("--device must be cpu or cuda, got '" + device + "'");
  for (const auto f : formats) {
    fs::path out = ts;
    out.replace_extension(f == inference::DerivedFormat::Pt2 ? ".pt2" : ".onnx");
    refuse_run_files(run, out);
    const FileLock lock = inference::lock_output(out);
    std::cout << "exporting " << out.string() << " with " << tools.python.string() << " (torch.export"
              << (f == inference::DerivedFormat::Pt2 ? " + AOTInductor for " + device : std::string(" -> ONNX")) << ") ..."
              << std::endl;
    const auto r = inference::export_derived(ts, f, out, device, tools);
    std::cout << "wrote " << out.string() << " (" << fs::file_size(out) / 1024 << " KiB) in " << r.value("seconds", 0.0)
              << " s: dynamic batch" << (r.value("variable_length", false)
                                            ? ", dynamic length from " + std::to_string(r.value("min_length", 0)) + " tokens"
                                            : std::string(r.value("max_length", 0) > 0 ? ", fixed length (padded)" : ""))
              << (r.value("outputs", 1) == 2 ? ", with embeddings" : "") << "\n";
  }
}

}  // namespace

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
      "and its hash. The artifact is checked against the C++ model before it is written.\n"
      "--format pt2 also compiles it with torch.export + AOTInductor into <output>.pt2 (scored by 'smlab score'\n"
      "without Python), --format onnx writes <output>.onnx (for ONNX Runtime), --format all both. These run\n"
      "torch's Python at export time (the build's venv, SMLAB_EXPORT_PYTHON or --python); docs/deployment.md.";
  s.positionals = {{"run", "run folder (e.g. runs/quickstart/latest)"},
                   {"key=value", "config overrides (rarely needed)", false, true}};
  s.flags = {{"output", "FILE", "artifact path", "<run>/model.pt"},
             {"checkpoint", "WHICH", "best or last", "best"},
             {"sample", "N", "tabular models: also write N test-split rows as <output>.sample.csv, an input for "
                             "'smlab score'", "0"},
             {"no-calibration", "", "do not record the temperature of RUN/calibration.json (smlab calibrate)", ""},
             {"format", "F", "torchscript, pt2 (AOTInductor package), onnx or all (the TorchScript artifact is always written)",
              "torchscript"},
             {"device", "D", "pt2: compile for cpu or cuda (cuda needs a GPU node with nvcc)", "cpu"},
             {"python", "PATH", "pt2/onnx: the Python with torch 2.11 (default: $SMLAB_EXPORT_PYTHON, else the build's venv)",
              ""}};
  s.examples = {"smlab export runs/quickstart/latest", "smlab export runs/quickstart/latest --output quickstart.pt",
                "smlab export runs/quickstart/latest --format all   # model.pt, model.pt2, model.onnx"};
  return {s, [](const Args& args) {
            const auto which = inference::parse_checkpoint(args.get("checkpoint"));
            auto r = inference::open_run(args.positional(0), which, torch::Device(torch::kCPU), overrides_from(args, 1));
            const auto formats = derived_formats(args.get("format"));
            const fs::path out = torchscript_path(args.has("output") ? fs::path(args.get("output")) : r.run.path() / "model.pt");
            refuse_run_files(r.run.path(), out);
            std::optional<FileLock> lock(inference::lock_output(out));  // one writer; stale temporaries of a killed export go
            auto artifact = inference::export_model(*r.model, r.cfg, r.info);
            artifact.spec.run = fs::absolute(r.run.path()).lexically_normal().string();
            artifact.spec.checkpoint = inference::checkpoint_name(which);
            carry_calibration(r.run.path(), artifact, args.has("no-calibration"));
            inference::save_artifact(artifact, out);
            const auto tok = artifact.files.find(inference::kArtifactTokenizerFile);
            if (tok != artifact.files.end()) write_file_atomic(out.string() + ".tokenizer.model", tok->second);
            const auto& in = artifact.spec.input;
            if (const int n = args.get_int("sample"); n > 0) {
              if (in.kind != models::InputKind::Features) throw UsageError("--sample is for tabular (features) models");
              write_sample(r.cfg, n, out.string() + ".sample.csv");
            }
            nlohmann::json shape = in.shape;
            std::cout << "wrote " << out.string() << " (" << fs::file_size(out) / 1024 << " KiB): " << artifact.spec.model
                      << ", input " << models::input_kind_name(in.kind) << " " << inference::dtype_name(in.dtype) << " "
                      << inference::layout_name(in.layout) << " " << shape.dump() << ", outputs "
                      << inference::output_kind_name(artifact.spec.output.outputs)
                      << "; checked against the C++ model at batch 3: relative error " << artifact.spec.check_error << "\n";
            lock.reset();
            if (!formats.empty()) export_derived_formats(r.run.path(), out, formats, args);
            return 0;
          }};
}

}  // namespace smlab::cli
