// The artifact contract: what an smlab artifact (`smlab export`) takes and what it gives, as
// typed structs that are written to and read from the archive's smlab.json.
//
//   ArtifactSpec   format, who wrote it, model name, config (+ hash), parity checks, provenance
//     InputSpec    kind (image, video, tokens, features, series), dtype, layout, per-sample shape,
//                  and the preprocessing the caller must do before forward(): pixels (resize of
//                  the shorter side, center crop, scale, mean, std: the normalisation itself is in
//                  the graph) or tokens (embedded tokenizer, max_len, vocab, pad id, text
//                  normalisation, whether the graph accepts shorter padded lengths)
//     OutputSpec   task, classes, output width, what forward() returns (logits, probabilities,
//                  values), the `embed` method when there is one, ensemble members and temperatures
//
// Versions. Format 2 (this build) nests the preprocessing under input.pixels / input.tokens and
// the predictions under output. Format 1 (smlab before the typed contract: everything flat at the
// top level and in input) is still read and mapped into the same structs, so old artifacts score
// unchanged (tests/fixtures/artifacts). A newer format, or a value this build does not know
// (an unknown input kind, dtype, layout, task or output kind), is a UserError naming the fix.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "models/model.h"

namespace smlab::inference {

/// Artifact format written by this build; formats 1..kArtifactFormat are read.
constexpr int kArtifactFormat = 2;

enum class DType { UInt8, Int64, Float32 };
/// Per-batch memory layout of the input: pixels are channels-last as decoded (NHWC, NTHWC);
/// float image/video inputs of non-pixel data are NCHW/NCTHW; everything else is "N..." (Flat).
enum class Layout { NHWC, NTHWC, NCHW, NCTHW, Flat };
enum class TextNormalize { None, TweetEval };
enum class OutputKind { Logits, Probabilities, Values };

std::string dtype_name(DType d);
std::string layout_name(Layout l);
std::string text_normalize_name(TextNormalize n);
std::string output_kind_name(OutputKind k);
/// Parsers: an unknown value is a UserError naming `where` and the known values.
models::InputKind parse_input_kind(const std::string& s, const std::string& where);
DType parse_dtype(const std::string& s, const std::string& where);
Layout parse_layout(const std::string& s, const std::string& where);
TextNormalize parse_text_normalize(const std::string& s, const std::string& where);
OutputKind parse_output_kind(const std::string& s, const std::string& where);
datasets::Task parse_task(const std::string& s, const std::string& where);

/// uint8 pixels -> what the graph receives: resize the shorter side to `resize_shorter` (0: just
/// enough to cover `crop`), center-crop `crop` = {h, w}; the graph then computes
/// (x * scale - mean) / std per channel (empty mean/std: no normalisation).
struct PixelPreprocess {
  int64_t resize_shorter = 0;
  std::vector<int64_t> crop;  ///< {h, w}
  double scale = 1.0 / 255.0;
  std::vector<double> mean, std;
};

/// Text -> int64 ids: normalise, tokenise with the embedded SentencePiece model, cut at max_len,
/// pad with pad_id. `variable_length`: the graph gives the same outputs at shorter padded lengths.
struct TokenPreprocess {
  int64_t vocab_size = 0;
  int64_t pad_id = 0;
  int64_t max_len = 0;
  TextNormalize normalize = TextNormalize::None;
  bool variable_length = false;
  std::string tokenizer;             ///< name of the embedded file ("" = none)
  nlohmann::json length_check;       ///< the export's variable-length check (lengths, relative_error)
};

struct InputSpec {
  models::InputKind kind = models::InputKind::Image;
  DType dtype = DType::Float32;
  Layout layout = Layout::Flat;
  std::vector<int64_t> shape;  ///< per sample, in `layout`
  std::optional<PixelPreprocess> pixels;  ///< dtype uint8 (images, clips)
  std::optional<TokenPreprocess> tokens;  ///< dtype int64 (token ids)

  nlohmann::json to_json() const;
  /// Reads format `format`'s "input" object; `where` names the file for errors.
  static InputSpec from_json(const nlohmann::json& j, int format, const std::string& where);
};

/// The `embed(x)` / `forward_embed(x)` methods: the classifier's input (penultimate features).
struct EmbedSpec {
  int64_t dim = 0;
  std::string classifier;  ///< the Linear cut off ("fc")
  double relative_error = 0;
};

/// An ensemble artifact's members and the per-member temperatures and weights it folds in.
struct EnsembleSpec {
  std::vector<std::string> members;
  std::string method;
  std::vector<double> temperatures, weights;
};

struct OutputSpec {
  datasets::Task task = datasets::Task::Classification;
  std::vector<std::string> classes;
  int64_t dim = 0;  ///< output width: classes, or regression targets
  OutputKind outputs = OutputKind::Logits;
  /// Temperature of `smlab calibrate` (1 = none): consumers divide the logits by it before the
  /// softmax; `smlab score` does. Logits artifacts only.
  double temperature = 1.0;
  std::optional<EmbedSpec> embed;
  std::optional<EnsembleSpec> ensemble;

  bool classification() const { return task == datasets::Task::Classification; }
  nlohmann::json to_json() const;
  static OutputSpec from_json(const nlohmann::json& j, const std::string& where);
};

struct ArtifactSpec {
  int format = kArtifactFormat;  ///< as read; written as kArtifactFormat unless a test sets it
  std::string smlab_version, libtorch_version;
  std::string model;
  InputSpec input;
  OutputSpec output;
  std::string config_hash, config;  ///< the run's resolved config (YAML) and its hash
  int64_t check_batch = 0;          ///< export parity check: batch size and relative error
  double check_error = 0;
  std::string run, checkpoint;      ///< where it came from ("" when not exported from a run)

  nlohmann::json to_json() const;
  /// Reads any supported format; a format newer than kArtifactFormat, or older than 1, is a
  /// UserError naming `where` and the fix.
  static ArtifactSpec from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace smlab::inference
