#include "inference/export.h"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/zip_check.h"
#include "datasets/augment.h"
#include "smlab/build_info.h"

namespace smlab::inference {
namespace fs = std::filesystem;
using models::InputKind;
using models::Model;
using models::input_kind;
using models::output_width;
namespace {

/// A TorchScript module tree with the same names as `m`, holding the same tensor objects
/// (not copies: the tracer recognises them by identity and records attribute reads).
torch::jit::Module mirror(const torch::nn::Module& m, const std::shared_ptr<torch::jit::CompilationUnit>& cu,
                          const std::string& qualname, int& counter) {
  torch::jit::Module out(c10::QualifiedName("__torch__.smlab.export." + qualname + "_" + std::to_string(counter++)), cu,
                         /*shouldMangle=*/true);
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.register_parameter(p.key(), p.value(), false);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.register_buffer(b.key(), b.value());
  for (const auto& c : m.named_children()) out.register_module(c.key(), mirror(*c.value(), cu, "M", counter));
  return out;
}

}  // namespace

torch::jit::Module trace_module(torch::nn::Module& root, const TracedFn& fn, const torch::Tensor& example,
                                const std::map<std::string, torch::Tensor>& extra_buffers) {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  int counter = 0;
  torch::jit::Module jm = mirror(root, cu, "Root", counter);
  for (const auto& [name, t] : extra_buffers) jm.register_buffer(name, t);
  torch::NoGradGuard no_grad;
  auto traced = torch::jit::tracer::trace(
      {example},
      [&fn](torch::jit::Stack in) -> torch::jit::Stack { return {fn(in.at(0).toTensor())}; },
      [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/true, /*force_outplace=*/false, &jm,
      {"x"});
  auto graph = traced.first->graph;
  auto method = c10::QualifiedName(*jm.type()->name(), "forward");
  auto* f = jm._ivalue()->compilation_unit()->create_function(method, graph);
  jm.type()->addMethod(f);
  return jm;
}

void save_artifact(const Artifact& artifact, const fs::path& path) {
  torch::jit::ExtraFilesMap extra(artifact.files.begin(), artifact.files.end());
  extra[kArtifactMetaFile] = artifact.spec.to_json().dump(2);
  // Serialised in memory, then written by write_file_atomic: a read-only folder or a full disk is one
  // line naming the path, where TorchScript's own writer says "enforce fail ... Permission denied".
  std::ostringstream bytes;
  artifact.module.save(bytes, extra);
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) throw UserError("cannot create the folder of " + path.string() + ": " + ec.message());
  write_file_atomic(path, bytes.str());
}

Artifact load_artifact(const fs::path& path, std::optional<torch::Device> device) {
  if (!fs::exists(path)) throw UserError(path.string() + ": no such file (expected a TorchScript artifact from 'smlab export')");
  verify_zip_crc(path, "artifact");  // a flipped weight byte would otherwise load silently
  torch::jit::ExtraFilesMap extra{{kArtifactMetaFile, ""}, {kArtifactTokenizerFile, ""}};
  Artifact a;
  try {
    a.module = torch::jit::load(path.string(), device, extra);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw UserError(path.string() + ": not a TorchScript file (" + what + ")");
  }
  if (extra[kArtifactMetaFile].empty())
    throw UserError(path.string() + ": a TorchScript file without smlab metadata (" + kArtifactMetaFile +
                    "); export it with 'smlab export'");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(extra[kArtifactMetaFile]);
  } catch (const std::exception& e) {
    throw UserError(path.string() + ": its " + kArtifactMetaFile + " is not valid JSON (" + e.what() + ")");
  }
  a.spec = ArtifactSpec::from_json(meta, path.string());
  if (!extra[kArtifactTokenizerFile].empty()) a.files[kArtifactTokenizerFile] = extra[kArtifactTokenizerFile];
  a.module.eval();
  return a;
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  auto da = a.detach().to(torch::kCPU, torch::kDouble), db = b.detach().to(torch::kCPU, torch::kDouble);
  const double scale = std::max(db.abs().max().item<double>(), 1e-12);
  return (da - db).abs().max().item<double>() / scale;
}

}  // namespace smlab::inference

namespace smlab::inference {
namespace {

/// The attribute path ("fc.weight") of a value read from `self` through prim::GetAttr nodes,
/// or "" when it is computed some other way.
std::string attribute_path(torch::jit::Value* v) {
  std::vector<std::string> parts;
  while (v->node()->kind() == c10::prim::GetAttr) {
    parts.push_back(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  if (parts.empty() || v->node()->kind() != c10::prim::Param || v->offset() != 0) return "";
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (out.empty() ? "" : ".") + *it;
  return out;
}

/// The classifier at the end of a traced forward: the aten::linear (or the addmm(bias, x, t(W))
/// the tracer records for a 2-D Linear) that produces the output, possibly followed by a
/// softmax/log_softmax/sigmoid, reading its weight (and bias) from module attributes. Its input
/// is the penultimate feature vector ("embedding").
struct ClassifierCut {
  torch::jit::Value* features = nullptr;
  std::string weight, bias;  ///< attribute paths; bias "" when the layer has none
};

bool is_one(torch::jit::Value* v) {
  if (const auto i = torch::jit::constant_as<int64_t>(v)) return *i == 1;
  if (const auto d = torch::jit::constant_as<double>(v)) return *d == 1.0;
  return false;
}

std::optional<ClassifierCut> find_classifier(const std::shared_ptr<torch::jit::Graph>& g) {
  auto* v = g->outputs().at(0);
  while (v->node()->kind() == c10::aten::softmax || v->node()->kind() == c10::aten::log_softmax ||
         v->node()->kind() == c10::aten::sigmoid)
    v = v->node()->input(0);
  auto* n = v->node();
  ClassifierCut c;
  torch::jit::Value *w = nullptr, *b = nullptr;
  if (n->kind() == c10::aten::linear && n->inputs().size() == 3) {
    c.features = n->input(0);
    w = n->input(1);
    b = n->input(2);
  } else if (n->kind() == c10::aten::addmm && n->inputs().size() == 5 && is_one(n->input(3)) && is_one(n->input(4)) &&
             n->input(2)->node()->kind() == c10::aten::t) {
    c.features = n->input(1);
    w = n->input(2)->node()->input(0);
    b = n->input(0);
  } else {
    return std::nullopt;
  }
  c.weight = attribute_path(w);
  if (c.weight.empty()) return std::nullopt;
  if (b->type()->kind() != c10::TypeKind::NoneType) {
    c.bias = attribute_path(b);
    if (c.bias.empty()) return std::nullopt;
  }
  return c;
}

/// Adds `embed(x)` (the classifier's input) and `forward_embed(x)` (a tuple of forward's output
/// and that input, computed once) to a traced module. Returns the classifier's attribute paths,
/// or nothing when the graph does not end in a linear classifier read from module attributes.
std::optional<ClassifierCut> add_embed_methods(torch::jit::Module& m) {
  const auto forward = m.get_method("forward").graph();
  auto probe = find_classifier(forward);
  if (!probe) return std::nullopt;
  auto add = [&](const std::string& name, bool with_output) {
    auto g = forward->copy();
    const auto cut = find_classifier(g);
    auto* emb = cut->features;
    auto* out = g->outputs().at(0);
    g->eraseOutput(0);
    if (with_output) {
      auto* tuple = g->insertNode(g->createTuple({out, emb}));
      g->registerOutput(tuple->output());
    } else {
      g->registerOutput(emb);
    }
    torch::jit::EliminateDeadCode(g);
    auto* f = m._ivalue()->compilation_unit()->create_function(c10::QualifiedName(*m.type()->name(), name), g);
    m.type()->addMethod(f);
  };
  add("embed", false);
  add("forward_embed", true);
  return probe;
}

/// The input contract of an artifact for a model of `kind` on data `info`.
InputSpec input_spec(InputKind kind, const datasets::DatasetInfo& info, const config::Config& cfg) {
  InputSpec in;
  in.kind = kind;
  const auto& s = info.input_shape;
  const bool pixels = info.pixels && ((kind == InputKind::Image && s.size() == 3) || (kind == InputKind::Video && s.size() == 4));
  if (pixels) {
    // Channels last, as images are decoded: [H, W, C] or [T, H, W, C].
    in.shape.assign(s.begin() + 1, s.end());
    in.shape.push_back(s[0]);
    in.dtype = DType::UInt8;
    in.layout = kind == InputKind::Image ? Layout::NHWC : Layout::NTHWC;
    const int64_t h = s[s.size() - 2], w = s[s.size() - 1];
    const auto p = datasets::eval_preprocessing(datasets::augment_specs(cfg, "augment.eval"),
                                                datasets::augment_specs(cfg, "augment.train"), h, w);
    in.pixels = PixelPreprocess{p.resize_shorter, {h, w}, 1.0 / 255.0, p.mean, p.std};
    return in;
  }
  in.dtype = info.vocab_size > 0 ? DType::Int64 : DType::Float32;
  in.layout = kind == InputKind::Image ? Layout::NCHW : kind == InputKind::Video ? Layout::NCTHW : Layout::Flat;
  in.shape = s;
  if (info.vocab_size > 0) {
    TokenPreprocess t;
    t.vocab_size = info.vocab_size;
    t.pad_id = 0;
    t.max_len = cfg.has("data.max_len") ? cfg.get<int64_t>("data.max_len") : s.at(0);
    // Text normalisation applied before tokenising (e.g. TweetEval's @user / http), for the scorer.
    if (cfg.has("data.normalize")) t.normalize = parse_text_normalize(cfg.get<std::string>("data.normalize"), "data.normalize");
    in.tokens = t;
  }
  return in;
}

/// The output contract of a model on data `info`.
OutputSpec output_spec(const datasets::DatasetInfo& info, const ExportAs& as) {
  OutputSpec o;
  o.task = info.task;
  o.classes = info.class_names;
  o.dim = models::output_width(info);
  o.outputs = !as.outputs.empty() ? parse_output_kind(as.outputs, "export")
              : info.task == datasets::Task::Classification ? OutputKind::Logits : OutputKind::Values;
  return o;
}

/// Image/clip artifacts take uint8 channels-last pixels: the traced function permutes them to
/// channels-first and normalises with two buffers, x * (1 / (255 std)) - mean / std.
TracedFn pixel_forward(Model& model, const datasets::DatasetInfo& info, const PixelPreprocess& pre, bool video,
                       std::map<std::string, torch::Tensor>& extra) {
  const int64_t channels = info.input_shape[0];
  std::vector<int64_t> stat_shape(info.input_shape.size() + 1, 1);  // [1, C, 1, 1] or [1, C, 1, 1, 1]
  stat_shape[1] = channels;
  auto mean = torch::zeros({channels}), stdv = torch::ones({channels});
  if (!pre.mean.empty()) {
    TORCH_CHECK(static_cast<int64_t>(pre.mean.size()) == channels, "normalisation has ", pre.mean.size(),
                " channels, the data ", channels);
    mean = torch::tensor(pre.mean, torch::kFloat);
    stdv = torch::tensor(pre.std, torch::kFloat);
  }
  extra["smlab_pixel_scale"] = (1.0 / (255.0 * stdv)).view(stat_shape).contiguous();
  extra["smlab_pixel_shift"] = (-mean / stdv).view(stat_shape).contiguous();
  auto scale = extra["smlab_pixel_scale"], shift = extra["smlab_pixel_shift"];
  return [&model, scale, shift, video](const torch::Tensor& x) {
    auto nc = video ? x.permute({0, 4, 1, 2, 3}) : x.permute({0, 3, 1, 2});
    return model.forward(nc.to(torch::kFloat).mul(scale).add(shift));
  };
}

}  // namespace

torch::Tensor example_raw_input(const InputSpec& in, int64_t batch) {
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), in.shape.begin(), in.shape.end());
  switch (in.dtype) {
    case DType::UInt8: return torch::randint(0, 256, shape, torch::kUInt8);
    case DType::Int64: return torch::randint(1, in.tokens->vocab_size, shape, torch::kLong);
    case DType::Float32: break;
  }
  return torch::randn(shape);
}

namespace {

/// Runs the artifact and `fn` at batch 3 and records the relative error; a graph that fails or
/// disagrees (shapes baked into the trace) is a UserError.
void check_export(Artifact& a, const TracedFn& fn, const torch::Tensor& x) {
  const auto& name = a.spec.model;
  double err = 0;
  try {
    err = relative_error(a.forward(x), fn(x));
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    // The interpreter's message ends with the original error ("RuntimeError: shape '[2, 4]' is invalid ...").
    std::string what = e.what();
    while (!what.empty() && what.back() == '\n') what.pop_back();
    what = what.substr(what.rfind('\n') + 1);
    throw UserError("export of " + name + ": the TorchScript graph fails at batch 3 (" + what +
                    "); its forward probably bakes an input size into the trace");
  }
  a.spec.check_batch = 3;
  a.spec.check_error = err;
  if (!(err <= 1e-5))
    throw UserError("export of " + name + ": the TorchScript graph disagrees with the C++ model at batch 3 (relative error " +
                    std::to_string(err) + " > 1e-5); its forward probably bakes an input size into the trace");
}

/// Penultimate features: `embed` and `forward_embed`, checked by recomputing the outputs from
/// the embedding with the C++ model's classifier weights; recorded in spec.output.embed.
void add_embed(Artifact& a, Model& model, const TracedFn& fn, const torch::Tensor& x) {
  const auto cut = add_embed_methods(a.module);
  if (!cut) return;
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : model.named_parameters()) params[p.key()] = p.value();
  const auto e = a.module.run_method("embed", x).toTensor();
  const auto w = params.count(cut->weight) ? params.at(cut->weight) : torch::Tensor();
  const auto b = cut->bias.empty() ? torch::Tensor() : params.count(cut->bias) ? params.at(cut->bias) : torch::Tensor();
  if (!w.defined() || e.dim() != 2 || (!cut->bias.empty() && !b.defined())) return;
  auto logits = torch::linear(e, w, b);
  const auto out = fn(x);
  // The output may be the classifier's softmax ("probabilities" artifacts).
  if (!torch::allclose(logits, out, 1e-4, 1e-5) && torch::allclose(torch::softmax(logits, 1), out, 1e-4, 1e-5))
    logits = torch::softmax(logits, 1);
  const double embed_err = relative_error(logits, out);
  if (embed_err > 1e-5) return;
  const auto dot = cut->weight.rfind('.');
  a.spec.output.embed =
      EmbedSpec{e.size(1), dot == std::string::npos ? std::string() : cut->weight.substr(0, dot), embed_err};
}

/// Token models: does the graph take shorter (trailing-padded) sequences and give the same
/// outputs as at max_len? Then a scorer may pad each batch only to its longest member.
void check_variable_length(Artifact& a, const TracedFn& fn) {
  auto& t = *a.spec.input.tokens;
  const int64_t L = a.spec.input.shape.at(0), vocab = t.vocab_size;
  auto toks = torch::randint(1, vocab, {3, L}, torch::kLong);
  const std::vector<int64_t> lens = {1, std::min<int64_t>(3, L), std::min<int64_t>(7, L)};
  for (int64_t r = 0; r < 3; ++r) toks[r].slice(0, lens[r]).zero_();
  double len_err = std::numeric_limits<double>::infinity();
  try {
    const auto ref = fn(toks);
    len_err = std::max(relative_error(a.forward(toks.slice(1, 0, lens[2]).contiguous()), ref),
                       relative_error(a.forward(toks.slice(0, 0, 1).slice(1, 0, 1).contiguous()), ref.slice(0, 0, 1)));
  } catch (const std::exception&) {
    // a graph that bakes the length in: no variable lengths
  }
  t.variable_length = len_err <= 1e-5;
  t.length_check = {{"lengths", {1, lens[2], L}},
                    {"relative_error", std::isfinite(len_err) ? nlohmann::json(len_err) : nlohmann::json(nullptr)}};
}

}  // namespace

Artifact export_model(Model& model, const config::Config& cfg, const datasets::DatasetInfo& info, const ExportAs& as) {
  const InputKind kind = input_kind(cfg.name_of("model"));
  model.eval();
  model.to(torch::kCPU);
  Artifact a;
  auto& spec = a.spec;
  spec.smlab_version = SMLAB_VERSION;
  spec.libtorch_version = TORCH_VERSION;
  spec.model = as.model_name.empty() ? cfg.name_of("model") : as.model_name;
  spec.input = input_spec(kind, info, cfg);
  spec.output = output_spec(info, as);
  spec.config_hash = cfg.hash();
  spec.config = cfg.dump();
  std::map<std::string, torch::Tensor> extra;
  TracedFn fn = [&model](const torch::Tensor& x) { return model.forward(x); };
  if (spec.input.pixels) fn = pixel_forward(model, info, *spec.input.pixels, kind == InputKind::Video, extra);
  torch::manual_seed(0);
  a.module = trace_module(model, fn, example_raw_input(spec.input, 2), extra);
  a.module.eval();
  // Check at another batch size: shapes baked into the graph show up here.
  torch::NoGradGuard ng;
  const auto x = example_raw_input(spec.input, 3);
  check_export(a, fn, x);
  add_embed(a, model, fn, x);
  if (spec.input.tokens && spec.input.shape.size() == 1) check_variable_length(a, fn);
  std::string tok = info.tokenizer;
  if (tok.empty() && cfg.has("data.tokenizer")) tok = cfg.get<std::string>("data.tokenizer");
  if (spec.input.tokens && !tok.empty()) {
    a.files[kArtifactTokenizerFile] = read_file(tok);
    spec.input.tokens->tokenizer = kArtifactTokenizerFile;
  }
  return a;
}

}  // namespace smlab::inference
