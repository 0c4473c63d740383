// Input readers for `smlab score`: one registry entry per input format, each turning a file or
// folder into records at fixed positions (one record per input line, image or packed sample).
//
//   tsv, csv   text rows (id + text columns) or tabular rows (id + features)
//   jsonl      {"id", "text"} objects or {"id", "features": [...]}
//   images     a folder of image files (recursive, sorted; id = the relative path)
//   list       a .list file of image paths (relative to the list's folder)
//   hdf5       packed shards from `smlab pack`: images, video clips or texts
//
// Each entry names the input kinds it serves; the scorer picks the entry by the --input-format
// (or the format detected from the path) and refuses a format that cannot feed the artifact's
// input kind. Series (forecaster runs) are scored from the run folder by analysis::score_series.
// A record a reader cannot parse still gets its position, with a reject reason.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/registry.h"
#include "inference/artifact.h"

namespace smlab::inference {

/// One input record at a fixed position. `payload` is the text or the image path; `fields` are
/// a tabular row's feature fields; a non-empty `reject` is the reason it cannot be scored.
struct Record {
  std::string id, payload, reject;
  std::vector<std::string> fields;
  int64_t pixels = -1;  ///< packed images/clips: index into the PixelStore
  std::string extra;    ///< text rows: the value of ReadOptions::extra_field ("" when absent)
};

/// Images or clips read from HDF5 shards: one [H, W, C] (or [T, H, W, C]) uint8 RGB record after
/// another.
struct PixelStore {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

struct ReadOptions {
  std::filesystem::path input;
  std::string id_field = "id";      ///< column name (or 0-based index) / JSON key of the row id
  std::string text_field = "text";  ///< column name (or 0-based index) / JSON key of the text
  /// Text rows: one more column name (or index) / JSON key copied into Record::extra (a date).
  std::string extra_field;
};

struct InputRecords {
  std::vector<Record> records;
  PixelStore pixels;
};

struct InputReader {
  std::string help;
  std::vector<models::InputKind> kinds;  ///< the artifact input kinds it can feed
  std::function<InputRecords(const ReadOptions&, const InputSpec&)> read;
};

/// Input format name -> reader. Filled by register_readers() (from smlab::register_all()).
Registry<InputReader>& reader_registry();
void register_readers();

/// The input format of `input` for `--input-format` `requested` ("auto": from the extension, or
/// for a folder: hdf5 when it holds manifest.json or .h5 files, else images).
std::string detect_input_format(const std::filesystem::path& input, const std::string& requested);

/// Reads `input` with the reader of `format`, after checking that it can feed `spec`. `model`
/// names the artifact in errors.
InputRecords read_input(const ReadOptions& o, const std::string& format, const InputSpec& spec,
                        const std::filesystem::path& model);

bool is_hdf5_file(const std::filesystem::path& p);

}  // namespace smlab::inference
