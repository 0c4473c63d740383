#include "trainers/ensemble.h"

#include <cmath>

#include "core/error.h"

namespace smlab::trainers {

double fit_temperature(const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard ng;
  const auto z = logits.to(torch::kDouble);
  auto nll = [&](double u) { return torch::nn::functional::cross_entropy(z * std::exp(-u), labels).item<double>(); };
  // Golden-section search on u = log T: the NLL is convex in 1/T, hence unimodal in u.
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = std::log(0.05), b = std::log(20.0);
  double c = b - g * (b - a), d = a + g * (b - a), fc = nll(c), fd = nll(d);
  for (int i = 0; i < 100 && b - a > 1e-9; ++i) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = nll(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = nll(d);
    }
  }
  return std::exp((a + b) / 2);
}

namespace {

/// Minimises `loss()` over `params` with L-BFGS (strong Wolfe line search).
void lbfgs(std::vector<torch::Tensor> params, const std::function<torch::Tensor()>& loss, int iters) {
  torch::optim::LBFGS opt(params, torch::optim::LBFGSOptions(1.0).max_iter(iters).line_search_fn("strong_wolfe")
                                      .tolerance_grad(1e-9).tolerance_change(1e-12));
  opt.step([&] {
    opt.zero_grad();
    auto l = loss();
    l.backward();
    return l;
  });
}

}  // namespace

torch::Tensor fit_mixture_weights(const torch::Tensor& probs, const torch::Tensor& labels) {
  TORCH_CHECK(probs.dim() == 3, "fit_mixture_weights: probs must be [M, N, K]");
  const auto p = probs.to(torch::kDouble).detach();
  // q[m, n] = probability member m gives to the true class of sample n.
  const auto q = p.gather(2, labels.view({1, -1, 1}).expand({p.size(0), -1, 1}).to(torch::kLong)).squeeze(2);
  auto a = torch::zeros({p.size(0)}, torch::TensorOptions().dtype(torch::kDouble).requires_grad(true));
  lbfgs({a}, [&] { return -torch::log(torch::softmax(a, 0).matmul(q) + 1e-12).mean(); }, 200);
  return torch::softmax(a.detach(), 0).to(torch::kFloat);
}

std::pair<torch::Tensor, torch::Tensor> fit_logistic_regression(const torch::Tensor& features, const torch::Tensor& labels,
                                                                int64_t classes, double l2) {
  const auto x = features.to(torch::kDouble).detach();
  auto w = torch::zeros({classes, x.size(1)}, torch::TensorOptions().dtype(torch::kDouble).requires_grad(true));
  auto b = torch::zeros({classes}, torch::TensorOptions().dtype(torch::kDouble).requires_grad(true));
  lbfgs({w, b},
        [&] {
          return torch::nn::functional::cross_entropy(torch::addmm(b, x, w.t()), labels) + 0.5 * l2 * w.pow(2).sum();
        },
        500);
  return {w.detach().to(torch::kFloat), b.detach().to(torch::kFloat)};
}

EnsembleMethod parse_ensemble_method(const std::string& name) {
  if (name == "mean") return EnsembleMethod::Mean;
  if (name == "weighted") return EnsembleMethod::Weighted;
  if (name == "stacking") return EnsembleMethod::Stacking;
  throw UsageError("ensemble method must be mean, weighted or stacking, got '" + name + "'");
}

std::string ensemble_method_name(EnsembleMethod m) {
  switch (m) {
    case EnsembleMethod::Mean: return "mean";
    case EnsembleMethod::Weighted: return "weighted";
    case EnsembleMethod::Stacking: return "stacking";
  }
  return "?";
}

EnsembleModel::EnsembleModel(std::vector<models::ModelPtr> members, EnsembleMethod method, torch::Tensor temperatures,
                             torch::Tensor weights, torch::Tensor stack_weight, torch::Tensor stack_bias)
    : method_(method) {
  TORCH_CHECK(!members.empty(), "an ensemble needs members");
  members_ = register_module("members", torch::nn::ModuleList());
  for (auto& m : members) members_->push_back(m);
  temperatures_ = register_buffer("temperatures", temperatures.to(torch::kFloat).contiguous());
  weights_ = register_buffer("weights", weights.to(torch::kFloat).contiguous());
  if (method == EnsembleMethod::Stacking) {
    stacker_ = register_module("stacker", torch::nn::Linear(stack_weight.size(1), stack_weight.size(0)));
    torch::NoGradGuard ng;
    stacker_->weight.copy_(stack_weight);
    stacker_->bias.copy_(stack_bias);
  }
}

torch::Tensor EnsembleModel::combine(const torch::Tensor& probs) {
  if (method_ == EnsembleMethod::Stacking)
    return torch::softmax(stacker_->forward(torch::log(probs + 1e-12).transpose(0, 1).flatten(1)), 1);
  return (weights_.view({-1, 1, 1}) * probs).sum(0);
}

torch::Tensor EnsembleModel::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> probs;
  for (size_t i = 0; i < members_->size(); ++i) {
    auto logits = members_[i]->as<models::Model>()->forward(x);
    probs.push_back(torch::softmax(logits.to(torch::kFloat) / temperatures_[static_cast<int64_t>(i)], 1));
  }
  return combine(torch::stack(probs));
}

}  // namespace smlab::trainers
