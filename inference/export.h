// TorchScript artifacts: smlab's deployment format.
//
// LibTorch cannot script a C++ module, so smlab TRACES the C++ forward: it builds a
// torch::jit::Module that holds the very same parameter and buffer tensors under the same
// names (so a Python state_dict of the artifact has torchvision's keys), runs the forward once
// under the JIT tracer with that module as `self`, and installs the recorded graph as the
// module's `forward`. Every model is checked after export (and in tests, for every registered
// model) at a batch size other than the traced one, which catches shapes baked into the graph.
//
// An artifact is one TorchScript file that loads with torch::jit::load in C++ and
// torch.jit.load in Python. Its metadata (smlab.json, an extra file inside the archive) is the
// typed ArtifactSpec of inference/artifact.h: format version, who wrote it, the model name, the
// InputSpec (kind, dtype, layout, shape, pixel or token preprocessing), the OutputSpec (task,
// classes, outputs, embed), the config and its hash. Image artifacts take uint8 NHWC pixels and
// normalise inside the graph.
//
//   auto a = smlab::inference::load_artifact("model.pt");       // checks it is smlab's
//   auto probs = torch::softmax(a.forward(batch), 1);
//   a.spec.output.classes;                                       // typed, never meta["classes"]
#pragma once
#include <torch/script.h>

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "inference/artifact.h"
#include "models/model.h"

namespace smlab::inference {

/// Name of the metadata file inside the TorchScript archive.
inline constexpr const char* kArtifactMetaFile = "smlab.json";
/// Name of the embedded SentencePiece model for token artifacts.
inline constexpr const char* kArtifactTokenizerFile = "tokenizer.model";

using TracedFn = std::function<torch::Tensor(const torch::Tensor&)>;

/// Traces `fn` at `example` into a TorchScript module whose `forward(x)` replays it. The module
/// holds `root`'s parameters and buffers under their own names, plus `extra_buffers` at its top
/// level; `fn` may use only those tensors and its input (anything else is baked in as a constant).
/// Trace in eval mode: dropout and batch-norm behaviour is recorded as it is at trace time.
torch::jit::Module trace_module(torch::nn::Module& root, const TracedFn& fn, const torch::Tensor& example,
                                const std::map<std::string, torch::Tensor>& extra_buffers = {});

struct Artifact {
  torch::jit::Module module;
  ArtifactSpec spec;
  std::map<std::string, std::string> files;  ///< other embedded files (e.g. tokenizer.model)

  torch::Tensor forward(const torch::Tensor& x) { return module.forward({x}).toTensor(); }
};

/// Writes the artifact atomically (temporary file, fsync, rename), with `spec` as smlab.json.
void save_artifact(const Artifact& artifact, const std::filesystem::path& path);

/// Loads an artifact and checks that it is smlab's and of a supported format. Throws UserError
/// naming the file for a missing file, a file that is not TorchScript, a TorchScript file
/// without smlab metadata, or an unsupported format version (format 1 is read and mapped into
/// the typed spec; a newer one asks to upgrade smlab).
Artifact load_artifact(const std::filesystem::path& path, std::optional<torch::Device> device = std::nullopt);

/// Builds the artifact of a trained model: its input spec and preprocessing follow the data
/// (`info`) and the config's eval pipeline; token models embed the config's tokenizer. The
/// artifact is checked against the C++ model at a batch size other than the traced one, and
/// the check is recorded in spec.check_error; a mismatch over 1e-5 throws.
struct ExportAs {
  std::string model_name;  ///< "" = cfg's model.name; the input kind always follows cfg's model
  std::string outputs;     ///< "" = logits (classification) or values (regression); "probabilities"
};
Artifact export_model(models::Model& model, const config::Config& cfg, const datasets::DatasetInfo& info,
                      const ExportAs& as = {});

/// The raw input an artifact takes for `info`: uint8 pixels (NHWC images, NTHWC clips) for
/// pixel data, else what the model takes. Random, for checks and examples.
torch::Tensor example_raw_input(const InputSpec& input, int64_t batch);

/// max |a - b| / max(max |b|, tiny): the relative error used by every export parity check.
double relative_error(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace smlab::inference
