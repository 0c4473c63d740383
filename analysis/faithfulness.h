// Faithfulness of attribution maps: deletion and insertion curves (Petsiuk et al. 2018, RISE) and
// the area over the perturbation curve (AOPC, Samek et al. 2017), against seeded random rankings.
//
// An attribution ranks an input's positions (pixels of an image, with every channel; pixels of
// every frame of a clip; real tokens of a text, padding never counted) from the highest score to
// the lowest (a stable sort: ties keep their position order). With K steps, step k perturbs the
// n_k = round(k n / K) top-ranked positions of a row of n positions (n_k = (2 k n + K) div 2K):
//
//   deletion   x_k = x with the top n_k positions set to the baseline (step 0 = x, step K = baseline)
//   insertion  x_k = the baseline with the top n_k positions restored from x (step 0 = baseline, K = x)
//
// and records p_k = softmax(f(x_k))[target]. Baselines: pixels 0 (black, the integrated gradients
// baseline) or the image blurred by a Gaussian of std `blur_sigma` pixels per frame (scipy's
// gaussian_filter with mode 'nearest', truncate 3); tokens the padding id 0 (insertion starts
// from the all-padding text, which the text models read as empty, and keeps the top n_k tokens).
// Per row: AUC = the trapezoid over fractions k / K in [0, 1]; AOPC = mean over k = 0..K of
// (p(x) - p_k), i.e. the mean drop from the unperturbed probability (deletion: higher is more
// faithful; insertion: lower is). The random reference ranks the same positions by R maps of
// uniform noise (a CPU generator seeded by `seed`, drawn as one [R, B, positions...] tensor) and
// averages the R curves per row. Each step is one forward per batch of rows (`batch_size`).
//
//   auto r = faithfulness::evaluate(f, x, scores, target, models::InputKind::Image, {.steps = 20});
//   r.deletion.method;   // [B, K+1]
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/explain.h"
#include "models/model.h"

namespace smlab::analysis::faithfulness {

enum class Baseline { Zeros, Blur };
/// zeros or blur; anything else is a UserError.
Baseline parse_baseline(const std::string& s);

struct FaithfulnessOptions {
  int64_t steps = 20;        ///< K: curve points k = 0..K
  int64_t random_maps = 5;   ///< R random rankings averaged into the reference curve
  uint64_t seed = 0;         ///< seeds the random rankings
  Baseline baseline = Baseline::Zeros;  ///< pixels only; tokens are replaced by padding
  double blur_sigma = 2.0;   ///< pixels, for Baseline::Blur
  int64_t batch_size = 256;  ///< rows per forward
};

/// Curves [B, K+1] of the target's probability, for the method's ranking and the random one (the
/// mean over R random rankings).
struct CurvePair {
  torch::Tensor method, random;
};

struct FaithfulnessResult {
  CurvePair deletion, insertion;
  torch::Tensor prob;       ///< [B]: p(x), the unperturbed probability of the target
  torch::Tensor positions;  ///< [B]: n, the positions ranked per row (real tokens for text)
  std::string baseline;     ///< what perturbed positions take: "zeros", "blur(sigma=2)", "padding"
  int64_t steps = 0, random_maps = 0;
  uint64_t seed = 0;
  std::vector<int64_t> input_shape;  ///< x's: the random maps are drawn as [R, B, positions...] of it
};

/// The ranks of `scores` [B, positions...] within each row, descending, stable (0 = highest score);
/// positions where `valid` (same shape, bool) is false rank after every valid one.
torch::Tensor ranks(const torch::Tensor& scores, const torch::Tensor& valid);

/// The Gaussian blur of float pixels NCHW or NCTHW over H and W (each frame on its own).
torch::Tensor blur(const torch::Tensor& x, double sigma);

/// Deletion (and, for pixels, insertion) curves of `scores` and of random rankings. `x`: float
/// pixels NC(T)HW in the forward's units, or int64 token ids [B, L] (0 = padding); `scores`:
/// [B, (T,) H, W] or [B, L] on any device; `target`: int64 [B]. The forward's outputs are logits.
FaithfulnessResult evaluate(const explain::Forward& f, const torch::Tensor& x, const torch::Tensor& scores,
                            const torch::Tensor& target, models::InputKind kind, const FaithfulnessOptions& o);

/// Per-row AUC (trapezoid over k / K) and AOPC (mean of prob - curve) of curves [B, K+1]: [B] each.
torch::Tensor auc(const torch::Tensor& curves);
torch::Tensor aopc(const torch::Tensor& curves, const torch::Tensor& prob);

/// faithfulness.json: the options, per row (id, target, p(x), n, each curve, AUC, AOPC) and the
/// summary per curve (mean curve, mean AUC and AOPC for the method and for random, and the paired
/// difference method - random with its 95% t interval over rows and p value).
nlohmann::json to_json(const FaithfulnessResult& r, const std::vector<std::string>& ids, const torch::Tensor& target,
                       const std::string& method);

/// One line: "deletion AUC 0.21 (random 0.43, diff -0.22 [-0.24, -0.20]); insertion AUC ...".
std::string summary_line(const nlohmann::json& j);

// Mass in the object's box (clips of one object on a zero background, e.g. Moving-MNIST): per
// frame, the share of a map's |mass| that falls inside the tight bounding box of the frame's
// non-zero pixels, against the box's share of the frame (what a map spread evenly would give).
// Frames wrap around (a torus), so the box is the shortest cyclic interval of rows and of columns
// that holds every non-zero pixel: the complement of the longest cyclic run of empty rows (columns).

/// [B, T, H, W] bool: each frame's object box, from clips NCTHW (a pixel counts when any channel is > 0).
torch::Tensor object_boxes(const torch::Tensor& clips);

/// [B, T]: sum of |maps| inside `boxes` / sum of |maps| per frame (NaN where a frame has no mass).
torch::Tensor mass_inside(const torch::Tensor& maps, const torch::Tensor& boxes);

/// box_mass.json: per frame the mean mass share and the mean box share over the clips, per clip
/// the same per frame with the boxes ([y0, h, x0, w]: rows y0 .. y0 + h - 1 mod H), and overall (every frame with mass) the means, their ratio and the paired
/// difference (mass - box share) with its 95% t interval over clips (each clip's mean over frames).
nlohmann::json box_mass_json(const torch::Tensor& mass, const torch::Tensor& boxes, const std::vector<std::string>& ids,
                             const std::string& method);
std::string box_mass_line(const nlohmann::json& j);

}  // namespace smlab::analysis::faithfulness
