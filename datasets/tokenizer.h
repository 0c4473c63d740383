// SentencePiece tokenizer: loading a trained model, encoding text to ids, and training.
//
// Models trained by `smlab tokenizer train` reserve id 0 for padding (pad_id=0, unk_id=1, no
// BOS/EOS), so that fixed-length id tensors can be padded with 0 (the text_tsv dataset does).
//
// Example:
//   auto tok = smlab::datasets::Tokenizer::load("tweets.model");
//   std::vector<int> ids = tok.encode("good morning");
#pragma once
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace smlab::datasets {

class Tokenizer {
 public:
  /// Loads a .model file; throws UserError naming the path when it cannot.
  static std::shared_ptr<const Tokenizer> load(const std::filesystem::path& model);
  /// Loads a model from its bytes (e.g. embedded in an artifact); `name` stands for it in errors.
  static std::shared_ptr<const Tokenizer> from_bytes(const std::string& bytes, const std::string& name);
  ~Tokenizer();

  /// Token ids of `text` (no BOS/EOS). Thread-safe.
  std::vector<int> encode(const std::string& text) const;
  /// [texts.size(), max_len] int64 ids, truncated to max_len and padded with `pad` (default 0).
  torch::Tensor encode_batch(const std::vector<std::string>& texts, int64_t max_len, int64_t pad = 0) const;
  int vocab_size() const;
  int pad_id() const;  ///< -1 when the model has no padding piece
  int unk_id() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::filesystem::path path_;
};

struct TokenizerTrainOptions {
  std::filesystem::path input;         ///< one sentence per line
  std::string model_prefix;            ///< writes <prefix>.model and <prefix>.vocab
  int vocab_size = 8000;
  std::string model_type = "unigram";  ///< unigram | bpe | word | char
  double character_coverage = 0.9995;
  int64_t input_sentence_size = 0;     ///< 0 = all lines
  uint64_t seed = 0;                   ///< sampling seed (only used with input_sentence_size)
  int threads = 1;
};

/// Trains a SentencePiece model (pad 0, unk 1, no BOS/EOS). Both output files are written
/// under temporary names and renamed. Throws UserError with SentencePiece's message.
void train_tokenizer(const TokenizerTrainOptions& options);

}  // namespace smlab::datasets
