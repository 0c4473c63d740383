// Batch policies: MixUp and CutMix (they mix the targets into soft targets, which cross_entropy
// takes as class probabilities) and RandAugment / TrivialAugment over simple float ops. All random
// numbers come from the step's generator, so a resumed run draws the same mixes and ops.
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "core/text.h"
#include "cuda/ops.h"
#include "datasets/augment_detail.h"

namespace smlab::datasets::augment_detail {
namespace {

// ------------------------------------------------------------------------------- MixUp / CutMix

/// The batch's targets as float32 [B, K] on the input's device: class ids become one-hot rows,
/// soft targets (an earlier mix) stay as they are.
torch::Tensor soft_targets(const AugmentBatch& b, const std::string& name) {
  TORCH_CHECK(b.target.defined(), name, " needs the batch's targets");
  if (b.target.is_floating_point() && b.target.dim() == 2) return b.target.to(b.input.device(), torch::kFloat);
  if (b.num_classes <= 0 || b.target.dim() != 1 || b.target.is_floating_point()) {
    std::ostringstream got;
    got << b.target.sizes() << " " << b.target.scalar_type();
    throw UserError("augmentation '" + name + "' mixes class labels: it needs a classification dataset (targets [B] "
                    "class ids), got targets " + got.str());
  }
  return torch::one_hot(b.target.to(b.input.device(), torch::kLong), b.num_classes).to(torch::kFloat);
}

/// MixUp (Zhang et al. 2018) or CutMix (Yun et al. 2019) with lambda ~ Beta(alpha, alpha) per sample
/// (ops::mix_params), applied to the whole batch with probability p; the targets become soft either way.
BatchTransform mix_transform(const Params& prm, bool cut) {
  const double alpha = prm.number("alpha"), p = prm.number("p");
  const std::string name = prm.name();
  return [=](AugmentBatch& b, at::Generator& gen) {
    auto y = soft_targets(b, name);
    // Both draws happen on every step, applied or not: the generator's stream does not depend on p.
    const int64_t seed = draw_seed(gen);
    const bool apply = torch::rand({1}, gen, torch::TensorOptions().dtype(torch::kDouble)).item<double>() < p;
    b.target = y;
    if (!apply) return;
    const auto& x = b.input;
    TORCH_CHECK(x.is_floating_point() && x.dim() >= 2, name, " needs float batches [B, ...], got ", x.sizes(), " ",
                x.scalar_type());
    const int64_t n = x.size(0);
    if (cut) {
      // [B, C, H, W], or [B, C, T, H, W] clips with the same box on every frame.
      TORCH_CHECK(x.dim() >= 4, name, " needs image batches [B, C, H, W] or clips [B, C, T, H, W], got ", x.sizes());
      const int64_t h = x.size(-2), w = x.size(-1);
      const auto [lam, boxes, perm] = ops::mix_params(n, h, w, alpha, seed);
      auto [xm, ym] = ops::cutmix(x.to(torch::kFloat).reshape({n, -1, h, w}), y, perm, boxes);
      b.input = xm.reshape(x.sizes()).to(x.scalar_type());
      b.target = ym;
    } else {
      const auto [lam, boxes, perm] = ops::mix_params(n, 1, 1, alpha, seed);
      auto [xm, ym] = ops::mixup(x.to(torch::kFloat).reshape({n, 1, 1, -1}), y, perm, lam);
      b.input = xm.reshape(x.sizes()).to(x.scalar_type());
      b.target = ym;
    }
  };
}

config::Schema mix_schema(double alpha) {
  return config::Schema()
      .number("alpha", alpha, "lambda ~ Beta(alpha, alpha) per sample", 0.0, std::nullopt, true)
      .number("p", 1.0, "probability of mixing a batch (the targets become soft targets either way)", 0.0, 1.0);
}

// ------------------------------------------------------------------------------- RandAugment

/// One policy op on a float [B, C, H, W] batch: per-sample strength m in [0, 1] (CPU double [B]).
using PolicyOp = torch::Tensor (*)(const torch::Tensor& x, const torch::Tensor& m, at::Generator& gen);

/// +1 or -1 per sample, [B] on the host (torchvision negates a signed op's magnitude with p = 1/2).
torch::Tensor signs(int64_t n, at::Generator& gen) {
  return torch::where(torch::rand({n}, gen, torch::TensorOptions().dtype(torch::kDouble)) < 0.5, -1.0, 1.0);
}

torch::Tensor per_sample(const torch::Tensor& v, const torch::Tensor& x) {
  return v.to(x.device(), x.scalar_type()).view({x.size(0), 1, 1, 1});
}

/// Shifts sample i by (dy[i], dx[i]) pixels, filling with zeros (an affine translate without interpolation).
torch::Tensor translate(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& dx) {
  auto out = torch::zeros_like(x);
  const int64_t h = x.size(2), w = x.size(3);
  for (int64_t i = 0; i < x.size(0); ++i) {
    const int64_t sy = dy[i].item<int64_t>(), sx = dx[i].item<int64_t>();
    const int64_t ch = h - std::abs(sy), cw = w - std::abs(sx);
    if (ch <= 0 || cw <= 0) continue;
    out[i].narrow(1, std::max<int64_t>(sy, 0), ch).narrow(2, std::max<int64_t>(sx, 0), cw)
        .copy_(x[i].narrow(1, std::max<int64_t>(-sy, 0), ch).narrow(2, std::max<int64_t>(-sx, 0), cw));
  }
  return out;
}

/// Translation by up to 45% of the side (torchvision's 150/331), signed.
torch::Tensor shift_amount(const torch::Tensor& m, int64_t side, at::Generator& gen) {
  return (m * 0.45 * static_cast<double>(side) * signs(m.size(0), gen)).round().to(torch::kLong);
}

torch::Tensor op_identity(const torch::Tensor& x, const torch::Tensor&, at::Generator&) { return x; }
torch::Tensor op_hflip(const torch::Tensor& x, const torch::Tensor&, at::Generator&) { return x.flip({-1}); }
torch::Tensor op_translate_x(const torch::Tensor& x, const torch::Tensor& m, at::Generator& gen) {
  return translate(x, torch::zeros({x.size(0)}, torch::kLong), shift_amount(m, x.size(3), gen));
}
torch::Tensor op_translate_y(const torch::Tensor& x, const torch::Tensor& m, at::Generator& gen) {
  return translate(x, shift_amount(m, x.size(2), gen), torch::zeros({x.size(0)}, torch::kLong));
}
/// factor 1 + 0.9 m (signed), as torchvision's brightness/contrast bins.
torch::Tensor factor(const torch::Tensor& m, at::Generator& gen) { return 1.0 + 0.9 * m * signs(m.size(0), gen); }
torch::Tensor op_brightness(const torch::Tensor& x, const torch::Tensor& m, at::Generator& gen) {
  return x * per_sample(factor(m, gen), x);
}
torch::Tensor op_contrast(const torch::Tensor& x, const torch::Tensor& m, at::Generator& gen) {
  const auto mean = x.mean({1, 2, 3}, /*keepdim=*/true);
  return mean + (x - mean) * per_sample(factor(m, gen), x);
}
torch::Tensor op_blur(const torch::Tensor& x, const torch::Tensor& m, at::Generator&) {
  const int64_t side = std::min(x.size(2), x.size(3));
  int64_t k = std::min<int64_t>(13, 2 * (side - 1) + 1);
  if (k % 2 == 0) --k;
  return ops::gaussian_blur(x, (0.1 + 1.9 * m).to(torch::kDouble), k);
}
torch::Tensor op_grayscale(const torch::Tensor& x, const torch::Tensor&, at::Generator&) {
  return x.size(1) == 3 ? ops::grayscale(x, 3) : x;
}
/// Cutout: a box of side m / 2 of the image's, at a uniform position, set to 0.
torch::Tensor op_erase(const torch::Tensor& x, const torch::Tensor& m, at::Generator& gen) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const auto bh = (m * 0.5 * static_cast<double>(h)).round().to(torch::kLong);
  const auto bw = (m * 0.5 * static_cast<double>(w)).round().to(torch::kLong);
  const auto u = torch::rand({n, 2}, gen, torch::TensorOptions().dtype(torch::kDouble));
  const auto y0 = (u.select(1, 0) * (h - bh + 1).to(torch::kDouble)).floor().to(torch::kLong).clamp_max(h - 1);
  const auto x0 = (u.select(1, 1) * (w - bw + 1).to(torch::kDouble)).floor().to(torch::kLong).clamp_max(w - 1);
  return ops::random_erasing(x, torch::stack({y0, x0, bh, bw}, 1), 0.0);
}

const std::vector<std::pair<std::string, PolicyOp>>& policy_ops() {
  static const std::vector<std::pair<std::string, PolicyOp>> ops_ = {
      {"identity", op_identity},       {"hflip", op_hflip},       {"translate_x", op_translate_x},
      {"translate_y", op_translate_y}, {"brightness", op_brightness}, {"contrast", op_contrast},
      {"blur", op_blur},               {"grayscale", op_grayscale}, {"erase", op_erase}};
  return ops_;
}

std::vector<std::string> policy_op_names() {
  std::vector<std::string> out;
  for (const auto& o : policy_ops()) out.push_back(o.first);
  return out;
}

/// `layers` rounds; in each, every sample draws one op from `chosen` uniformly and applies it with
/// strength magnitude / 30 (RandAugment) or a per-sample uniform bin of 0..30 (TrivialAugment).
BatchTransform policy_transform(const Params& prm, int64_t layers, int64_t magnitude, bool trivial) {
  std::vector<PolicyOp> chosen;
  for (const auto& n : prm.strings("ops"))
    for (const auto& o : policy_ops())
      if (o.first == n) chosen.push_back(o.second);
  if (chosen.empty()) prm.fail("ops", "needs at least one op (known: " + text::join(policy_op_names(), ", ") + ")");
  const std::string name = prm.name();
  return on_inputs([=](const torch::Tensor& in, at::Generator& gen) {
    check_float_nchw(in, name);
    auto x = in;
    const int64_t n = x.size(0), k = static_cast<int64_t>(chosen.size());
    const auto dbl = torch::TensorOptions().dtype(torch::kDouble);
    for (int64_t l = 0; l < layers; ++l) {
      const auto pick = torch::randint(0, k, {n}, gen, torch::TensorOptions().dtype(torch::kLong));
      const auto m = trivial ? torch::randint(0, 31, {n}, gen, dbl) / 30.0 : torch::full({n}, magnitude / 30.0, dbl);
      auto y = x;
      for (int64_t j = 0; j < k; ++j) {
        const auto mask = (pick == j).to(x.device()).view({n, 1, 1, 1});
        y = torch::where(mask, chosen[j](x, m, gen), y);
      }
      x = y;
    }
    return x;
  });
}

config::Schema policy_schema(bool trivial) {
  config::Field ops;
  ops.key = "ops";
  ops.type = config::Type::StringList;
  ops.default_yaml = "[" + text::join(policy_op_names(), ", ") + "]";
  ops.help = "the ops drawn from (a subset of the default)";
  ops.choices = policy_op_names();
  config::Schema s;
  if (!trivial) {
    s.integer("num_ops", 2, "ops applied in sequence to each sample (N)", 1, 16)
        .integer("magnitude", 9, "strength of every op on a 0..30 scale (M)", 0, 30);
  }
  return s.add(ops);
}

}  // namespace

void register_policies() {
  add_augmentation(
      "mixup",
      "MixUp (smlab::mixup): x' = lam x + (1 - lam) x[perm], y' the same mix of one-hot targets, lam ~ Beta(alpha, "
      "alpha) per sample, perm = the batch rolled by one; float batches of any shape; training only, the soft "
      "targets go to cross_entropy",
      mix_schema(0.2), [](const YAML::Node& n) { return mix_transform(Params("mixup", n), false); }, nullptr, true);
  add_augmentation(
      "cutmix",
      "CutMix (smlab::cutmix): a box of area (1 - lam) H W from x[perm] pasted into x, targets mixed by the box's "
      "area, lam ~ Beta(alpha, alpha) per sample; float [B, C, H, W] images or [B, C, T, H, W] clips; training only",
      mix_schema(1.0), [](const YAML::Node& n) { return mix_transform(Params("cutmix", n), true); }, nullptr, true);
  add_augmentation(
      "randaugment",
      "RandAugment (Cubuk et al. 2020) on float32 NCHW batches: num_ops ops per sample, each drawn uniformly from "
      "`ops` (identity, hflip, translate_x/y, brightness, contrast, blur, grayscale, erase) at strength magnitude/30",
      policy_schema(false),
      [](const YAML::Node& n) {
        const Params p("randaugment", n);
        return policy_transform(p, p.integer("num_ops"), p.integer("magnitude"), false);
      });
  add_augmentation(
      "trivial_augment",
      "TrivialAugment (Mueller & Hutter 2021) on float32 NCHW batches: one op per sample drawn uniformly from `ops` "
      "at a strength drawn uniformly from 0..30 / 30",
      policy_schema(true),
      [](const YAML::Node& n) { return policy_transform(Params("trivial_augment", n), 1, 0, true); });
}

}  // namespace smlab::datasets::augment_detail
