// Attribution methods: which parts of an input drove a model's output.
//
// Everything here works on a differentiable Forward (float input [B, ...] -> outputs [B, K]) and
// one target output per row; the layer methods also read or replace a named activation through
// the model's taps (models/tap.h), as Captum does with forward hooks. Formulas, with t_i the
// row's target and y = f(x)[i, t_i]:
//
//   gradients             dy/dx (Simonyan et al. 2014's saliency before the absolute value)
//   input_x_gradient      x * dy/dx
//   integrated_gradients  (x - b) * sum_k w_k dy/dx (b + a_k (x - b)), with the nodes a_k and
//                         weights w_k of a quadrature rule on [0, 1] (Gauss-Legendre by default,
//                         as Captum's IntegratedGradients; Sundararajan et al. 2017)
//   smoothgrad            mean over n draws of dy/dx (x + e), e ~ N(0, (noise * (max x - min x))^2)
//                         per row, from a seeded generator (Smilkov et al. 2017)
//   grad_cam              relu(sum_c mean_s(dy/dA_c) * A_c) at layer A [B, C, spatial...]
//                         (Selvaraju et al. 2017; Captum's LayerGradCam with relu_attributions)
//   grad_cam_pp           relu(sum_c w_c A_c), w_c = sum_s relu(g) a, a = g^2 / (2 g^2 + sum_s A g^3)
//                         (Chattopadhay et al. 2018, the closed form for an exponential output)
//   layer_* variants      the same with x the activation of a named tap (embeddings for text)
//
// Example:
//   auto f = [&](const torch::Tensor& x) { return model->forward(x); };
//   auto t = explain::resolve_targets(f(x), "pred");
//   auto ig = explain::integrated_gradients(f, x, torch::zeros_like(x), t, 64);
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace smlab::analysis::explain {

/// A differentiable model: input [B, ...] -> outputs [B, K].
using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

/// One output index per row, int64 [B]: the argmax of `outputs` ("pred"), or the class index
/// `target` for every row. A class outside [0, K) is a UserError naming K.
torch::Tensor resolve_targets(const torch::Tensor& outputs, const std::string& target);

enum class Rule { GaussLegendre, RiemannLeft, RiemannRight, RiemannMiddle, RiemannTrapezoid };
/// gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid (Captum's names).
Rule parse_rule(const std::string& s);

/// Nodes in [0, 1] and weights (summing to 1) of `rule` with `steps` points.
struct Quadrature {
  std::vector<double> alphas, weights;
};
Quadrature quadrature(Rule rule, int64_t steps);

torch::Tensor gradients(const Forward& f, const torch::Tensor& x, const torch::Tensor& target);
torch::Tensor input_x_gradient(const Forward& f, const torch::Tensor& x, const torch::Tensor& target);
torch::Tensor integrated_gradients(const Forward& f, const torch::Tensor& x, const torch::Tensor& baseline,
                                   const torch::Tensor& target, int64_t steps, Rule rule = Rule::GaussLegendre);
torch::Tensor smoothgrad(const Forward& f, const torch::Tensor& x, const torch::Tensor& target, int64_t samples,
                         double noise, uint64_t seed);

/// The taps a forward of `x` passes through, in order, each once, with their activation shapes.
struct LayerInfo {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<LayerInfo> layers(const Forward& f, const torch::Tensor& x);

/// `layer` when it is one of `x`'s taps with at least `min_dims` dims; "" picks the last such tap
/// (the last convolutional stage of a CNN). An unknown or unfit name is a UserError listing the
/// layers that fit; a model without any is a UserError saying so.
std::string pick_layer(const Forward& f, const torch::Tensor& x, const std::string& layer, int64_t min_dims);

/// Grad-CAM (or Grad-CAM++) at `layer`: [B, 1, spatial...] at the layer's resolution.
torch::Tensor grad_cam(const Forward& f, const std::string& layer, const torch::Tensor& x, const torch::Tensor& target,
                       bool plus_plus = false);
/// Captum's LayerGradCam without the ReLU (relu_attributions=False): for the oracle tests.
torch::Tensor grad_cam_raw(const Forward& f, const std::string& layer, const torch::Tensor& x,
                           const torch::Tensor& target);

/// The activation of `layer` for input `x` (no gradient).
torch::Tensor layer_activation(const Forward& f, const std::string& layer, const torch::Tensor& x);

/// Attributions at `layer`'s activation A(x) ([B, ...] like A): Captum's LayerGradientXActivation
/// and LayerIntegratedGradients (the baseline activation is A(baseline)). The rest of the forward
/// sees `x` itself, so a text model keeps the padding mask of the real tokens.
torch::Tensor layer_input_x_gradient(const Forward& f, const std::string& layer, const torch::Tensor& x,
                                     const torch::Tensor& target);
torch::Tensor layer_integrated_gradients(const Forward& f, const std::string& layer, const torch::Tensor& x,
                                         const torch::Tensor& baseline, const torch::Tensor& target, int64_t steps,
                                         Rule rule = Rule::GaussLegendre);

/// What the forward of `x` passes through tap `layer` (e.g. the BiLSTM's "attention.weights").
torch::Tensor tapped(const Forward& f, const std::string& layer, const torch::Tensor& x);

}  // namespace smlab::analysis::explain
