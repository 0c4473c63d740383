#include "analysis/nmf.h"

#include <torch/torch.h>

#include <cmath>
#include <tuple>

#include "core/error.h"

namespace smlab::analysis {

namespace {

// float32's machine epsilon, which sklearn puts where a multiplicative update's denominator is 0.
constexpr double kEps = 1.1920928955078125e-07;

// The k leading singular triplets (U [n, k], S [k], V^T [k, m]). A small dense X gets the exact
// SVD; a sparse or large one the randomized range finder of Halko, Martinsson & Tropp (2011) with
// 10 extra columns and 7 power iterations (QR-normalised), as sklearn's randomized_svd, on X's
// products only, so a TF-IDF matrix is never densified.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> leading_svd(const torch::Tensor& x, int64_t k) {
  const int64_t n = x.size(0), m = x.size(1);
  if (!x.is_sparse() && n * m <= (int64_t{1} << 22)) {
    auto [u, s, vh] = torch::linalg_svd(x, /*full_matrices=*/false);
    return {u.narrow(1, 0, k), s.narrow(0, 0, k), vh.narrow(0, 0, k)};
  }
  const int64_t l = std::min(std::min(n, m), k + 10);
  auto gen = at::detail::createCPUGenerator(0);
  const auto omega = at::randn({m, l}, gen, torch::kDouble).to(x.device());
  auto q = std::get<0>(torch::linalg_qr(torch::mm(x, omega)));
  for (int i = 0; i < 7; ++i) {
    const auto z = std::get<0>(torch::linalg_qr(torch::mm(x.t(), q)));
    q = std::get<0>(torch::linalg_qr(torch::mm(x, z)));
  }
  const auto b = torch::mm(x.t(), q).t();  // Q^T X [l, m]
  auto [ub, s, vh] = torch::linalg_svd(b, /*full_matrices=*/false);
  return {torch::mm(q, ub).narrow(1, 0, k), s.narrow(0, 0, k), vh.narrow(0, 0, k)};
}

double sum_sq(const torch::Tensor& x) {
  const auto v = x.is_sparse() ? x.coalesce().values() : x;
  return v.to(torch::kDouble).pow(2).sum().item<double>();
}

// X and its transpose, made once (a sparse X^T coalesced, so no product sorts it again).
struct Mat {
  torch::Tensor x, xt;
  double sq = 0;  // ||X||^2
  explicit Mat(const torch::Tensor& m) : x(m.is_sparse() ? m.coalesce() : m) {
    xt = x.is_sparse() ? x.t().coalesce() : x.t();
    sq = sum_sq(x);
  }
  torch::Tensor x_ht(const torch::Tensor& h) const { return torch::mm(x, h.t()); }   // X H^T [n, k]
  torch::Tensor xt_w(const torch::Tensor& w) const { return torch::mm(xt, w); }     // X^T W [m, k]
  double objective(const torch::Tensor& w, const torch::Tensor& h) const {
    const double cross = (w * x_ht(h)).sum().to(torch::kDouble).item<double>();
    const double quad = (torch::mm(w.t(), w) * torch::mm(h, h.t())).sum().to(torch::kDouble).item<double>();
    return 0.5 * (sq - 2.0 * cross + quad);
  }
};

// One sweep of HALS over the columns of `w` for the fixed factor `h`: sklearn's
// _update_coordinate_descent (gradient W HH^T - XH^T per column, Newton step by HH^T[t, t]).
void hals_sweep(torch::Tensor& w, const torch::Tensor& xht, const torch::Tensor& hht) {
  const int64_t k = w.size(1);
  for (int64_t t = 0; t < k; ++t) {
    const auto hess = hht[t][t];
    if (hess.item<double>() == 0) continue;
    const auto grad = torch::mv(w, hht.select(1, t)) - xht.select(1, t);
    w.select(1, t).copy_(torch::clamp_min(w.select(1, t) - grad / hess, 0));
  }
}

void mu_step(const Mat& x, torch::Tensor& w, torch::Tensor& h) {
  auto den_w = torch::mm(w, torch::mm(h, h.t()));
  den_w.masked_fill_(den_w == 0, kEps);
  w.mul_(x.x_ht(h) / den_w);
  auto den_h = torch::mm(torch::mm(w.t(), w), h);
  den_h.masked_fill_(den_h == 0, kEps);
  h.mul_(x.xt_w(w).t() / den_h);
}

void check_input(const torch::Tensor& x, const NmfOptions& o) {
  if (x.dim() != 2) throw UserError("nmf: X must be a matrix, got " + std::to_string(x.dim()) + " dimensions");
  const int64_t n = x.size(0), m = x.size(1);
  if (n == 0 || m == 0) throw UserError("nmf: X is empty (" + std::to_string(n) + " x " + std::to_string(m) + ")");
  if (o.k < 1 || o.k > std::min(n, m))
    throw UserError("nmf: k = " + std::to_string(o.k) + " must be between 1 and min(rows, columns) = " +
                    std::to_string(std::min(n, m)) + " (" + std::to_string(n) + " documents x " +
                    std::to_string(m) + " terms)");
  const auto v = x.is_sparse() ? x.coalesce().values() : x;
  if (v.numel() > 0 && v.min().item<double>() < 0) throw UserError("nmf: X has a negative entry");
  if (o.solver != "hals" && o.solver != "mu") throw UserError("nmf: unknown solver '" + o.solver + "' (hals, mu)");
  if (o.w0.defined() != o.h0.defined()) throw UserError("nmf: a custom start needs both W0 and H0");
  if (o.w0.defined() && (o.w0.sizes() != torch::IntArrayRef{n, o.k} || o.h0.sizes() != torch::IntArrayRef{o.k, m}))
    throw UserError("nmf: W0 must be " + std::to_string(n) + " x " + std::to_string(o.k) + " and H0 " +
                    std::to_string(o.k) + " x " + std::to_string(m));
}

std::pair<torch::Tensor, torch::Tensor> start(const torch::Tensor& x, const NmfOptions& o) {
  const auto opts = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  if (o.w0.defined()) return {o.w0.to(opts).clone(), o.h0.to(opts).clone()};
  if (o.init == "nndsvd" || o.init == "nndsvda") return nndsvd(x, o.k, o.init == "nndsvda");
  if (o.init != "random") throw UserError("nmf: unknown init '" + o.init + "' (nndsvd, nndsvda, random)");
  const double avg = std::sqrt((x.is_sparse() ? x.coalesce().values().sum() : x.sum()).item<double>() /
                               static_cast<double>(x.size(0) * x.size(1)) / static_cast<double>(o.k));
  auto gen = at::detail::createCPUGenerator(o.seed);
  auto w = at::randn({x.size(0), o.k}, gen, torch::kDouble).abs_().mul_(avg);
  auto h = at::randn({o.k, x.size(1)}, gen, torch::kDouble).abs_().mul_(avg);
  return {w.to(opts), h.to(opts)};
}

}  // namespace

double NmfResult::reconstruction_error() const {
  return objective.empty() ? 0.0 : std::sqrt(std::max(0.0, 2.0 * objective.back()));
}

double nmf_objective(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& h) {
  return Mat(x.to(torch::kDouble)).objective(w.to(torch::kDouble), h.to(torch::kDouble));
}

std::pair<torch::Tensor, torch::Tensor> nndsvd(const torch::Tensor& x, int64_t k, bool fill_mean) {
  const auto xd = x.to(torch::kDouble);
  auto [u, s, vh] = leading_svd(xd, k);
  auto w = torch::zeros({xd.size(0), k}, xd.options().layout(torch::kStrided)),
       h = torch::zeros({k, xd.size(1)}, xd.options().layout(torch::kStrided));
  w.select(1, 0).copy_(std::sqrt(s[0].item<double>()) * u.select(1, 0).abs());
  h.select(0, 0).copy_(std::sqrt(s[0].item<double>()) * vh.select(0, 0).abs());
  for (int64_t j = 1; j < k; ++j) {
    const auto a = u.select(1, j), b = vh.select(0, j);
    const auto ap = a.clamp_min(0), bp = b.clamp_min(0), an = a.clamp_max(0).abs(), bn = b.clamp_max(0).abs();
    const double apn = ap.norm().item<double>(), bpn = bp.norm().item<double>();
    const double ann = an.norm().item<double>(), bnn = bn.norm().item<double>();
    const bool pos = apn * bpn > ann * bnn;
    const double sigma = pos ? apn * bpn : ann * bnn;
    const double lbd = std::sqrt(s[j].item<double>() * sigma);
    if (sigma == 0) continue;  // both halves vanish: the column stays 0 (filled below for nndsvda)
    w.select(1, j).copy_(lbd * (pos ? ap / apn : an / ann));
    h.select(0, j).copy_(lbd * (pos ? bp / bpn : bn / bnn));
  }
  w.masked_fill_(w < 1e-6, 0);
  h.masked_fill_(h < 1e-6, 0);
  if (fill_mean) {
    const double avg = (xd.is_sparse() ? xd.coalesce().values().sum() : xd.sum()).item<double>() /
                       static_cast<double>(xd.size(0) * xd.size(1));
    w.masked_fill_(w == 0, avg);
    h.masked_fill_(h == 0, avg);
  }
  const auto opts = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  return {w.to(opts), h.to(opts)};
}

NmfResult nmf(const torch::Tensor& x, const NmfOptions& o) {
  check_input(x, o);
  auto [w, h] = start(x, o);
  const Mat m(x);
  NmfResult r;
  r.objective.push_back(m.objective(w, h));
  const double first = r.objective.front();
  for (int64_t it = 0; it < o.max_iter; ++it) {
    if (o.solver == "mu") {
      mu_step(m, w, h);
    } else {
      hals_sweep(w, m.x_ht(h), torch::mm(h, h.t()));
      auto ht = h.t().contiguous();  // H^T [m, k] is updated like W, against X^T W and W^T W
      hals_sweep(ht, m.xt_w(w), torch::mm(w.t(), w));
      h = ht.t().contiguous();
    }
    r.objective.push_back(m.objective(w, h));
    r.iterations = it + 1;
    if (o.tol > 0 && (it + 1) % 10 == 0) {
      const double before = r.objective[r.objective.size() - 11], now = r.objective.back();
      if (first > 0 && (before - now) / first < o.tol) break;
    }
  }
  r.w = w;
  r.h = h;
  return r;
}

}  // namespace smlab::analysis
