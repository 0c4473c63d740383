// Ensembles and calibration of trained classifiers (`smlab ensemble`).
//
// Members are runs on the same data. Their logits on the validation split fit:
//   - temperature scaling per member (Guo et al. 2017): T minimising the NLL of softmax(z / T);
//   - the combination: `mean` of probabilities, `weighted` (simplex weights minimising the
//     validation NLL of the mixture), or `stacking` (multinomial logistic regression on the
//     members' log-probabilities, L2-regularised);
// and the test split reports top-1, NLL and ECE for every member before and after calibration,
// for the ensemble, and the ensemble's gain over its best member. The ensemble is a Model whose
// output is class probabilities, so it exports (with its members' preprocessing) like any model.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/model.h"

namespace smlab::trainers {

/// The temperature T in [0.05, 20] minimising mean NLL(softmax(logits / T), labels). The NLL is
/// convex in 1/T, so a golden-section search over log T finds the minimum to ~1e-6 relative.
double fit_temperature(const torch::Tensor& logits, const torch::Tensor& labels);

/// Mixture weights on the simplex (softmax of free parameters, L-BFGS) minimising the mean NLL of
/// sum_m w_m probs[m] on `labels`. probs: [M, N, K].
torch::Tensor fit_mixture_weights(const torch::Tensor& probs, const torch::Tensor& labels);

/// Multinomial logistic regression features [N, F] -> K classes, minimising mean cross-entropy
/// plus l2/2 * |W|^2 with L-BFGS. Returns {weight [K, F], bias [K]}.
std::pair<torch::Tensor, torch::Tensor> fit_logistic_regression(const torch::Tensor& features, const torch::Tensor& labels,
                                                                int64_t classes, double l2 = 1e-3);

enum class EnsembleMethod { Mean, Weighted, Stacking };
EnsembleMethod parse_ensemble_method(const std::string& name);  ///< mean, weighted, stacking (UsageError otherwise)
std::string ensemble_method_name(EnsembleMethod m);

/// Members -> softmax(z_m / T_m) -> combination -> class probabilities [B, K].
class EnsembleModel : public models::Model {
 public:
  EnsembleModel(std::vector<models::ModelPtr> members, EnsembleMethod method, torch::Tensor temperatures,
                torch::Tensor weights, torch::Tensor stack_weight = {}, torch::Tensor stack_bias = {});
  torch::Tensor forward(const torch::Tensor& x) override;
  /// The combination applied to member probabilities [M, B, K] (what forward does after the members).
  torch::Tensor combine(const torch::Tensor& probs);

 private:
  torch::nn::ModuleList members_;
  EnsembleMethod method_;
  torch::Tensor temperatures_, weights_;
  torch::nn::Linear stacker_{nullptr};
};

}  // namespace smlab::trainers
