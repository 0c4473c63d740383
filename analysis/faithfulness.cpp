#include "analysis/faithfulness.h"

#include <cstdio>
#include <limits>
#include <stdexcept>

#include "analysis/stats.h"
#include "core/error.h"

namespace smlab::analysis::faithfulness {
namespace {

using models::InputKind;
namespace F = torch::nn::functional;

/// softmax(f(x))[target] per row, as doubles on the CPU.
torch::Tensor target_prob(const explain::Forward& f, const torch::Tensor& x, const torch::Tensor& target) {
  torch::NoGradGuard g;
  const auto out = f(x).to(torch::kFloat);
  TORCH_CHECK(out.dim() == 2, "faithfulness: model outputs must be [B, K], got ", out.sizes());
  const auto p = torch::softmax(out, 1).gather(1, target.to(out.device()).view({-1, 1})).view({-1});
  return p.to(torch::kCPU, torch::kDouble);
}

/// Curves [B, K+1]: at step k, the n_k top-ranked positions of `from` take the value of `to`.
/// `rank` is [B, positions...]; for pixels it broadcasts over the channel dim of `from`.
torch::Tensor curves(const explain::Forward& f, const torch::Tensor& from, const torch::Tensor& to,
                     const torch::Tensor& rank, const torch::Tensor& n, const torch::Tensor& target, bool pixels,
                     const FaithfulnessOptions& o) {
  const int64_t rows = from.size(0), k_max = o.steps;
  auto out = torch::empty({rows, k_max + 1}, torch::kDouble);
  for (int64_t i = 0; i < rows; i += o.batch_size) {
    const int64_t m = std::min(o.batch_size, rows - i);
    const auto fr = from.narrow(0, i, m), t = to.narrow(0, i, m), tg = target.narrow(0, i, m);
    auto r = rank.narrow(0, i, m);
    if (pixels) r = r.unsqueeze(1);
    std::vector<int64_t> shape(r.dim(), 1);
    shape[0] = m;
    const auto nn = n.narrow(0, i, m).view(shape);
    for (int64_t k = 0; k <= k_max; ++k) {
      const auto nk = torch::div(nn * (2 * k) + k_max, 2 * k_max, "floor");  // round(k n / K), halves up
      out.narrow(0, i, m).select(1, k).copy_(target_prob(f, torch::where(r < nk, t, fr), tg));
    }
  }
  return out;
}

nlohmann::json vec(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<double> values(const torch::Tensor& t) { return vec(t).get<std::vector<double>>(); }

/// Method vs random of one per-row statistic: means and the paired difference.
nlohmann::json compare(const torch::Tensor& method, const torch::Tensor& random) {
  nlohmann::json j{{"method", method.mean().item<double>()}, {"random", random.mean().item<double>()}};
  if (method.size(0) < 2) {
    j["difference"] = {{"mean", (method - random).mean().item<double>()}, {"n", method.size(0)}};
    return j;
  }
  const auto p = stats::paired_t_test(values(method), values(random), 0.95);
  j["difference"] = {{"mean", p.mean_diff}, {"ci95", {p.diff_ci.low, p.diff_ci.high}}, {"p", p.p_two_sided},
                     {"n", p.n}};
  return j;
}

nlohmann::json curve_summary(const CurvePair& c, const torch::Tensor& prob) {
  return {{"mean_curve", {{"method", vec(c.method.mean(0))}, {"random", vec(c.random.mean(0))}}},
          {"auc", compare(auc(c.method), auc(c.random))},
          {"aopc", compare(aopc(c.method, prob), aopc(c.random, prob))}};
}

/// The shortest cyclic interval of [0, n) that holds every occupied index: the complement of the
/// longest cyclic run of empty ones (all false when nothing is occupied).
std::vector<bool> cyclic_cover(const std::vector<bool>& occ) {
  const auto n = static_cast<int64_t>(occ.size());
  int64_t best = 0, end = -1, run = 0, occupied = 0;
  for (bool o : occ) occupied += o;
  if (occupied == 0) return std::vector<bool>(occ.size(), false);
  for (int64_t i = 0; i < 2 * n; ++i) {
    run = occ[i % n] ? 0 : run + 1;
    if (run > best && run < n) best = run, end = i;
  }
  std::vector<bool> out(occ.size(), true);
  for (int64_t j = 0; j < best; ++j) out[((end - j) % n + n) % n] = false;
  return out;
}

/// (start, length) of the cyclic interval where `on` [n] is true (0, 0 when nowhere).
std::pair<int64_t, int64_t> cyclic_interval(const torch::Tensor& on) {
  const auto v = on.to(torch::kCPU).contiguous();
  const auto a = v.accessor<bool, 1>();
  const int64_t n = v.size(0);
  int64_t len = 0, start = 0;
  for (int64_t i = 0; i < n; ++i) len += a[i];
  for (int64_t i = 0; i < n; ++i)
    if (a[i] && !a[(i + n - 1) % n]) start = i;
  return {len == n ? 0 : start, len};
}

/// Per frame [y0, h, x0, w] of the boxes [T, H, W] (cyclic: rows y0 .. y0 + h - 1 mod H).
nlohmann::json box_bounds(const torch::Tensor& boxes) {
  auto j = nlohmann::json::array();
  for (int64_t f = 0; f < boxes.size(0); ++f) {
    const auto [y0, h] = cyclic_interval(boxes[f].any(1));
    const auto [x0, w] = cyclic_interval(boxes[f].any(0));
    j.push_back({y0, h, x0, w});
  }
  return j;
}

nlohmann::json item_curves(const CurvePair& c, const torch::Tensor& prob, int64_t i) {
  const auto a = auc(c.method.narrow(0, i, 1)), ar = auc(c.random.narrow(0, i, 1));
  const auto p = prob.narrow(0, i, 1);
  return {{"method", vec(c.method[i])}, {"random", vec(c.random[i])},
          {"auc", {{"method", a.item<double>()}, {"random", ar.item<double>()}}},
          {"aopc", {{"method", aopc(c.method.narrow(0, i, 1), p).item<double>()},
                    {"random", aopc(c.random.narrow(0, i, 1), p).item<double>()}}}};
}

}  // namespace

Baseline parse_baseline(const std::string& s) {
  if (s == "zeros") return Baseline::Zeros;
  if (s == "blur") return Baseline::Blur;
  throw UserError("unknown faithfulness baseline '" + s + "' (known: zeros, blur)");
}

torch::Tensor ranks(const torch::Tensor& scores, const torch::Tensor& valid) {
  TORCH_CHECK(scores.sizes() == valid.sizes(), "faithfulness: scores ", scores.sizes(), " and mask ", valid.sizes());
  const auto flat = scores.flatten(1).to(torch::kDouble);
  const auto key = torch::where(valid.flatten(1).to(flat.device()), flat,
                                torch::full_like(flat, -std::numeric_limits<double>::infinity()));
  const auto order = torch::argsort(key, /*stable=*/true, /*dim=*/1, /*descending=*/true);
  auto rank = torch::empty_like(order);
  rank.scatter_(1, order, torch::arange(order.size(1), order.options()).expand_as(order).contiguous());
  return rank.view(scores.sizes());
}

torch::Tensor blur(const torch::Tensor& x, double sigma) {
  TORCH_CHECK(x.dim() == 4 || x.dim() == 5, "faithfulness: blur takes NCHW or NCTHW pixels, got ", x.sizes());
  if (sigma <= 0) return x.clone();
  const int64_t radius = static_cast<int64_t>(3.0 * sigma + 0.5);  // scipy's truncate=3
  const auto t = torch::arange(-radius, radius + 1, torch::kDouble);
  auto k = torch::exp(-0.5 * (t / sigma).pow(2));
  k = (k / k.sum()).to(x.device(), x.scalar_type());
  const auto sizes = x.sizes().vec();
  const int64_t h = sizes[sizes.size() - 2], w = sizes.back();
  auto y = x.reshape({-1, 1, h, w});
  y = F::pad(y, F::PadFuncOptions({radius, radius, radius, radius}).mode(torch::kReplicate));
  y = F::conv2d(y, k.view({1, 1, 1, -1}));
  y = F::conv2d(y, k.view({1, 1, -1, 1}));
  return y.reshape(sizes);
}

FaithfulnessResult evaluate(const explain::Forward& f, const torch::Tensor& x, const torch::Tensor& scores,
                            const torch::Tensor& target, InputKind kind, const FaithfulnessOptions& o) {
  const bool tokens = kind == InputKind::Tokens;
  if (!tokens && kind != InputKind::Image && kind != InputKind::Video)
    throw UserError("faithfulness curves take images, clips or texts, not " + models::input_kind_name(kind) +
                    " inputs");
  if (o.steps < 1 || o.random_maps < 1 || o.batch_size < 1)
    throw UserError("faithfulness needs steps, random maps and batch size >= 1");
  std::vector<int64_t> want = x.sizes().vec();
  if (!tokens) want.erase(want.begin() + 1);  // no channel dim in the map
  TORCH_CHECK(scores.sizes().vec() == want, "faithfulness: scores ", scores.sizes(), " do not fit input ", x.sizes());
  const auto dev = x.device();
  const auto s = scores.to(dev, torch::kFloat);
  const auto valid = tokens ? (x != 0) : torch::ones_like(s, torch::kBool);
  torch::Tensor base = torch::zeros_like(x);
  FaithfulnessResult r;
  r.baseline = tokens ? "padding" : "zeros";
  if (!tokens && o.baseline == Baseline::Blur) {
    base = blur(x, o.blur_sigma);
    char b[64];
    std::snprintf(b, sizeof b, "blur(sigma=%g)", o.blur_sigma);
    r.baseline = b;
  }
  const auto n = valid.flatten(1).sum(1);
  r.positions = n.to(torch::kCPU);
  r.steps = o.steps;
  r.random_maps = o.random_maps;
  r.seed = o.seed;
  r.input_shape = x.sizes().vec();
  r.prob = torch::empty({x.size(0)}, torch::kDouble);
  for (int64_t i = 0; i < x.size(0); i += o.batch_size) {
    const int64_t m = std::min(o.batch_size, x.size(0) - i);
    r.prob.narrow(0, i, m).copy_(target_prob(f, x.narrow(0, i, m), target.narrow(0, i, m)));
  }
  const auto rank = ranks(s, valid);
  r.deletion.method = curves(f, x, base, rank, n, target, !tokens, o);
  r.insertion.method = curves(f, base, x, rank, n, target, !tokens, o);
  auto gen = at::detail::createCPUGenerator(o.seed);
  std::vector<int64_t> noise_shape{o.random_maps};
  for (auto d : s.sizes()) noise_shape.push_back(d);
  const auto noise = at::rand(noise_shape, gen, torch::TensorOptions().dtype(torch::kFloat)).to(dev);
  r.deletion.random = torch::zeros_like(r.deletion.method);
  r.insertion.random = torch::zeros_like(r.insertion.method);
  for (int64_t k = 0; k < o.random_maps; ++k) {
    const auto rk = ranks(noise[k], valid);
    r.deletion.random += curves(f, x, base, rk, n, target, !tokens, o);
    r.insertion.random += curves(f, base, x, rk, n, target, !tokens, o);
  }
  r.deletion.random /= static_cast<double>(o.random_maps);
  r.insertion.random /= static_cast<double>(o.random_maps);
  return r;
}

torch::Tensor auc(const torch::Tensor& c) {
  const int64_t k = c.size(1) - 1;
  TORCH_CHECK(k >= 1, "faithfulness: a curve needs at least 2 points");
  return (c.sum(1) - 0.5 * (c.select(1, 0) + c.select(1, k))) / static_cast<double>(k);
}

torch::Tensor aopc(const torch::Tensor& c, const torch::Tensor& prob) { return prob.to(c.dtype()) - c.mean(1); }

nlohmann::json to_json(const FaithfulnessResult& r, const std::vector<std::string>& ids, const torch::Tensor& target,
                       const std::string& method) {
  std::vector<double> fractions;
  for (int64_t k = 0; k <= r.steps; ++k) fractions.push_back(static_cast<double>(k) / static_cast<double>(r.steps));
  auto items = nlohmann::json::array();
  for (int64_t i = 0; i < r.prob.size(0); ++i) {
    items.push_back({{"id", i < static_cast<int64_t>(ids.size()) ? ids[i] : std::to_string(i)},
                     {"target", target[i].item<int64_t>()}, {"probability", r.prob[i].item<double>()},
                     {"positions", r.positions[i].item<int64_t>()},
                     {"deletion", item_curves(r.deletion, r.prob, i)},
                     {"insertion", item_curves(r.insertion, r.prob, i)}});
  }
  return {{"method", method}, {"steps", r.steps}, {"random_maps", r.random_maps}, {"seed", r.seed},
          {"input_shape", r.input_shape}, {"baseline", r.baseline},
          {"fractions", fractions}, {"rows", r.prob.size(0)},
          {"mean_probability", r.prob.mean().item<double>()},
          {"deletion", curve_summary(r.deletion, r.prob)}, {"insertion", curve_summary(r.insertion, r.prob)},
          {"items", items}};
}

std::string summary_line(const nlohmann::json& j) {
  std::string out = "faithfulness of " + j["method"].get<std::string>() + " over " + j["rows"].dump() + " inputs (" +
                    j["steps"].dump() + " steps, " + j["random_maps"].dump() + " random maps, baseline " +
                    j["baseline"].get<std::string>() + "):";
  for (const char* curve : {"deletion", "insertion"}) {
    const auto& a = j[curve]["auc"];
    char b[256];
    std::snprintf(b, sizeof b, " %s AUC %.4f vs random %.4f (diff %+.4f", curve, a["method"].get<double>(),
                  a["random"].get<double>(), a["difference"]["mean"].get<double>());
    out += b;
    if (a["difference"].contains("ci95")) {
      std::snprintf(b, sizeof b, ", 95%% CI [%+.4f, %+.4f]", a["difference"]["ci95"][0].get<double>(),
                    a["difference"]["ci95"][1].get<double>());
      out += b;
    }
    out += std::string(")") + (curve[0] == 'd' ? ";" : "");
  }
  return out;
}

torch::Tensor object_boxes(const torch::Tensor& clips) {
  TORCH_CHECK(clips.dim() == 5, "faithfulness: object boxes take clips NCTHW, got ", clips.sizes());
  const auto occ = (clips.detach().to(torch::kCPU) > 0).any(1);  // [B, T, H, W]
  const auto rows = occ.any(3).contiguous(), cols = occ.any(2).contiguous();
  const int64_t b = occ.size(0), t = occ.size(1), h = occ.size(2), w = occ.size(3);
  auto out = torch::zeros({b, t, h, w}, torch::kBool);
  auto ra = rows.accessor<bool, 3>(), ca = cols.accessor<bool, 3>();
  auto oa = out.accessor<bool, 4>();
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t f = 0; f < t; ++f) {
      std::vector<bool> r(h), c(w);
      for (int64_t y = 0; y < h; ++y) r[y] = ra[i][f][y];
      for (int64_t x = 0; x < w; ++x) c[x] = ca[i][f][x];
      r = cyclic_cover(r);
      c = cyclic_cover(c);
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) oa[i][f][y][x] = r[y] && c[x];
    }
  }
  return out;
}

torch::Tensor mass_inside(const torch::Tensor& maps, const torch::Tensor& boxes) {
  TORCH_CHECK(maps.sizes() == boxes.sizes(), "faithfulness: maps ", maps.sizes(), " and boxes ", boxes.sizes());
  const auto m = maps.detach().to(torch::kCPU, torch::kDouble).abs();
  return (m * boxes.to(torch::kCPU, torch::kDouble)).sum({2, 3}) / m.sum({2, 3});
}

nlohmann::json box_mass_json(const torch::Tensor& mass, const torch::Tensor& boxes, const std::vector<std::string>& ids,
                             const std::string& method) {
  const auto share = boxes.to(torch::kDouble).mean({2, 3});  // [B, T]
  const auto has = mass.isfinite();
  const auto frames_with = has.to(torch::kDouble).sum(0).clamp_min(1.0);
  const auto mass0 = torch::where(has, mass, torch::zeros_like(mass)), share0 = torch::where(has, share, torch::zeros_like(share));
  auto per_frame = nlohmann::json::array();
  for (int64_t f = 0; f < mass.size(1); ++f)
    per_frame.push_back({{"frame", f}, {"clips", has.select(1, f).sum().item<int64_t>()},
                         {"mass", (mass0.select(1, f).sum() / frames_with[f]).item<double>()},
                         {"box_share", (share0.select(1, f).sum() / frames_with[f]).item<double>()}});
  std::vector<double> clip_mass, clip_share;
  auto items = nlohmann::json::array();
  for (int64_t i = 0; i < mass.size(0); ++i) {
    const auto n = has[i].sum().item<int64_t>();
    items.push_back({{"id", i < static_cast<int64_t>(ids.size()) ? ids[i] : std::to_string(i)},
                     {"mass", vec(mass[i])}, {"box_share", vec(share[i])}, {"boxes", box_bounds(boxes[i])}});
    if (n == 0) continue;
    clip_mass.push_back(mass0[i].sum().item<double>() / static_cast<double>(n));
    clip_share.push_back(share0[i].sum().item<double>() / static_cast<double>(n));
  }
  nlohmann::json j{{"method", method}, {"clips", mass.size(0)}, {"clips_with_mass", clip_mass.size()},
                   {"per_frame", per_frame}, {"items", items}};
  if (clip_mass.size() >= 2) {
    const auto p = stats::paired_t_test(clip_mass, clip_share, 0.95);
    const double m = stats::mean(clip_mass), sh = stats::mean(clip_share);
    j["mean"] = {{"mass", m}, {"box_share", sh}, {"ratio", m / sh},
                 {"difference", {{"mean", p.mean_diff}, {"ci95", {p.diff_ci.low, p.diff_ci.high}}, {"p", p.p_two_sided}}}};
  }
  return j;
}

std::string box_mass_line(const nlohmann::json& j) {
  if (!j.contains("mean")) return "box mass: fewer than 2 clips with a non-zero map";
  const auto& m = j["mean"];
  char b[320];
  std::snprintf(b, sizeof b,
                "%s mass in the object's box: %.4f of the map vs the box's %.4f of the frame (x%.2f; diff %+.4f, 95%% CI "
                "[%+.4f, %+.4f]) over %s clips",
                j["method"].get<std::string>().c_str(), m["mass"].get<double>(), m["box_share"].get<double>(),
                m["ratio"].get<double>(), m["difference"]["mean"].get<double>(),
                m["difference"]["ci95"][0].get<double>(), m["difference"]["ci95"][1].get<double>(),
                j["clips_with_mass"].dump().c_str());
  return b;
}

}  // namespace smlab::analysis::faithfulness
