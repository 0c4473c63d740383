#include "analysis/explain_methods.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"
#include "core/text.h"

namespace smlab::analysis::explain {
namespace {

using models::InputKind;
namespace F = torch::nn::functional;

/// Text models are explained at their token embeddings.
constexpr const char* kEmbedding = "embedding";

bool pixels(InputKind k) { return k == InputKind::Image || k == InputKind::Video; }

/// The input's spatial (and temporal) size: [H, W] or [T, H, W].
std::vector<int64_t> spatial_size(const torch::Tensor& x) { return x.sizes().slice(2).vec(); }

/// A layer map [B, 1, h, w] or [B, 1, t, h, w] resized to the input, without the channel dim.
torch::Tensor to_input_size(const torch::Tensor& cam, const torch::Tensor& x) {
  const auto size = spatial_size(x);
  auto opts = F::InterpolateFuncOptions().size(size).align_corners(false);
  if (size.size() == 2) opts.mode(torch::kBilinear);
  else opts.mode(torch::kTrilinear);
  auto up = F::interpolate(cam.to(torch::kFloat), opts);
  return up.squeeze(1);
}

/// Input attributions reduced to the scores of the kind: pixels sum over channels (or the max of
/// |.| over channels for plain gradients, Simonyan et al.'s saliency map); text sums the
/// embedding dimension; features and series stay as they are.
torch::Tensor reduce(const torch::Tensor& a, InputKind kind, bool saliency) {
  if (pixels(kind)) return saliency ? std::get<0>(a.abs().max(1)) : a.sum(1);
  if (kind == InputKind::Tokens) return a.sum(-1);
  return a;
}

Attribution finish(torch::Tensor s, const std::string& layer, InputKind kind) {
  static const char* over[] = {"pixels", "frames", "tokens", "features", "time steps x features"};
  return {s.detach().to(torch::kCPU, torch::kFloat).contiguous(), layer, over[static_cast<int>(kind)]};
}

Attribution cam_method(const Subject& s, const torch::Tensor& t, const MethodParams& p, bool plus_plus) {
  const auto layer = pick_layer(s.forward, s.x, p.layer, 3);
  return finish(to_input_size(grad_cam(s.forward, layer, s.x, t, plus_plus), s.x), layer, s.kind);
}

torch::Tensor zero_baseline(const Subject& s) { return torch::zeros_like(s.x); }

Attribution ig_method(const Subject& s, const torch::Tensor& t, const MethodParams& p) {
  if (s.kind == InputKind::Tokens) {  // padding baseline: every id 0, whose embedding row is 0
    auto a = layer_integrated_gradients(s.forward, kEmbedding, s.x, zero_baseline(s), t, p.steps, p.rule);
    return finish(reduce(a, s.kind, false), kEmbedding, s.kind);
  }
  auto a = integrated_gradients(s.forward, s.x, zero_baseline(s), t, p.steps, p.rule);
  return finish(reduce(a, s.kind, false), "", s.kind);
}

Attribution ixg_method(const Subject& s, const torch::Tensor& t, const MethodParams&) {
  if (s.kind == InputKind::Tokens)
    return finish(reduce(layer_input_x_gradient(s.forward, kEmbedding, s.x, t), s.kind, false), kEmbedding, s.kind);
  return finish(reduce(input_x_gradient(s.forward, s.x, t), s.kind, false), "", s.kind);
}

config::Schema layer_schema() {
  return config::Schema().string("layer", "", "tap to explain ('' = the last convolutional stage)");
}
config::Schema ig_schema() {
  return config::Schema()
      .integer("steps", 64, "integration steps", 1, 4096)
      .choice("rule", "gausslegendre",
              {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"},
              "quadrature rule (Captum's names)");
}
config::Schema smooth_schema() {
  return config::Schema()
      .integer("samples", 25, "noisy copies averaged", 1, 10000)
      .number("noise", 0.15, "noise std as a fraction of each input's value range", 0, 10)
      .integer("seed", 0, "seed of the noise", 0);
}

std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

void check_range(const config::Schema& schema, const std::string& key, double v) {
  const auto* f = schema.find(key);
  if (!f) return;
  if ((f->min && v < *f->min) || (f->max && v > *f->max)) {
    std::string range = "[" + (f->min ? num(*f->min) : "-inf") + ", " +
                        (f->max ? num(*f->max) : "inf") + "]";
    throw UserError("--" + key + " must be in " + range + ", got " + num(v));
  }
}

std::string kinds_of(const std::vector<InputKind>& kinds) {
  std::vector<std::string> names;
  for (auto k : kinds) names.push_back(models::input_kind_name(k));
  return text::join(names, ", ");
}

}  // namespace

Registry<Method>& method_registry() {
  static Registry<Method> r("explain method");
  return r;
}

void register_methods() {
  auto& r = method_registry();
  const std::vector<InputKind> all = {InputKind::Image, InputKind::Video, InputKind::Tokens, InputKind::Features,
                                      InputKind::Series};
  const std::vector<InputKind> dense = {InputKind::Image, InputKind::Video, InputKind::Features, InputKind::Series};
  const std::vector<InputKind> maps = {InputKind::Image, InputKind::Video};
  r.add("grad_cam", {"Grad-CAM (Selvaraju et al. 2017) at a convolutional layer, one map per frame for clips",
                     layer_schema(),
                     [](const Subject& s, const torch::Tensor& t, const MethodParams& p) { return cam_method(s, t, p, false); },
                     maps, true});
  r.add("grad_cam_pp", {"Grad-CAM++ (Chattopadhay et al. 2018): positive gradients weighted per position",
                        layer_schema(),
                        [](const Subject& s, const torch::Tensor& t, const MethodParams& p) { return cam_method(s, t, p, true); },
                        maps, true});
  r.add("gradients", {"vanilla gradients (Simonyan et al. 2014): |d output / d input|, max over channels for pixels",
                      config::Schema(),
                      [](const Subject& s, const torch::Tensor& t, const MethodParams&) {
                        return finish(reduce(gradients(s.forward, s.x, t), s.kind, true), "", s.kind);
                      },
                      dense, false});
  r.add("smoothgrad", {"SmoothGrad (Smilkov et al. 2017): gradients averaged over seeded noisy copies",
                       smooth_schema(),
                       [](const Subject& s, const torch::Tensor& t, const MethodParams& p) {
                         auto g = smoothgrad(s.forward, s.x, t, p.samples, p.noise, p.seed);
                         return finish(reduce(g, s.kind, true), "", s.kind);
                       },
                       dense, false});
  r.add("integrated_gradients",
        {"integrated gradients (Sundararajan et al. 2017) from a zero baseline (black pixels, padding tokens at the "
         "embeddings, zero features)",
         ig_schema(), ig_method, all, false});
  r.add("input_x_gradient", {"gradient x input (per SentencePiece piece at the embeddings for text)", config::Schema(),
                             ixg_method, all, false});
  r.add("attention", {"the attention weights of a model that pools with attention (bilstm pooling: attention)",
                      config::Schema(),
                      [](const Subject& s, const torch::Tensor&, const MethodParams&) {
                        bool has = false;
                        for (const auto& l : layers(s.forward, s.x)) has = has || l.name == "attention.weights";
                        if (!has) throw UserError(s.name + " has no attention weights (only bilstm with pooling: attention)");
                        return finish(tapped(s.forward, "attention.weights", s.x), "attention.weights", s.kind);
                      },
                      {InputKind::Tokens}, true});
}

std::vector<std::string> methods_for(InputKind kind, bool artifact) {
  std::vector<std::string> out;
  for (const auto& [name, m] : method_registry().entries()) {
    const bool fits = std::find(m.kinds.begin(), m.kinds.end(), kind) != m.kinds.end();
    const bool usable = !artifact || (!m.needs_run && kind != InputKind::Tokens);
    if (fits && usable) out.push_back(name);
  }
  return out;
}

std::string default_method(InputKind kind) { return pixels(kind) ? "grad_cam" : "integrated_gradients"; }

Attribution run_method(const std::string& name, const Subject& s, const torch::Tensor& target, const MethodParams& p) {
  const auto& m = method_registry().get(name);
  const auto kind = models::input_kind_name(s.kind);
  if (std::find(m.kinds.begin(), m.kinds.end(), s.kind) == m.kinds.end()) {
    throw UserError("method '" + name + "' does not fit " + kind + " models (it takes " + kinds_of(m.kinds) +
                    "); methods for " + kind + ": " + text::join(methods_for(s.kind, !s.has_taps), ", "));
  }
  if (!s.has_taps && (m.needs_run || s.kind == InputKind::Tokens)) {
    const auto usable = methods_for(s.kind, true);
    throw UserError("method '" + name + "' needs the run folder: " + s.name +
                    " is a TorchScript artifact, which keeps no layer activations" +
                    (s.kind == InputKind::Tokens ? " and takes token ids, through which no gradient flows" : "") +
                    "; pass the run folder it was exported from (smlab explain RUN ...)" +
                    (usable.empty() ? "" : ", or use one of: " + text::join(usable, ", ")));
  }
  check_range(m.params, "steps", static_cast<double>(p.steps));
  check_range(m.params, "samples", static_cast<double>(p.samples));
  check_range(m.params, "noise", p.noise);
  return m.make(s, target, p);
}

}  // namespace smlab::analysis::explain
