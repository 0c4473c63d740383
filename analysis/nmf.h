// Non-negative matrix factorisation X ~ W H (X [n, m] >= 0, W [n, k], H [k, m]) for the
// Frobenius objective 0.5 ||X - W H||^2, in LibTorch tensor ops: CPU or GPU, X dense or sparse
// (COO; a TF-IDF matrix stays sparse, only W, H and k x k / k x m products are dense).
//
// Solvers, as scikit-learn's NMF runs them (tests/python/test_nmf_oracle.py compares the final
// objective with sklearn.decomposition.NMF on the same matrix and initialisation):
//   hals  hierarchical alternating least squares: one column of W at a time (in order) against
//         X H^T and H H^T, then one row of H, each clamped at 0 (sklearn's solver='cd', shuffle off);
//   mu    Lee & Seung multiplicative updates, W then H (sklearn's solver='mu', beta_loss=2).
// Initialisation: nndsvd (Boutsidis & Gallopoulos 2008, zeros kept), nndsvda (zeros filled with
// the mean of X: the default, since multiplicative updates never move a zero), random (seeded,
// scaled by sqrt(mean(X) / k), as sklearn), or W0/H0 given.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace smlab::analysis {

struct NmfOptions {
  int64_t k = 10;
  std::string solver = "hals";  ///< hals | mu
  std::string init = "nndsvda";  ///< nndsvd | nndsvda | random (ignored when w0/h0 are given)
  int64_t max_iter = 200;
  /// Stop when the objective's relative decrease over 10 iterations falls below tol (0: run all).
  double tol = 1e-4;
  uint64_t seed = 0;
  torch::Tensor w0, h0;  ///< a custom start (both or neither)
};

struct NmfResult {
  torch::Tensor w, h;
  std::vector<double> objective;  ///< 0.5 ||X - W H||^2 at the start and after every iteration
  int64_t iterations = 0;
  double reconstruction_error() const;  ///< ||X - W H||_F at the end (sklearn's reconstruction_err_)
};

/// The factorisation; throws UserError for k < 1, k larger than either side of X, a negative
/// entry, an unknown solver or init, or w0/h0 of the wrong shape.
NmfResult nmf(const torch::Tensor& x, const NmfOptions& o);

/// 0.5 ||X - W H||^2 without forming W H (X may be sparse).
double nmf_objective(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& h);

/// NNDSVD start of rank k from X's leading singular triplets (`fill_mean`: nndsvda).
std::pair<torch::Tensor, torch::Tensor> nndsvd(const torch::Tensor& x, int64_t k, bool fill_mean);

}  // namespace smlab::analysis
