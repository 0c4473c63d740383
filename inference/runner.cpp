// TorchScript and AOTInductor models behind ModelRunner (runner.h).
#include "inference/runner.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text.h"
#include "core/zip_check.h"
#include "inference/export.h"

namespace smlab::inference {
namespace fs = std::filesystem;
using nlohmann::json;

std::string model_format_name(ModelFormat f) { return f == ModelFormat::Pt2 ? "pt2" : "torchscript"; }

ModelFormat model_format_of(const fs::path& path) {
  const std::string ext = text::lower(path.extension().string());
  if (ext == ".onnx")
    throw UserError(path.string() + ": an ONNX model is scored by ONNX Runtime, not by smlab; give smlab score the "
                    "TorchScript artifact (.pt) or the AOTInductor package (.pt2) exported with it");
  return ext == ".pt2" ? ModelFormat::Pt2 : ModelFormat::TorchScript;
}

namespace {

class TorchScriptRunner final : public ModelRunner {
 public:
  explicit TorchScriptRunner(torch::jit::Module m) : m_(std::move(m)), embed_(m_.find_method("forward_embed").has_value()) {}
  torch::Tensor forward(const torch::Tensor& x) override { return m_.forward({x}).toTensor(); }
  bool has_embed() const override { return embed_; }
  std::pair<torch::Tensor, torch::Tensor> forward_embed(const torch::Tensor& x) override {
    const auto t = m_.get_method("forward_embed")({x}).toTuple();
    return {t->elements().at(0).toTensor(), t->elements().at(1).toTensor()};
  }
  bool autocast() const override { return true; }

 private:
  torch::jit::Module m_;
  bool embed_;
};

/// What smlab.package says about how a .pt2 was compiled.
struct PackageInfo {
  std::string device = "cpu";
  int outputs = 1;             ///< 2: the package returns (outputs, embeddings)
  int64_t min_length = 0;      ///< token models: shorter batches are padded to it
  int64_t pad_id = 0;
};

class AotiRunner final : public ModelRunner {
 public:
  AotiRunner(const fs::path& path, const PackageInfo& p, c10::Device device) : p_(p) {
    try {
      loader_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path.string(), "model", false, 1,
                                                                          device.has_index() ? device.index() : -1);
    } catch (const std::exception& e) {
      std::string what = e.what();
      throw UserError(path.string() + ": the AOTInductor package does not load (" + what.substr(0, what.find('\n')) +
                      "); export it again with this torch (" + TORCH_VERSION + ")");
    }
  }
  torch::Tensor forward(const torch::Tensor& x) override { return run(x).at(0); }
  bool has_embed() const override { return p_.outputs == 2; }
  std::pair<torch::Tensor, torch::Tensor> forward_embed(const torch::Tensor& x) override {
    auto out = run(x);
    return {out.at(0), out.at(1)};
  }
  bool autocast() const override { return false; }

 private:
  std::vector<torch::Tensor> run(torch::Tensor x) {
    if (p_.min_length > 0 && x.dim() == 2 && x.size(1) < p_.min_length)  // length-bucketed token batch
      x = torch::constant_pad_nd(x, {0, p_.min_length - x.size(1)}, p_.pad_id);
    return loader_->run({x.contiguous()});
  }
  PackageInfo p_;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
};

std::string base64_decode(const std::string& in, const std::string& where) {
  static const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const auto k = abc.find(c);
    if (k == std::string::npos) throw UserError(where + ": its embedded tokenizer is not valid base64");
    buf = (buf << 6) | static_cast<uint32_t>(k);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  return out;
}

json parse_meta(const std::unordered_map<std::string, std::string>& md, const char* key, const fs::path& path) {
  const auto it = md.find(key);
  if (it == md.end())
    throw UserError(path.string() + ": an AOTInductor package without smlab metadata (" + key +
                    "); export it with 'smlab export RUN --format pt2'");
  try {
    return json::parse(it->second);
  } catch (const std::exception& e) {
    throw UserError(path.string() + ": its " + key + " is not valid JSON (" + e.what() + ")");
  }
}

LoadedModel load_pt2(const fs::path& path, c10::Device device) {
  verify_zip_crc(path, "AOTInductor package");  // names the file for a truncated or corrupt package
  std::unordered_map<std::string, std::string> md;
  try {
    md = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path.string(), "model");
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw UserError(path.string() + ": not an AOTInductor package (" + what.substr(0, what.find('\n')) + ")");
  }
  LoadedModel m;
  m.format = ModelFormat::Pt2;
  m.spec = ArtifactSpec::from_json(parse_meta(md, "smlab.json", path), path.string());  // refuses newer formats
  const json pkg = parse_meta(md, "smlab.package", path);
  if (pkg.value("format", 0) > kPackageFormat)
    throw UserError(path.string() + ": smlab package format " + std::to_string(pkg.value("format", 0)) +
                    " is newer than this smlab (" + std::to_string(kPackageFormat) + "); upgrade smlab");
  PackageInfo p;
  p.device = pkg.value("device", "cpu");
  p.outputs = pkg.value("outputs", 1);
  p.min_length = pkg.value("min_length", int64_t{0});
  if (m.spec.input.tokens) p.pad_id = m.spec.input.tokens->pad_id;
  const std::string want = device.is_cuda() ? "cuda" : "cpu";
  if (p.device != want)
    throw UserError(path.string() + ": this package was compiled for " + p.device + " and cannot run on " + want +
                    (p.device == "cuda" ? " (no GPU here, or --device cpu); score it on a GPU machine with --device cuda, "
                                          "or export a CPU package: smlab export RUN --format pt2 --device cpu"
                                        : "; export a CUDA package on a GPU node: smlab export RUN --format pt2 --device cuda"));
  if (const auto it = md.find("smlab.tokenizer.b64"); it != md.end())
    m.files[kArtifactTokenizerFile] = base64_decode(it->second, path.string());
  m.runner = std::make_unique<AotiRunner>(path, p, device);
  return m;
}

}  // namespace

LoadedModel load_model(const fs::path& path, c10::Device device) {
  const ModelFormat f = model_format_of(path);
  if (f == ModelFormat::Pt2) {
    if (!fs::exists(path)) throw UserError(path.string() + ": no such file (expected a .pt2 package from 'smlab export')");
    return load_pt2(path, device);
  }
  Artifact a = load_artifact(path, device);
  LoadedModel m;
  m.spec = std::move(a.spec);
  m.files = std::move(a.files);
  m.runner = std::make_unique<TorchScriptRunner>(std::move(a.module));
  return m;
}

}  // namespace smlab::inference
