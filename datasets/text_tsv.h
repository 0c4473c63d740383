// The text_tsv dataset's reading steps, shared with `smlab tokenizer train --config`.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "datasets/dataset.h"

namespace smlab::datasets {

/// The labelled texts of one split of a text_tsv config, after normalisation (data.normalize),
/// and for the training source after exclusion (data.exclude, data.exclude_eval) and
/// de-duplication (data.dedup), in that order, and then the train/validation hold-out.
struct TextSplit {
  std::vector<std::string> texts;
  std::vector<int64_t> labels;       ///< ids into `classes`
  std::vector<std::string> classes;
  std::string report;                ///< one line: what was read, skipped, excluded and merged
};
TextSplit read_text_split(const config::Config& cfg, Split split);

/// The SentencePiece model a text_tsv config uses: data.tokenizer, or with `tokenizer: auto` a
/// model trained on the training split's texts (data.tokenizer_vocab, data.tokenizer_type) and
/// cached under data.tokenizer_cache by a hash of those texts and settings. `train` may pass the
/// training split when the caller has it already.
std::filesystem::path resolve_tokenizer(const config::Config& cfg, const TextSplit* train = nullptr);

/// The rows of the training split (of `n` texts, as read_text_split gives them) to train on, in
/// order: data.train_rows (a file of 0-based row numbers, one per line; '#' lines skipped) or a
/// seeded random subset of data.train_limit rows (data.subset_seed, or experiment.seed when it is -1);
/// nullopt = all. UserError for a
/// missing file, a bad, repeated or out-of-range row (naming file and line); UserError too when both are set.
std::optional<std::vector<int64_t>> training_rows(const config::Config& cfg, int64_t n);

/// data.subset_seed, or experiment.seed when it is -1.
int64_t subset_seed(const config::Config& cfg);

}  // namespace smlab::datasets
