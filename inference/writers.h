// Output writers for `smlab score`: one registry entry per output format.
//
//   csv    id,label,confidence,top_k,p_<class>... (regression: id,value_0,...), + uncertainty, + e_0...
//   jsonl  {"id", "label", "confidence", "top_k": [{"label", "p"}], "probs": {...}} (regression:
//          {"id", "values"}), + "embedding"
//   hdf5   ids, positions, probabilities [N, C], top_k_indices / top_k_probabilities [N, K],
//          classes (regression: values [N, W]), + embeddings [N, D]
//
// A writer turns one chunk's model outputs into the bytes of a part file (journal.h), and at the
// end joins the parts, in position order, into the output file (atomically).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.h"
#include "datasets/hdf5_io.h"
#include "inference/artifact.h"

namespace smlab::inference {

/// What every writer needs to know of the outputs.
struct RowFormat {
  OutputSpec output;
  int64_t top_k = 5;      ///< clipped to [1, output.dim]
  int64_t embed_dim = 0;  ///< 0: no embeddings
  std::string uncertainty;  ///< "" or a prediction_uncertainty strategy: one more column per row
};

class OutputWriter {
 public:
  virtual ~OutputWriter() = default;
  /// One chunk's part file: rows for `ids` at input `positions`, from the model outputs `y`
  /// [n, dim] and the embeddings `emb` [n, embed_dim] (float, CPU).
  virtual std::string chunk(const std::vector<std::string>& ids, const std::vector<int64_t>& positions,
                            const torch::Tensor& y, const torch::Tensor& emb) const = 0;
  /// Joins the part files, in order, into `output` (atomically); returns the number of rows.
  virtual int64_t assemble(const std::vector<std::filesystem::path>& parts, const std::filesystem::path& output) const = 0;
};

struct OutputWriterEntry {
  std::string help;
  std::vector<std::string> extensions;  ///< for --output-format auto
  bool header = false;                  ///< a text file whose first line is a header
  bool mergeable = true;                ///< shard outputs can be joined by `smlab score merge`
  std::function<std::unique_ptr<OutputWriter>(const RowFormat&)> make;
};

/// `s` as one CSV field (quoted when it holds a comma, quote or newline).
std::string csv_field(const std::string& s);

/// A tensor as one dataset of datasets::h5::write_arrays: float32 for floating tensors, int64 for
/// integer and bool ones, with the tensor's shape.
datasets::h5::Array h5_array(const std::string& name, const torch::Tensor& t);

/// Output format name -> writer. Filled by register_writers() (from smlab::register_all()).
Registry<OutputWriterEntry>& writer_registry();
void register_writers();

/// The output format for `--output-format` `requested` ("auto": from the output's extension).
std::string detect_output_format(const std::filesystem::path& output, const std::string& requested);

}  // namespace smlab::inference
