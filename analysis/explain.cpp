#include "analysis/explain.h"

#include <cmath>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "models/tap.h"

namespace smlab::analysis::explain {
namespace {

/// sum_i out[i, target_i]: each row's own target, so one backward gives every row's gradient.
torch::Tensor picked(const torch::Tensor& out, const torch::Tensor& target) {
  TORCH_CHECK(out.dim() == 2, "explain: model outputs must be [B, K], got ", out.sizes());
  TORCH_CHECK(target.dim() == 1 && target.size(0) == out.size(0), "explain: targets must be [B] for outputs ",
              out.sizes(), ", got ", target.sizes());
  return out.gather(1, target.to(out.device()).view({-1, 1})).sum();
}

torch::Tensor grad_of(const torch::Tensor& y, const torch::Tensor& wrt) {
  TORCH_CHECK(y.requires_grad(), "explain: no gradient flows from the model's output to its input");
  return torch::autograd::grad({y}, {wrt}, {}, /*retain_graph=*/false, /*create_graph=*/false,
                               /*allow_unused=*/true)[0];
}

/// Gradient of the targets w.r.t. the input; a zero tensor when the output does not depend on it.
torch::Tensor input_grad(const Forward& f, const torch::Tensor& x, const torch::Tensor& target) {
  auto xi = x.detach().clone().requires_grad_(true);
  auto g = grad_of(picked(f(xi), target), xi);
  return g.defined() ? g : torch::zeros_like(xi);
}

/// Runs f(x) with tap `layer` replaced by `value` (same shape), returning the targets' gradient
/// w.r.t. `value`. The tap must be passed: a layer the forward never reaches is an error.
torch::Tensor grad_at_layer(const Forward& f, const std::string& layer, const torch::Tensor& x,
                            const torch::Tensor& value, const torch::Tensor& target) {
  auto v = value.detach().clone().requires_grad_(true);
  bool seen = false;
  models::TapScope scope([&](const std::string& name, const torch::Tensor& t) {
    if (name != layer) return t;
    TORCH_CHECK(t.sizes() == v.sizes(), "explain: layer ", layer, " gives ", t.sizes(), ", the replacement is ",
                v.sizes());
    seen = true;
    return v;
  });
  auto y = picked(f(x), target);
  TORCH_CHECK(seen, "explain: the forward never reached layer ", layer);
  auto g = grad_of(y, v);
  return g.defined() ? g : torch::zeros_like(v);
}

/// The layer's activation (a leaf that requires grad) and the targets' gradient w.r.t. it.
std::pair<torch::Tensor, torch::Tensor> activation_and_grad(const Forward& f, const std::string& layer,
                                                            const torch::Tensor& x, const torch::Tensor& target) {
  const auto a = layer_activation(f, layer, x);
  return {a, grad_at_layer(f, layer, x, a, target)};
}

/// Legendre nodes and weights on [-1, 1] by Newton's method on P_n (Golub-Welsch would do too).
void gauss_legendre(int64_t n, std::vector<double>& x, std::vector<double>& w) {
  x.assign(n, 0.0);
  w.assign(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double z = std::cos(M_PI * (static_cast<double>(i) + 0.75) / (static_cast<double>(n) + 0.5));
    double dp = 0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1.0, p1 = z;
      for (int64_t k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / static_cast<double>(k);
        p0 = p1;
        p1 = p2;
      }
      const double pn = n == 1 ? z : p1, pm = n == 1 ? 1.0 : p0;
      dp = static_cast<double>(n) * (z * pn - pm) / (z * z - 1.0);
      const double dz = pn / dp;
      z -= dz;
      if (std::abs(dz) < 1e-15) break;
    }
    x[n - 1 - i] = z;  // ascending, as numpy's leggauss
    w[n - 1 - i] = 2.0 / ((1.0 - z * z) * dp * dp);
  }
}

}  // namespace

torch::Tensor resolve_targets(const torch::Tensor& outputs, const std::string& target) {
  TORCH_CHECK(outputs.dim() == 2, "explain: model outputs must be [B, K], got ", outputs.sizes());
  if (target == "pred" || target.empty()) return outputs.detach().argmax(1).to(torch::kCPU);
  int64_t k = -1;
  try {
    size_t used = 0;
    k = std::stoll(target, &used);
    if (used != target.size()) k = -1;
  } catch (const std::exception&) {
    k = -1;
  }
  if (k < 0 || k >= outputs.size(1)) {
    throw UserError("--target must be 'pred' or an output index in [0, " + std::to_string(outputs.size(1)) +
                    "), got '" + target + "'");
  }
  return torch::full({outputs.size(0)}, k, torch::kLong);
}

Rule parse_rule(const std::string& s) {
  if (s == "gausslegendre") return Rule::GaussLegendre;
  if (s == "riemann_left") return Rule::RiemannLeft;
  if (s == "riemann_right") return Rule::RiemannRight;
  if (s == "riemann_middle") return Rule::RiemannMiddle;
  if (s == "riemann_trapezoid") return Rule::RiemannTrapezoid;
  throw UserError("unknown integration rule '" + s +
                  "' (known: gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid)");
}

Quadrature quadrature(Rule rule, int64_t n) {
  TORCH_CHECK(n >= 1, "explain: integration needs at least 1 step, got ", n);
  TORCH_CHECK(rule != Rule::RiemannTrapezoid || n >= 2, "explain: riemann_trapezoid needs at least 2 steps, got ", n);
  Quadrature q;
  const double d = static_cast<double>(n);
  switch (rule) {
    case Rule::GaussLegendre: {
      std::vector<double> x, w;
      gauss_legendre(n, x, w);
      for (int64_t i = 0; i < n; ++i) {
        q.alphas.push_back(0.5 * (1.0 + x[i]));  // [-1, 1] -> [0, 1]
        q.weights.push_back(0.5 * w[i]);
      }
      break;
    }
    case Rule::RiemannTrapezoid:
      for (int64_t i = 0; i < n; ++i) {
        q.alphas.push_back(static_cast<double>(i) / (d - 1.0));
        q.weights.push_back((i == 0 || i == n - 1 ? 0.5 : 1.0) / (d - 1.0));
      }
      break;
    default: {
      const double off = rule == Rule::RiemannLeft ? 0.0 : rule == Rule::RiemannRight ? 1.0 : 0.5;
      for (int64_t i = 0; i < n; ++i) {
        q.alphas.push_back((static_cast<double>(i) + off) / d);
        q.weights.push_back(1.0 / d);
      }
    }
  }
  return q;
}

torch::Tensor gradients(const Forward& f, const torch::Tensor& x, const torch::Tensor& target) {
  return input_grad(f, x, target);
}

torch::Tensor input_x_gradient(const Forward& f, const torch::Tensor& x, const torch::Tensor& target) {
  return x.detach() * input_grad(f, x, target);
}

torch::Tensor integrated_gradients(const Forward& f, const torch::Tensor& x, const torch::Tensor& baseline,
                                   const torch::Tensor& target, int64_t steps, Rule rule) {
  TORCH_CHECK(baseline.sizes() == x.sizes(), "explain: baseline ", baseline.sizes(), " differs from input ", x.sizes());
  const auto q = quadrature(rule, steps);
  const auto xd = x.detach(), bd = baseline.detach().to(x.device(), x.scalar_type()), diff = xd - bd;
  auto total = torch::zeros_like(xd);
  for (size_t k = 0; k < q.alphas.size(); ++k) total += q.weights[k] * input_grad(f, bd + q.alphas[k] * diff, target);
  return diff * total;
}

torch::Tensor smoothgrad(const Forward& f, const torch::Tensor& x, const torch::Tensor& target, int64_t samples,
                         double noise, uint64_t seed) {
  TORCH_CHECK(samples >= 1, "explain: smoothgrad needs at least 1 sample, got ", samples);
  TORCH_CHECK(noise >= 0, "explain: smoothgrad noise must be >= 0, got ", noise);
  const auto xd = x.detach();
  const auto flat = xd.flatten(1);
  auto range = (std::get<0>(flat.max(1)) - std::get<0>(flat.min(1))).view({-1});  // [B]
  std::vector<int64_t> bshape(xd.dim(), 1);
  bshape[0] = -1;
  const auto sigma = (noise * range).view(bshape);
  auto gen = at::detail::createCPUGenerator(seed);
  auto total = torch::zeros_like(xd);
  for (int64_t s = 0; s < samples; ++s) {
    auto e = at::randn(xd.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)).to(xd.device(), xd.scalar_type());
    total += input_grad(f, xd + sigma * e, target);
  }
  return total / static_cast<double>(samples);
}

std::vector<LayerInfo> layers(const Forward& f, const torch::Tensor& x) {
  std::vector<LayerInfo> out;
  {
    models::TapScope scope([&](const std::string& name, const torch::Tensor& t) {
      for (const auto& l : out)
        if (l.name == name) return t;
      out.push_back({name, t.sizes().vec()});
      return t;
    });
    torch::NoGradGuard g;
    f(x.narrow(0, 0, std::min<int64_t>(1, x.size(0))));
  }
  return out;
}

std::string pick_layer(const Forward& f, const torch::Tensor& x, const std::string& layer, int64_t min_dims) {
  std::vector<std::string> fit;
  for (const auto& l : layers(f, x))
    if (static_cast<int64_t>(l.shape.size()) >= min_dims) fit.push_back(l.name);
  if (fit.empty()) throw UserError("this model has no layers with spatial maps to explain (no taps of " +
                                   std::to_string(min_dims) + "+ dims); use a gradient method instead");
  if (layer.empty()) return fit.back();
  for (const auto& n : fit)
    if (n == layer) return n;
  throw UserError("unknown layer '" + layer + "'" + text::did_you_mean(layer, fit) + " (valid layers: " +
                  text::join(fit, ", ") + ")");
}

torch::Tensor layer_activation(const Forward& f, const std::string& layer, const torch::Tensor& x) {
  return tapped(f, layer, x);
}

torch::Tensor tapped(const Forward& f, const std::string& layer, const torch::Tensor& x) {
  torch::Tensor kept;
  {
    models::TapScope scope([&](const std::string& name, const torch::Tensor& t) {
      if (name == layer && !kept.defined()) kept = t.detach();
      return t;
    });
    torch::NoGradGuard g;
    f(x);
  }
  TORCH_CHECK(kept.defined(), "explain: the forward never reached layer ", layer);
  return kept;
}

torch::Tensor grad_cam_raw(const Forward& f, const std::string& layer, const torch::Tensor& x,
                           const torch::Tensor& target) {
  auto [a, g] = activation_and_grad(f, layer, x, target);
  TORCH_CHECK(a.dim() >= 3, "explain: Grad-CAM needs a layer [B, C, spatial...], ", layer, " gives ", a.sizes());
  std::vector<int64_t> spatial;
  for (int64_t d = 2; d < a.dim(); ++d) spatial.push_back(d);
  const auto w = g.mean(spatial, /*keepdim=*/true);  // [B, C, 1...]
  return (w * a).sum(1, /*keepdim=*/true);
}

torch::Tensor grad_cam(const Forward& f, const std::string& layer, const torch::Tensor& x, const torch::Tensor& target,
                       bool plus_plus) {
  if (!plus_plus) return torch::relu(grad_cam_raw(f, layer, x, target));
  auto [a, g] = activation_and_grad(f, layer, x, target);
  TORCH_CHECK(a.dim() >= 3, "explain: Grad-CAM++ needs a layer [B, C, spatial...], ", layer, " gives ", a.sizes());
  std::vector<int64_t> spatial;
  for (int64_t d = 2; d < a.dim(); ++d) spatial.push_back(d);
  const auto g2 = g.pow(2), g3 = g.pow(3);
  const auto sum_a = a.sum(spatial, /*keepdim=*/true);
  auto alpha = g2 / (2 * g2 + sum_a * g3 + 1e-7);
  alpha = torch::where(g != 0, alpha, torch::zeros_like(alpha));
  const auto w = (alpha * torch::relu(g)).sum(spatial, /*keepdim=*/true);
  return torch::relu((w * a).sum(1, /*keepdim=*/true));
}

torch::Tensor layer_input_x_gradient(const Forward& f, const std::string& layer, const torch::Tensor& x,
                                     const torch::Tensor& target) {
  auto [a, g] = activation_and_grad(f, layer, x, target);
  return a * g;
}

torch::Tensor layer_integrated_gradients(const Forward& f, const std::string& layer, const torch::Tensor& x,
                                         const torch::Tensor& baseline, const torch::Tensor& target, int64_t steps,
                                         Rule rule) {
  const auto q = quadrature(rule, steps);
  const auto ax = layer_activation(f, layer, x), ab = layer_activation(f, layer, baseline);
  TORCH_CHECK(ax.sizes() == ab.sizes(), "explain: layer ", layer, " gives ", ax.sizes(), " for the input and ",
              ab.sizes(), " for the baseline");
  const auto diff = ax - ab;
  auto total = torch::zeros_like(ax);
  for (size_t k = 0; k < q.alphas.size(); ++k)
    total += q.weights[k] * grad_at_layer(f, layer, x, ab + q.alphas[k] * diff, target);
  return diff * total;
}

}  // namespace smlab::analysis::explain
