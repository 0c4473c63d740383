// How unsure a classifier is of each prediction, from its class probabilities [n, C] (higher =
// less sure): entropy -sum p ln p (0 ln 0 = 0), margin 1 - (p_(1) - p_(2)), least_confident
// 1 - p_(1). `smlab score --uncertainty` writes it per row; `smlab select` (analysis/uncertainty.h)
// ranks by it and adds the ensemble disagreement measures.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace smlab::inference {

/// Per-row uncertainty (float64) of probabilities [..., C]: one value per row, [...]; throws UserError
/// for an unknown strategy.
torch::Tensor prediction_uncertainty(const torch::Tensor& probs, const std::string& strategy);

/// entropy, margin, least_confident.
const std::vector<std::string>& prediction_uncertainty_names();

}  // namespace smlab::inference
