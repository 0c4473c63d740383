// Calibration and ensemble fitting against analytic facts: a temperature recovered from labels
// sampled at a known temperature, first-order optimality of the fitted weights and of the
// logistic regression, and the ensemble forward against the combination written out here.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "tools/register_all.h"
#include "inference/export.h"
#include "trainers/ensemble.h"

using namespace smlab::trainers;

TEST(Calibration, TemperatureIsRecoveredFromLabelsSampledAtThatTemperature) {
  torch::manual_seed(0);
  const double t0 = 2.5;
  const auto z = torch::randn({40000, 5}, torch::kDouble) * 3;
  const auto y = torch::multinomial(torch::softmax(z / t0, 1), 1).squeeze(1);
  const double t = fit_temperature(z, y);
  EXPECT_NEAR(t, t0, 0.05 * t0);
  // And it is the minimiser: the NLL rises on both sides.
  auto nll = [&](double tt) { return torch::nn::functional::cross_entropy(z / tt, y).item<double>(); };
  EXPECT_LT(nll(t), nll(t * 1.01));
  EXPECT_LT(nll(t), nll(t / 1.01));
}

TEST(Ensemble, MixtureWeightsFavourTheInformativeMemberAndAreOptimal) {
  torch::manual_seed(1);
  const int64_t n = 3000, k = 4;
  const auto y = torch::randint(0, k, {n}, torch::kLong);
  const auto good = torch::softmax(torch::nn::functional::one_hot(y, k).to(torch::kDouble) * 2 + torch::randn({n, k}, torch::kDouble), 1);
  const auto noise = torch::softmax(torch::randn({n, k}, torch::kDouble), 1);
  const auto probs = torch::stack({good, noise, (good + noise) / 2});
  const auto w = fit_mixture_weights(probs, y).to(torch::kDouble);
  EXPECT_NEAR(w.sum().item<double>(), 1.0, 1e-6);
  EXPECT_GT(w[0].item<double>(), 0.8);
  auto nll = [&](const torch::Tensor& ww) {
    return -torch::log((ww.view({-1, 1, 1}) * probs).sum(0).gather(1, y.view({-1, 1})) + 1e-12).mean().item<double>();
  };
  // No move along the simplex lowers the NLL.
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      if (i == j) continue;
      auto v = w.clone();
      const double step = std::min(1e-3, v[i].item<double>());
      v[i] -= step;
      v[j] += step;
      EXPECT_GE(nll(v), nll(w) - 1e-9) << i << "->" << j;
    }
}

TEST(Ensemble, LogisticRegressionSatisfiesFirstOrderOptimality) {
  torch::manual_seed(2);
  const int64_t n = 800, f = 6, k = 3;
  const auto x = torch::randn({n, f}, torch::kDouble);
  const auto y = (x.matmul(torch::randn({f, k}, torch::kDouble)) + torch::randn({n, k}, torch::kDouble)).argmax(1);
  const double l2 = 1e-2;
  auto [w, b] = fit_logistic_regression(x, y, k, l2);
  auto wd = w.to(torch::kDouble).requires_grad_(true), bd = b.to(torch::kDouble).requires_grad_(true);
  auto obj = torch::nn::functional::cross_entropy(torch::addmm(bd, x, wd.t()), y) + 0.5 * l2 * wd.pow(2).sum();
  obj.backward();
  // float32 storage of the solution limits how small the gradient can be.
  EXPECT_LT(wd.grad().abs().max().item<double>(), 1e-4);
  EXPECT_LT(bd.grad().abs().max().item<double>(), 1e-4);
}

TEST(Ensemble, ForwardCombinesTemperatureScaledMembersAndExports) {
  smlab::register_all();
  torch::manual_seed(3);
  const auto cfg = smlab::config::load_string("version: 1\n", "ens.yaml", {"model.name=small_cnn"});
  auto info = smlab::models::example_info(smlab::models::InputKind::Image, 4);
  std::vector<smlab::models::ModelPtr> members = {smlab::models::build(cfg, info), smlab::models::build(cfg, info)};
  const auto temps = torch::tensor({1.5f, 0.7f}), weights = torch::tensor({0.3f, 0.7f});
  const auto x = torch::randn({3, 3, 32, 32});
  for (const auto method : {EnsembleMethod::Mean, EnsembleMethod::Weighted, EnsembleMethod::Stacking}) {
    SCOPED_TRACE(ensemble_method_name(method));
    const auto sw = torch::randn({4, 8}), sb = torch::randn({4});
    EnsembleModel ens(members, method, temps, weights, sw, sb);
    ens.eval();
    torch::NoGradGuard ng;
    const auto p0 = torch::softmax(members[0]->forward(x) / 1.5, 1), p1 = torch::softmax(members[1]->forward(x) / 0.7, 1);
    torch::Tensor expected;
    if (method == EnsembleMethod::Stacking)
      expected = torch::softmax(torch::cat({torch::log(p0 + 1e-12), torch::log(p1 + 1e-12)}, 1).matmul(sw.t()) + sb, 1);
    else
      expected = 0.3 * p0 + 0.7 * p1;  // Mean uses the weights it is given (the CLI passes 1/M)
    EXPECT_TRUE(torch::allclose(ens.forward(x), expected, 1e-5, 1e-6));
    const auto a = smlab::inference::export_model(ens, cfg, info, {"ensemble", "probabilities"});
    EXPECT_EQ(a.spec.output.outputs, smlab::inference::OutputKind::Probabilities);
    EXPECT_LE(a.spec.check_error, 1e-5);
  }
}
