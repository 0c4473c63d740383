// Masked-piece prediction (`data.objective: masked_piece` of text_tsv): self-supervised
// pretraining of a text encoder on unlabelled tweets, as a classification task the existing
// models, losses, metrics and trainer run unchanged.
//
// Each sample is one text with one of its real pieces replaced by the unknown piece (id 1, which
// has no character n-grams, so nothing of the hidden piece leaks through the subword table); the
// target is the hidden piece's id, one of the tokenizer's V classes. The position is drawn per
// (seed, epoch, index), so every epoch hides a different piece, a resumed run draws exactly what
// the uninterrupted one would, and validation and test (always epoch 0) are fixed. A text
// classifier with attention pooling learns to find the hole and fill it from both sides: a
// sentence-level cloze (word2vec's CBOW task with a contextual encoder). Its encoder then starts
// a labelled task through `finetune.init`; the V-way classifier is dropped there.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "datasets/dataset.h"

namespace smlab::datasets {

/// The piece that stands for a hidden one: SentencePiece's unknown id.
inline constexpr int64_t kMaskPiece = 1;

class MaskedPieceDataset : public Dataset {
 public:
  /// `ids`: int64 [N, L] token ids, 0 = trailing padding. `info` must have num_classes = the
  /// vocabulary size. `fixed`: every epoch draws as epoch 0 (validation and test).
  MaskedPieceDataset(torch::Tensor ids, DatasetInfo info, uint64_t seed, bool fixed, bool trim);
  int64_t size() const override { return ids_.size(0); }
  Batch get(const std::vector<int64_t>& indices) const override;
  const DatasetInfo& info() const override { return info_; }
  void set_epoch(int64_t epoch) override { epoch_ = fixed_ ? 0 : epoch; }

  /// The position hidden in text `index` (of `length` real pieces) in `epoch`: uniform over
  /// [0, length), 0 for an empty text. Exposed for tests.
  static int64_t position(uint64_t seed, int64_t epoch, int64_t index, int64_t length);

 private:
  torch::Tensor ids_;
  DatasetInfo info_;
  uint64_t seed_;
  bool fixed_, trim_;
  std::atomic<int64_t> epoch_{0};
};

}  // namespace smlab::datasets
