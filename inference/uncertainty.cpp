#include "inference/uncertainty.h"

#include <torch/torch.h>

#include "core/error.h"
#include "core/text.h"

namespace smlab::inference {

const std::vector<std::string>& prediction_uncertainty_names() {
  static const std::vector<std::string> n = {"entropy", "margin", "least_confident"};
  return n;
}

torch::Tensor prediction_uncertainty(const torch::Tensor& probs, const std::string& strategy) {
  const auto p = probs.to(torch::kDouble);
  if (strategy == "entropy") return -(p * torch::where(p > 0, p.log(), torch::zeros_like(p))).sum(-1);
  if (strategy == "least_confident") return 1.0 - std::get<0>(p.max(-1));
  if (strategy == "margin") {
    if (p.size(-1) < 2) return torch::zeros({p.size(0)}, torch::kDouble);
    const auto top = std::get<0>(p.topk(2, -1));
    return 1.0 - (top.select(-1, 0) - top.select(-1, 1));
  }
  throw UserError("unknown uncertainty '" + strategy + "'" + text::did_you_mean(strategy, prediction_uncertainty_names()) +
                  " (" + text::join(prediction_uncertainty_names(), ", ") + ")");
}

}  // namespace smlab::inference
