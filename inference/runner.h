// One interface for the formats `smlab score` runs: TorchScript artifacts (.pt, torch::jit) and
// AOTInductor packages (.pt2, torch::inductor::AOTIModelPackageLoader; no Python at scoring time).
// Both carry the same ArtifactSpec (artifact.h), so preprocessing, journaling, resume, rejects,
// sharding, bucketing and embeddings are the same for either (docs/deployment.md).
//
//   auto m = smlab::inference::load_model("model.pt2", torch::kCPU);
//   auto y = m.runner->forward(batch);                         // [N, output.dim]
//   if (m.runner->has_embed()) auto [y2, emb] = m.runner->forward_embed(batch);
//
// A .pt2 package holds, in its AOTInductor metadata, smlab.json (the artifact's spec), smlab.package
// (how it was compiled: device, method, token lengths; kPackageFormat) and the tokenizer (base64).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "inference/artifact.h"

namespace smlab::inference {

/// Version of the smlab.package object of .pt2 packages that this build reads (and writes).
constexpr int kPackageFormat = 1;

enum class ModelFormat { TorchScript, Pt2 };
std::string model_format_name(ModelFormat f);
/// From the file name: .pt2 is an AOTInductor package, .onnx is refused (ONNX Runtime scores it),
/// anything else is TorchScript.
ModelFormat model_format_of(const std::filesystem::path& path);

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  /// The model's outputs for a batch of raw inputs (the artifact's InputSpec).
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  /// True when the model also gives the classifier's input (penultimate features).
  virtual bool has_embed() const = 0;
  /// forward's outputs and the embeddings, computed once; only when has_embed().
  virtual std::pair<torch::Tensor, torch::Tensor> forward_embed(const torch::Tensor& x) = 0;
  /// Autocast (bf16/fp16) applies: TorchScript yes; a compiled package runs as it was compiled.
  virtual bool autocast() const = 0;
};

struct LoadedModel {
  ModelFormat format = ModelFormat::TorchScript;
  std::unique_ptr<ModelRunner> runner;
  ArtifactSpec spec;
  std::map<std::string, std::string> files;  ///< embedded files (tokenizer.model)
};

/// Loads a TorchScript artifact or a .pt2 package for `device`. Throws UserError naming the file for
/// a missing, truncated or corrupt file, missing smlab metadata, a newer metadata version, or a
/// package compiled for another device type (a CUDA package on a CPU-only machine).
LoadedModel load_model(const std::filesystem::path& path, c10::Device device);

}  // namespace smlab::inference
