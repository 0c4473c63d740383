#include "trainers/metrics.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

namespace smlab::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Offsets into ClassificationMetrics' state vector.
constexpr int64_t kCount = 0, kTop5 = 1, kNllSum = 2, kConfusion = 3;

// Offsets into RegressionMetrics' state vector.
enum RegSlot : int64_t {
  kN = 0,          // number of points
  kSumAbsErr,      // Σ|y − ŷ|
  kSumSqErr,       // Σ(y − ŷ)²
  kSumY,           // Σy
  kSumY2,          // Σy²
  kSumApe,         // Σ|y − ŷ|/|y| over points with |y| >= 1e-12
  kApeKept,        // number of such points
  kApeSkipped,     // number of points with |y| < 1e-12
  kSumSmape,       // Σ 2|y − ŷ|/(|y| + |ŷ|)   (term 0 where |y| + |ŷ| = 0)
  kMaseModelAbs,   // Σ|y − ŷ| over points that came with a naive forecast
  kMaseNaiveAbs,   // Σ|y − naive| over the same points
  kMaseN,          // number of such points
  kRegSlots
};

constexpr double kMapeMinAbsTarget = 1e-12;

at::Tensor scalar(const at::Tensor& t) { return t.to(at::kDouble).reshape({1}); }

}  // namespace

// ---------------------------------------------------------------------------
// ClassificationMetrics
// ---------------------------------------------------------------------------

ClassificationMetrics::ClassificationMetrics(int64_t num_classes, int ece_bins)
    : num_classes_(num_classes), ece_bins_(ece_bins) {
  TORCH_CHECK(num_classes >= 1, "ClassificationMetrics: num_classes must be >= 1, got ", num_classes);
  TORCH_CHECK(ece_bins >= 1, "ClassificationMetrics: ece_bins must be >= 1, got ", ece_bins);
  reset();
}

void ClassificationMetrics::reset() {
  state_ = at::zeros({kConfusion + num_classes_ * num_classes_ + 3 * int64_t{ece_bins_}}, at::kDouble);
}

void ClassificationMetrics::update(const at::Tensor& logits, const at::Tensor& targets) {
  const int64_t K = num_classes_, B = ece_bins_;
  TORCH_CHECK(logits.defined() && targets.defined(),
              "ClassificationMetrics::update: logits and targets must both be defined tensors");
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) == K, "ClassificationMetrics::update: logits must be [N,", K,
              "] (num_classes = ", K, "), got shape ", logits.sizes());
  TORCH_CHECK(at::isFloatingType(logits.scalar_type()),
              "ClassificationMetrics::update: logits must be a floating-point tensor, got ", logits.scalar_type());
  const int64_t N = logits.size(0);
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == N, "ClassificationMetrics::update: targets must be [N] = [", N,
              "] to match logits of shape ", logits.sizes(), ", got shape ", targets.sizes());
  TORCH_CHECK(at::isIntegralType(targets.scalar_type(), /*includeBool=*/false),
              "ClassificationMetrics::update: targets must be an integer tensor, got ", targets.scalar_type());
  if (N == 0) return;

  const at::Tensor x = logits.to(at::kDouble);  // float -> double is exact
  const at::Tensor t = targets.to(x.device(), at::kLong);

  // All input checks in one device->host transfer:
  // [min target, max target, #NaN or +inf scores, min score, max score, max_n |Σ_k x[n,k] − 1|, min_n max_k x[n,k]]
  const at::Tensor checks =
      at::cat({scalar(t.min()), scalar(t.max()), scalar((x.isnan() | x.isposinf()).sum()), scalar(x.min()),
               scalar(x.max()), scalar((x.sum(1) - 1.0).abs().max()), scalar(x.amax(1).min())})
          .cpu();
  const double* c = checks.data_ptr<double>();
  if (c[0] < 0 || c[1] >= static_cast<double>(K)) {
    const at::Tensor bad = ((t < 0) | (t >= K)).nonzero().view(-1);
    const int64_t i = bad[0].item<int64_t>();
    TORCH_CHECK(false, "ClassificationMetrics::update: target value ", t[i].item<int64_t>(), " at index ", i,
                " is out of range for num_classes = ", K, " (valid: 0..", K - 1, ")");
  }
  TORCH_CHECK(c[2] == 0, "ClassificationMetrics::update: logits of shape ", logits.sizes(), " contain ",
              static_cast<int64_t>(c[2]), " NaN or +inf value(s)");
  TORCH_CHECK(c[6] > -std::numeric_limits<double>::infinity(),
              "ClassificationMetrics::update: a row of logits is entirely -inf (no class has any score)");

  // Probabilities when every value is in [0,1] and every row sums to 1 (within 1e-3); else logits.
  const bool is_prob = c[3] >= 0.0 && c[4] <= 1.0 && c[5] <= 1e-3;
  // log p[n,k]: log(x / Σ_k x) for probabilities (renormalised), log_softmax(x) for logits.
  const at::Tensor logp = is_prob ? at::log(x / x.sum(1, /*keepdim=*/true)) : at::log_softmax(x, 1);

  // Top-1 prediction: argmax over the raw scores (first index on ties).
  const at::Tensor pred = x.argmax(1);
  const at::Tensor correct = pred.eq(t).to(at::kDouble);
  // Confidence: max_k softmax(x)[n,k] = exp(max_k log p[n,k]).
  const at::Tensor conf = logp.amax(1).exp();
  // NLL sum: Σ_n −log p[n, y_n].
  const at::Tensor nll_sum = -logp.gather(1, t.unsqueeze(1)).sum();
  // Top-5 hits: Σ_n [y_n ∈ top-5 indices of x[n,:]], only meaningful when K >= 5.
  const at::Tensor top5 = K >= 5 ? std::get<1>(x.topk(5, 1)).eq(t.unsqueeze(1)).any(1).sum()
                                 : at::zeros({}, x.options());
  // Confusion: C[i,j] = #{n : y_n = i, ŷ_n = j}, counted as a bincount of i·K + j.
  const at::Tensor confusion = at::bincount(t * K + pred, /*weights=*/{}, /*minlength=*/K * K).to(at::kDouble);
  // ECE bins: b(n) = min(floor(conf_n · B), B − 1), i.e. [b/B, (b+1)/B) with 1.0 in the last bin.
  // Per-bin sums via a one-hot [N,B] matrix (deterministic on every device, unlike index_add).
  const at::Tensor bin = (conf * static_cast<double>(B)).floor().clamp(0, B - 1).to(at::kLong);
  const at::Tensor onehot = at::one_hot(bin, B).to(at::kDouble);
  const at::Tensor bin_count = onehot.sum(0);                              // |bin b|
  const at::Tensor bin_correct = (onehot * correct.unsqueeze(1)).sum(0);  // Σ_{n∈b} [ŷ_n = y_n]
  const at::Tensor bin_conf = (onehot * conf.unsqueeze(1)).sum(0);        // Σ_{n∈b} conf_n

  const at::Tensor n_tensor = at::full({1}, static_cast<double>(N), x.options());
  const at::Tensor batch = at::cat({n_tensor, scalar(top5), scalar(nll_sum), confusion, bin_count, bin_correct,
                                    bin_conf})
                               .cpu();
  state_ += batch;
}

std::map<std::string, double> ClassificationMetrics::compute() const {
  const int64_t K = num_classes_, B = ece_bins_;
  const double* s = state_.data_ptr<double>();
  const double n = s[kCount];
  const double* C = s + kConfusion;  // C[i*K + j]: true i, predicted j
  const double* bin_count = C + K * K;
  const double* bin_correct = bin_count + B;
  const double* bin_conf = bin_correct + B;

  std::map<std::string, double> out;
  out["count"] = n;
  const bool empty = n == 0;

  double macro_p = 0, macro_r = 0, macro_f1 = 0, hits = 0;
  for (int64_t k = 0; k < K; ++k) {
    const double tp = C[k * K + k];
    double predicted = 0, actual = 0;
    for (int64_t i = 0; i < K; ++i) {
      predicted += C[i * K + k];  // column sum: TP + FP
      actual += C[k * K + i];     // row sum:    TP + FN
    }
    // precision_k = TP / (TP + FP), 0 when class k was never predicted (zero_division = 0)
    const double p = predicted > 0 ? tp / predicted : 0.0;
    // recall_k = TP / (TP + FN), 0 when class k never occurs
    const double r = actual > 0 ? tp / actual : 0.0;
    // F1_k = 2·P·R / (P + R), 0 when P + R = 0
    const double f1 = p + r > 0 ? 2.0 * p * r / (p + r) : 0.0;
    const std::string ks = std::to_string(k);
    out["precision/" + ks] = empty ? kNaN : p;
    out["recall/" + ks] = empty ? kNaN : r;
    out["f1/" + ks] = empty ? kNaN : f1;
    macro_p += p;
    macro_r += r;
    macro_f1 += f1;
    hits += tp;
  }
  // macro_x = (1/K) Σ_k x_k  (unweighted over all K classes)
  out["macro_precision"] = empty ? kNaN : macro_p / K;
  out["macro_recall"] = empty ? kNaN : macro_r / K;
  out["macro_f1"] = empty ? kNaN : macro_f1 / K;
  // top1 = Σ_k C[k,k] / N
  out["top1"] = empty ? kNaN : hits / n;
  // top5 = #{n : y_n in the 5 highest scores} / N
  if (K >= 5) out["top5"] = empty ? kNaN : s[kTop5] / n;
  // nll = (1/N) Σ_n −log p[n, y_n]
  out["nll"] = empty ? kNaN : s[kNllSum] / n;
  // ECE = Σ_b (|b|/N)·|acc(b) − conf(b)|, acc(b) = correct_b/|b|, conf(b) = Σconf_b/|b|
  //     = Σ_b |correct_b − Σconf_b| / N  (empty bins contribute 0)
  double ece = 0;
  for (int64_t b = 0; b < B; ++b) {
    if (bin_count[b] > 0) ece += (bin_count[b] / n) * std::abs(bin_correct[b] / bin_count[b] - bin_conf[b] / bin_count[b]);
  }
  out["ece"] = empty ? kNaN : ece;
  return out;
}

at::Tensor ClassificationMetrics::confusion() const {
  // Counts are integers held exactly in float64 (up to 2^53); round to guard against summed states.
  return state_.slice(0, kConfusion, kConfusion + num_classes_ * num_classes_)
      .round()
      .to(at::kLong)
      .view({num_classes_, num_classes_});
}

at::Tensor ClassificationMetrics::state() const { return state_.clone(); }

void ClassificationMetrics::load_state(const at::Tensor& s) {
  const int64_t expected = state_.numel();
  TORCH_CHECK(s.defined(), "ClassificationMetrics::load_state: the state tensor is undefined");
  TORCH_CHECK(s.dim() == 1 && s.numel() == expected && s.scalar_type() == at::kDouble,
              "ClassificationMetrics::load_state: expected a float64 tensor of shape [", expected, "] (3 + K² + 3·B with "
              "num_classes K = ", num_classes_, ", ece_bins B = ", ece_bins_, "), got ", s.scalar_type(), " of shape ",
              s.sizes());
  state_ = s.to(at::kCPU).contiguous().clone();
}

// ---------------------------------------------------------------------------
// RegressionMetrics
// ---------------------------------------------------------------------------

RegressionMetrics::RegressionMetrics() { reset(); }

void RegressionMetrics::reset() { state_ = at::zeros({kRegSlots}, at::kDouble); }

void RegressionMetrics::update(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& naive) {
  TORCH_CHECK(pred.defined() && target.defined(),
              "RegressionMetrics::update: pred and target must both be defined tensors");
  TORCH_CHECK(pred.sizes() == target.sizes(), "RegressionMetrics::update: pred and target must have the same shape, got pred ",
              pred.sizes(), " and target ", target.sizes());
  TORCH_CHECK(at::isFloatingType(pred.scalar_type()) && at::isFloatingType(target.scalar_type()),
              "RegressionMetrics::update: pred and target must be floating-point tensors, got pred ", pred.scalar_type(),
              " and target ", target.scalar_type());
  const bool has_naive = naive.defined();
  if (has_naive) {
    TORCH_CHECK(naive.sizes() == target.sizes(), "RegressionMetrics::update: naive must have the shape of target ",
                target.sizes(), ", got ", naive.sizes());
    TORCH_CHECK(at::isFloatingType(naive.scalar_type()),
                "RegressionMetrics::update: naive must be a floating-point tensor, got ", naive.scalar_type());
  }
  if (target.numel() == 0) return;

  const at::Tensor y = target.to(at::kDouble);
  const at::Tensor yh = pred.to(y.device(), at::kDouble);
  const at::Tensor e = y - yh;
  const at::Tensor ae = e.abs();
  const at::Tensor ay = y.abs();
  const at::Tensor n = at::full({1}, static_cast<double>(y.numel()), y.options());

  // MAPE terms |y − ŷ|/|y|, only where |y| >= 1e-12.
  const at::Tensor keep = ay >= kMapeMinAbsTarget;
  const at::Tensor kept = keep.sum();
  const at::Tensor ape = at::where(keep, ae / ay, at::zeros({}, y.options())).sum();
  // sMAPE terms 2|y − ŷ|/(|y| + |ŷ|), 0 where |y| = |ŷ| = 0.
  const at::Tensor denom = ay + yh.abs();
  const at::Tensor smape = at::where(denom > 0, 2.0 * ae / denom, at::zeros({}, y.options())).sum();
  const at::Tensor sae = ae.sum();

  at::Tensor mase_model = at::zeros({1}, y.options()), mase_naive = mase_model, mase_n = mase_model;
  at::Tensor non_finite = (~yh.isfinite()).sum() + (~y.isfinite()).sum();
  if (has_naive) {
    const at::Tensor yn = naive.to(y.device(), at::kDouble);
    mase_model = scalar(sae);
    mase_naive = scalar((y - yn).abs().sum());
    mase_n = n;
    non_finite = non_finite + (~yn.isfinite()).sum();
  }

  // Layout as RegSlot, plus the non-finite count at the end (checked before anything is added).
  const at::Tensor batch = at::cat({n, scalar(sae), scalar((e * e).sum()), scalar(y.sum()), scalar((y * y).sum()),
                                    scalar(ape), scalar(kept), n - scalar(kept), scalar(smape), mase_model, mase_naive,
                                    mase_n, scalar(non_finite)})
                               .cpu();
  const double bad = batch[kRegSlots].item<double>();
  TORCH_CHECK(bad == 0, "RegressionMetrics::update: pred/target", has_naive ? "/naive" : "", " of shape ",
              target.sizes(), " contain ", static_cast<int64_t>(bad), " NaN or infinite value(s)");
  state_ += batch.slice(0, 0, kRegSlots);
}

std::map<std::string, double> RegressionMetrics::compute() const {
  const double* s = state_.data_ptr<double>();
  const double n = s[kN];
  std::map<std::string, double> out;
  out["count"] = n;
  out["mape_skipped"] = s[kApeSkipped];
  if (n == 0) {
    for (const char* k : {"mae", "rmse", "r2", "mape", "smape"}) out[k] = kNaN;
    return out;
  }
  // MAE = Σ|y − ŷ| / n
  out["mae"] = s[kSumAbsErr] / n;
  // RMSE = sqrt(Σ(y − ŷ)² / n)
  out["rmse"] = std::sqrt(s[kSumSqErr] / n);
  // R² = 1 − SS_res/SS_tot, SS_res = Σ(y − ŷ)², SS_tot = Σ(y − ȳ)² = Σy² − (Σy)²/n.
  // Constant targets (SS_tot at rounding level, <= 1e-12·Σy²): sklearn's rule, 1 if SS_res = 0 else 0.
  const double ss_res = s[kSumSqErr];
  const double ss_tot = s[kSumY2] - s[kSumY] * s[kSumY] / n;
  if (ss_tot <= 1e-12 * s[kSumY2]) out["r2"] = ss_res == 0 ? 1.0 : 0.0;
  else out["r2"] = 1.0 - ss_res / ss_tot;
  // MAPE = (1/n_kept) Σ_{|y| >= 1e-12} |y − ŷ|/|y|   (fraction; NaN when every target was skipped)
  out["mape"] = s[kApeKept] > 0 ? s[kSumApe] / s[kApeKept] : kNaN;
  // sMAPE = (1/n) Σ 2|y − ŷ|/(|y| + |ŷ|)   (fraction in [0,2])
  out["smape"] = s[kSumSmape] / n;
  // MASE = MAE(model)/MAE(naive) = Σ|y − ŷ| / Σ|y − naive| over the points with a naive forecast
  if (s[kMaseN] > 0) out["mase"] = s[kMaseModelAbs] / s[kMaseNaiveAbs];
  return out;
}

at::Tensor RegressionMetrics::state() const { return state_.clone(); }

void RegressionMetrics::load_state(const at::Tensor& s) {
  TORCH_CHECK(s.defined(), "RegressionMetrics::load_state: the state tensor is undefined");
  TORCH_CHECK(s.dim() == 1 && s.numel() == kRegSlots && s.scalar_type() == at::kDouble,
              "RegressionMetrics::load_state: expected a float64 tensor of shape [", int64_t{kRegSlots}, "], got ",
              s.scalar_type(), " of shape ", s.sizes());
  state_ = s.to(at::kCPU).contiguous().clone();
}

}  // namespace smlab::metrics
