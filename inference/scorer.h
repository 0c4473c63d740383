// Batch scoring with smlab artifacts (`smlab score`; TorchScript or .pt2 behind runner.h): resumable, sharded, one output row per input.
//
// A job reads every input record once into an index (so each record has a fixed position),
// takes its shard's contiguous slice of positions, and scores it in chunks of `chunk_rows`
// positions. Each chunk's rows and rejects are written to <output>.parts/ atomically and then
// recorded in a durable journal (journal.jsonl). A rerun of the same command skips the chunks in
// the journal, so after a kill the finished output holds every input exactly once: as an output
// row, or as a reject row (<output>.rejects.csv: id, position, reason). When every chunk is
// done the parts are concatenated in position order into <output> (atomically), a
// <output>.done.json summary is written and the parts are removed.
//
// The stages, each in its own file of inference/:
//   readers.h     input format -> records (registry: tsv, csv, jsonl, images, list, hdf5)
//   preprocess.h  records -> the artifact's input tensor, built from its InputSpec (artifact.h)
//   journal.h     the job's fingerprint, durable per-chunk journal, shard outputs and merge
//   writers.h     model outputs -> part files -> the output (registry: csv, jsonl, hdf5)
// Host work (reading, tokenising, decoding) for the next chunk runs on worker threads while the
// model scores the current one.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inference/journal.h"

namespace smlab::inference {

struct ScoreOptions {
  std::filesystem::path model;   ///< TorchScript artifact (.pt) or AOTInductor package (.pt2) from `smlab export`
  std::filesystem::path input;   ///< file or folder
  std::filesystem::path output;  ///< .csv, .jsonl or .h5 (format from the extension unless output_format)
  std::string input_format = "auto";   ///< auto or a reader_registry() name: tsv, csv, jsonl, images, list, hdf5
  std::string output_format = "auto";  ///< auto or a writer_registry() name: csv, jsonl, hdf5
  std::string id_field = "id";         ///< column name (or 0-based index) / JSON key of the row id
  std::string text_field = "text";     ///< column name (or 0-based index) / JSON key of the text
  int64_t batch_size = 256;
  int64_t chunk_rows = 8192;  ///< positions per journaled chunk (fixed for a job: part of its fingerprint)
  int64_t top_k = 5;
  std::string device = "auto";
  std::string precision = "fp32";  ///< fp32, bf16, fp16 (autocast)
  int threads = 0;                 ///< intra-op threads (0 = LibTorch's default)
  int workers = 2;                 ///< host threads that read, tokenise and decode
  int64_t shard_index = 0, shard_count = 1;
  int64_t limit = 0;  ///< score only the first `limit` inputs (0 = all)
  /// Text: sort each chunk's records by token length and pad every batch only to its longest
  /// member (output order unchanged). Used only when the artifact's metadata says its outputs do
  /// not depend on the padded length (input.variable_length, checked at export).
  bool bucket = true;
  bool embeddings = false;  ///< also write the classifier's input (needs an artifact with `embed`)
  std::string uncertainty;  ///< "" or entropy | margin | least_confident: a per-row column (classifiers)
  bool quiet = false;
};

struct ScoreResult {
  int64_t inputs = 0;   ///< positions in this shard
  int64_t rows = 0;     ///< output rows
  int64_t rejects = 0;  ///< reject rows
  int64_t chunks = 0, chunks_resumed = 0;
  double seconds = 0;
  std::filesystem::path output;
};

/// Runs (or resumes, or confirms the completion of) a scoring job.
ScoreResult score(const ScoreOptions& options);

}  // namespace smlab::inference
