// Preprocessing for scoring, built from an artifact's InputSpec: records -> one input tensor for
// the valid records, and a reason for each of the others.
//
//   tokens    normalise (input.tokens.normalize), tokenise with the embedded SentencePiece model,
//             cut at max_len, pad with 0 (int64 [n, max_len]; lengths kept for bucketing)
//   pixels    decode (OpenCV, files only) -> resize of the shorter side + center crop by the
//             same op training evaluation uses, smlab::augment_eval (cuda/ops.h), on uint8 NHWC;
//             the result is rounded back to uint8 because the artifact normalises in its graph
//   features  parse the fields as finite floats (float32 [n, F])
//
// The kind of preprocessor follows the spec (tokens, pixels or a float feature row), never a
// name. Host work runs on `workers` threads.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "inference/artifact.h"
#include "inference/readers.h"

namespace smlab::inference {

struct Prepared {
  std::vector<int64_t> ok;                            ///< positions (within the chunk) that are scored
  std::vector<int64_t> lengths;                       ///< tokens: length of each ok row (at least 1)
  torch::Tensor inputs;                               ///< [ok.size(), ...]
  std::vector<std::pair<int64_t, std::string>> bad;  ///< chunk position, reason
};

class Preprocessor {
 public:
  virtual ~Preprocessor() = default;
  /// Prepares `recs` (packed pixels, if any, are read from `pixels`).
  virtual Prepared operator()(const std::vector<Record>& recs, const PixelStore& pixels) const = 0;
  /// Token rows may be padded per batch to their longest member (the artifact allows it).
  virtual bool variable_length() const { return false; }
};

/// The preprocessor for `spec`; `files` are the artifact's embedded files (the tokenizer),
/// `artifact` names it in errors.
std::unique_ptr<Preprocessor> make_preprocessor(const InputSpec& spec, const std::map<std::string, std::string>& files,
                                                const std::filesystem::path& artifact, int workers);

/// Eval-time geometry of uint8 NHWC images [N, H, W, C] (C = 1 or 3): resize the shorter side to
/// `p.resize_shorter` (0, or too small for the crop: just enough to cover it) and center-crop
/// p.crop, by ops::augment_eval; returns uint8 [N, crop_h, crop_w, C]. An image already at the
/// crop size is returned unchanged.
torch::Tensor eval_pixels(const torch::Tensor& images_nhwc, const PixelPreprocess& p);

/// The shorter-side size augment_eval needs so that an H x W image covers an h x w crop, at
/// least `resize_shorter`.
int64_t covering_resize(int64_t H, int64_t W, int64_t h, int64_t w, int64_t resize_shorter);

}  // namespace smlab::inference
