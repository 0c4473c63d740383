#include "datasets/masked_pieces.h"

namespace smlab::datasets {
namespace {

/// SplitMix64's finaliser: a well-mixed 64-bit hash of x.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

MaskedPieceDataset::MaskedPieceDataset(torch::Tensor ids, DatasetInfo info, uint64_t seed, bool fixed, bool trim)
    : ids_(std::move(ids)), info_(std::move(info)), seed_(seed), fixed_(fixed), trim_(trim) {
  TORCH_CHECK(ids_.dim() == 2 && ids_.scalar_type() == torch::kLong, "masked pieces need int64 ids [N, L]");
  TORCH_CHECK(info_.num_classes == info_.vocab_size && info_.vocab_size > kMaskPiece,
              "masked pieces: num_classes must equal the vocabulary size");
}

int64_t MaskedPieceDataset::position(uint64_t seed, int64_t epoch, int64_t index, int64_t length) {
  if (length <= 0) return 0;
  const uint64_t h = mix(mix(mix(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index));
  return static_cast<int64_t>(h % static_cast<uint64_t>(length));
}

Batch MaskedPieceDataset::get(const std::vector<int64_t>& indices) const {
  const auto n = static_cast<int64_t>(indices.size());
  auto x = ids_.index_select(0, torch::tensor(indices, torch::kLong)).contiguous();
  auto y = torch::zeros({n}, torch::kLong);
  const int64_t L = x.size(1), epoch = epoch_.load();
  auto* xs = x.data_ptr<int64_t>();
  auto* ys = y.data_ptr<int64_t>();
  int64_t longest = 0;
  for (int64_t r = 0; r < n; ++r) {
    int64_t* row = xs + r * L;
    int64_t len = 0;
    while (len < L && row[len] != 0) ++len;  // padding is trailing
    longest = std::max(longest, len);
    if (len == 0) continue;                  // an empty text predicts padding (class 0)
    const int64_t p = position(seed_, epoch, indices[static_cast<size_t>(r)], len);
    ys[r] = row[p];
    row[p] = kMaskPiece;
  }
  if (trim_ && n > 0 && longest < L) x = x.narrow(1, 0, std::max<int64_t>(longest, 1)).contiguous();
  return {x, y};
}

}  // namespace smlab::datasets
