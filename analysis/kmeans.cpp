#include "analysis/kmeans.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>
#include <stdexcept>
#include <string>

namespace smlab::analysis::cluster {
namespace {

/// Squared Euclidean distances [N, k] of points to centroids (float64), clamped at 0.
at::Tensor sq_dist(const at::Tensor& x, const at::Tensor& c) {
  const auto xx = (x * x).sum(1, true);                 // [N, 1]
  const auto cc = (c * c).sum(1).unsqueeze(0);          // [1, k]
  return (xx - 2 * at::mm(x, c.t()) + cc).clamp_min(0);  // ||x||^2 - 2 x.c + ||c||^2
}

void check_x(const at::Tensor& x, int64_t k) {
  if (!x.defined() || x.dim() != 2 || !at::isFloatingType(x.scalar_type()))
    throw std::invalid_argument("kmeans: x must be a floating [N, D] tensor");
  if (k < 1 || x.size(0) < k)
    throw std::invalid_argument("kmeans: k = " + std::to_string(k) + " needs 1 <= k <= N = " + std::to_string(x.size(0)));
  if (!at::isfinite(x).all().item<bool>()) throw std::invalid_argument("kmeans: x contains NaN or infinite values");
}

/// k-means++: the first centre uniformly at random, then each next one with probability
/// proportional to the squared distance to the nearest chosen centre.
at::Tensor plus_plus(const at::Tensor& x, int64_t k, at::Generator& gen) {
  const int64_t n = x.size(0);
  std::vector<int64_t> chosen;
  chosen.push_back(at::randint(n, {1}, gen, at::TensorOptions().dtype(at::kLong)).item<int64_t>());
  auto d2 = sq_dist(x, x.index_select(0, at::tensor(chosen, at::kLong).to(x.device()))).squeeze(1);
  for (int64_t c = 1; c < k; ++c) {
    auto w = d2.cpu();
    int64_t next;
    if (w.sum().item<double>() <= 0) next = at::randint(n, {1}, gen, at::TensorOptions().dtype(at::kLong)).item<int64_t>();
    else next = at::multinomial(w, 1, false, gen).item<int64_t>();
    chosen.push_back(next);
    d2 = at::minimum(d2, sq_dist(x, x.narrow(0, next, 1)).squeeze(1));
  }
  return x.index_select(0, at::tensor(chosen, at::kLong).to(x.device()));
}

}  // namespace

KMeansResult lloyd(const at::Tensor& x_in, const at::Tensor& init_centroids, int64_t max_iter, double tol) {
  const int64_t k = init_centroids.size(0);
  check_x(x_in, k);
  const auto x = x_in.to(at::kDouble);
  auto c = init_centroids.to(x.device(), at::kDouble).clone();
  if (c.dim() != 2 || c.size(1) != x.size(1))
    throw std::invalid_argument("kmeans: initial centroids must be [k, D] with D = " + std::to_string(x.size(1)));
  KMeansResult r;
  at::Tensor labels;
  for (int64_t it = 0; it < max_iter; ++it) {
    const auto d2 = sq_dist(x, c);
    auto new_labels = d2.argmin(1);
    // Empty clusters take the points farthest from their centroids, one each.
    auto counts = at::bincount(new_labels, {}, k);
    if ((counts == 0).any().item<bool>()) {
      auto own = d2.gather(1, new_labels.unsqueeze(1)).squeeze(1).clone();
      auto cnt = counts.cpu();
      for (int64_t j = 0; j < k; ++j) {
        if (cnt[j].item<int64_t>() > 0) continue;
        const int64_t far = own.argmax().item<int64_t>();
        cnt[new_labels[far].item<int64_t>()] -= 1;
        new_labels[far] = j;
        cnt[j] = 1;
        own[far] = -1;
      }
      counts = cnt.to(x.device());
    }
    // New centroids: per-cluster sums via a one-hot matrix product (deterministic on every device).
    const auto onehot = at::one_hot(new_labels, k).to(at::kDouble);  // [N, k]
    const auto sums = at::mm(onehot.t(), x);                           // [k, D]
    const auto nc = sums / counts.to(at::kDouble).unsqueeze(1);
    const double shift = (nc - c).pow(2).sum().item<double>();
    const bool same = labels.defined() && at::equal(labels, new_labels);
    c = nc;
    labels = new_labels;
    r.iterations = it + 1;
    if (same || shift <= tol) break;
  }
  r.centroids = c;
  r.labels = labels;
  r.inertia = (x - c.index_select(0, labels)).pow(2).sum().item<double>();
  return r;
}

KMeansResult kmeans(const at::Tensor& x_in, const KMeansOptions& o) {
  check_x(x_in, o.k);
  if (o.n_init < 1) throw std::invalid_argument("kmeans: n_init must be >= 1");
  const auto x = x_in.to(at::kDouble);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  KMeansResult best;
  best.inertia = std::numeric_limits<double>::infinity();
  for (int64_t run = 0; run < o.n_init; ++run) {
    auto r = lloyd(x, plus_plus(x, o.k, gen), o.max_iter, o.tol);
    if (r.inertia < best.inertia) best = r;
  }
  return best;
}

at::Tensor silhouette_samples(const at::Tensor& x_in, const at::Tensor& labels_in, int64_t k, int64_t chunk) {
  const auto x = x_in.to(at::kDouble);
  const int64_t n = x.size(0);
  const auto labels = labels_in.to(x.device(), at::kLong);
  if (labels.dim() != 1 || labels.size(0) != n) throw std::invalid_argument("silhouette: labels must be [N]");
  const auto counts = at::bincount(labels, {}, k).to(at::kDouble);  // [k]
  const int64_t clusters = (counts > 0).sum().item<int64_t>();
  if (clusters < 2 || clusters > n - 1)
    throw std::invalid_argument("silhouette: needs 2 <= non-empty clusters <= N - 1, got " + std::to_string(clusters));
  const auto onehot = at::one_hot(labels, k).to(at::kDouble);  // [N, k]
  const auto xx = (x * x).sum(1);
  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t m = std::min(chunk, n - s);
    const auto xs = x.narrow(0, s, m);
    // exact Euclidean distances [m, N] (float64; clamped before the sqrt)
    auto d = (xx.narrow(0, s, m).unsqueeze(1) - 2 * at::mm(xs, x.t()) + xx.unsqueeze(0)).clamp_min(0).sqrt();
    d.narrow(1, s, m).diagonal().zero_();  // a point's distance to itself is exactly 0
    const auto sums = at::mm(d, onehot);  // [m, k]: summed distance to each cluster
    const auto own = labels.narrow(0, s, m);
    const auto own_count = counts.index_select(0, own);
    // a: the point's own distance (0) is in the sum; divide by the other members
    const auto a = sums.gather(1, own.unsqueeze(1)).squeeze(1) / (own_count - 1).clamp_min(1);
    auto mean_other = sums / counts.unsqueeze(0);
    const auto mask = onehot.narrow(0, s, m).to(at::kBool) | (counts == 0).unsqueeze(0);
    mean_other = mean_other.masked_fill(mask, std::numeric_limits<double>::infinity());
    const auto b = std::get<0>(mean_other.min(1));
    auto sil = (b - a) / at::maximum(a, b);
    sil = at::where(own_count > 1, sil, at::zeros_like(sil));  // singletons score 0
    parts.push_back(sil.nan_to_num(0.0));
  }
  return at::cat(parts);
}

double silhouette(const at::Tensor& x, const at::Tensor& labels, int64_t k, int64_t chunk) {
  return silhouette_samples(x, labels, k, chunk).mean().item<double>();
}

int64_t elbow(const std::vector<int64_t>& ks, const std::vector<double>& inertia) {
  if (ks.size() != inertia.size() || ks.empty()) throw std::invalid_argument("elbow: ks and inertia must be non-empty, same size");
  if (ks.size() < 3) return ks.front();
  const double k0 = static_cast<double>(ks.front()), k1 = static_cast<double>(ks.back());
  const double i0 = inertia.front(), i1 = inertia.back();
  if (k1 == k0 || i0 == i1) return ks.front();
  // normalised curve: u in [0,1] along k, v in [0,1] along inertia (1 at the first point)
  size_t best = 0;
  double best_gap = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < ks.size(); ++i) {
    const double u = (static_cast<double>(ks[i]) - k0) / (k1 - k0);
    const double v = (inertia[i] - i1) / (i0 - i1);
    const double gap = (1 - u) - v;  // the chord runs from (0,1) to (1,0): v_line = 1 - u
    if (gap > best_gap) best_gap = gap, best = i;
  }
  return ks[best];
}

}  // namespace smlab::analysis::cluster
