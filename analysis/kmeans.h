// k-means clustering and silhouette scores written with LibTorch tensor ops, so they run on the
// GPU when the data is there (`smlab segment`). Computation is in float64 on the data's device;
// random choices (k-means++ seeding) come from a seeded CPU generator, so a run is reproducible.
//
// Example:
//   auto r = smlab::cluster::kmeans(x, {.k = 4, .n_init = 10, .seed = 0});
//   double s = smlab::cluster::silhouette(x, r.labels, 4);
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace smlab::analysis::cluster {

struct KMeansOptions {
  int64_t k = 2;
  int64_t max_iter = 300;
  double tol = 1e-8;    ///< stop when the total squared centroid shift is <= tol (or labels stop changing)
  int64_t n_init = 10;  ///< k-means++ restarts; the run with the lowest inertia wins
  uint64_t seed = 0;
};

struct KMeansResult {
  at::Tensor centroids;  ///< [k, D] float64
  at::Tensor labels;     ///< [N] int64 in [0, k)
  double inertia = 0;    ///< sum of squared distances of points to their centroid
  int64_t iterations = 0;
};

/// k-means++ seeding (D^2 sampling) followed by Lloyd iterations, best of n_init.
/// x: floating [N, D] with N >= k. Throws std::invalid_argument for bad shapes or k.
KMeansResult kmeans(const at::Tensor& x, const KMeansOptions& options);

/// Lloyd iterations from the given initial centroids [k, D]: assign each point to the nearest
/// centroid (the lowest index on ties), move each centroid to the mean of its points. A cluster
/// that becomes empty takes the point farthest from its current centroid.
KMeansResult lloyd(const at::Tensor& x, const at::Tensor& init_centroids, int64_t max_iter, double tol);

/// Per-point silhouette coefficients (Euclidean; Rousseeuw 1987, as sklearn): for point i in
/// cluster A, a = mean distance to the other points of A, b = min over clusters B != A of the mean
/// distance to B's points, s = (b - a) / max(a, b); s = 0 for a point alone in its cluster.
/// Exact, computed in [chunk, N] blocks of distances. Returns float64 [N].
at::Tensor silhouette_samples(const at::Tensor& x, const at::Tensor& labels, int64_t k, int64_t chunk = 1024);

/// Mean of silhouette_samples (needs 2 <= number of non-empty clusters <= N - 1).
double silhouette(const at::Tensor& x, const at::Tensor& labels, int64_t k, int64_t chunk = 1024);

/// The elbow of a decreasing curve (k, inertia): with both axes scaled to [0, 1], the k whose point
/// lies farthest below the straight line from the first to the last point (the "kneedle" rule).
int64_t elbow(const std::vector<int64_t>& ks, const std::vector<double>& inertia);

}  // namespace smlab::analysis::cluster
