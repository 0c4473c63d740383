// `smlab pack`: raw inputs -> HDF5 shards + manifest.json (see docs/data.md).
//
// Inputs (kind detected from the path unless given):
//   image  a folder of class subfolders, or a .tar.gz/.tgz/.tar of them (CIFAR-10-images layout);
//          the class of a file is its parent folder's name; JPEG/PNG/BMP decoded with OpenCV and
//          stored as HWC uint8 RGB. `split` keeps only files under <split>/ of the input.
//   idx    MNIST-style IDX images (gzipped or not) with the matching labels file; a 5-D file
//          (N, T, H, W, C) packs as video clips.
//   video  a folder of class subfolders of video files and frame folders (datasets/clips.h);
//          each becomes `frames` frames sampled uniformly, decoded with OpenCV, the shorter side
//          resized to `size` and centre-cropped to size x size, stored as THWC uint8 RGB.
//   text   TSV/CSV rows "... label ... text ..." (SemEval-2017 4A: id<TAB>label<TAB>text), or a
//          TweetEval "<split>_text.txt" with its "<split>_labels.txt" and mapping.txt.
//   csv    the same as text with a comma delimiter.
// Shards are written under temporary names and renamed; manifest.json is written last, atomically.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/hdf5_io.h"

namespace smlab::datasets {

/// A record that could not be packed or read.
struct BadRecord {
  std::string source;  ///< "file:line" or "archive:member" or "file#index"
  std::string reason;
};

struct PackOptions {
  std::string kind;          ///< "", "image", "video", "text", "idx", "csv" ("" = detect from the input)
  bool skip_bad = false;     ///< count and list bad records instead of failing
  int64_t shard_size = 10000;
  std::string split;         ///< image inputs: keep only <split>/...; recorded in the manifest
  int64_t size = 0;          ///< images: resize to size x size; video: shorter side to size, centre crop (0 = keep; all must then agree)
  int64_t frames = 16;       ///< video: frames per clip, sampled uniformly over each video
  int64_t limit = 0;         ///< pack only the first `limit` records (0 = all)
  std::string labels;        ///< idx: labels file (default: images name with images-idx3 -> labels-idx1)
  int label_column = 1;      ///< text: 0-based column of the label
  int text_column = 2;       ///< text: 0-based column of the text
  char delimiter = 0;        ///< text: 0 = tab, or ',' for .csv / kind csv
  std::vector<std::string> classes;  ///< text: class names in id order (default: mapping.txt or sorted labels)
  bool unescape = false;     ///< text: decode \uXXXX escapes (SemEval "downloaded" files) to UTF-8
  int deflate = 4;           ///< gzip level of the shards
};

struct PackResult {
  int64_t count = 0;
  int64_t skipped = 0;
  int64_t shards = 0;
  std::filesystem::path manifest;
};

/// Packs `input` into `out_dir` (created if needed). Throws UserError naming the file and
/// record of the first bad record unless options.skip_bad.
PackResult pack(const std::filesystem::path& input, const std::filesystem::path& out_dir, const PackOptions& options);

/// Whether a file name has an image extension that pack and the frame-folder reader decode
/// (.jpg .jpeg .png .bmp, any case).
bool is_image_file(const std::filesystem::path& path);

/// The contents of an IDX file (MNIST format), unsigned-byte elements only.
struct IdxData {
  std::vector<int64_t> dims;  ///< e.g. {N, 28, 28} for images, {N} for labels
  std::vector<uint8_t> data;  ///< row-major
};

/// Reads an IDX file, gzipped or not. Throws UserError naming the file (and the record where a
/// truncated file ends).
IdxData read_idx(const std::filesystem::path& path);

// ---------------------------------------------------------------------------------------------
// Text records, shared by `pack --kind text` and the text_tsv dataset.
// ---------------------------------------------------------------------------------------------
struct TextRecord {
  std::string source;  ///< "file:line"
  std::string label;   ///< class name as written in the file (TweetEval: mapped through mapping.txt)
  std::string text;
};

struct TextReadOptions {
  int label_column = 1;
  int text_column = 2;
  char delimiter = 0;  ///< 0 = from the extension (.csv -> ',', else tab)
  bool unescape = false;
  bool skip_bad = false;
};

/// Reads labelled text records. Wrong column counts and empty labels are bad records: they
/// throw UserError("file:line: reason") or, with skip_bad, go to `skipped`.
/// `mapping` receives TweetEval class names (id order) when the input is a *_text.txt file.
std::vector<TextRecord> read_text_records(const std::filesystem::path& path, const TextReadOptions& options,
                                          std::vector<BadRecord>* skipped, std::vector<std::string>* mapping = nullptr);

/// Decodes JSON-style \uXXXX escapes (with surrogate pairs) to UTF-8; other text is unchanged.
std::string unescape_unicode(const std::string& s);

}  // namespace smlab::datasets

namespace smlab::datasets {

/// A packed folder read back whole (manifest.json + every shard, in order).
struct PackedData {
  std::string kind;                   ///< "image", "video" or "text"
  std::vector<std::string> classes;
  std::vector<int64_t> sample_shape;  ///< images: {H, W, C}; video: {T, H, W, C}
  std::vector<uint8_t> images;        ///< images and video: count * prod(sample_shape) bytes
  std::vector<std::string> texts;     ///< text
  std::vector<int64_t> labels;
  int64_t count() const { return static_cast<int64_t>(labels.size()); }
};

/// Reads a folder written by pack(). With `verify`, each shard's size and CRC-32 must match the
/// manifest. Throws UserError naming the folder or shard file and what is wrong.
PackedData read_packed(const std::filesystem::path& dir, bool verify = true);

/// Checks shard file `p` against its manifest entry (`bytes`, `crc32`); throws UserError naming the
/// file and what differs. read_packed (training) and the scorer's HDF5 reader both use it.
void verify_shard_file(const std::filesystem::path& p, const nlohmann::json& entry);
/// Checks that a shard read from `p` holds the manifest entry's `count` records.
void check_shard_count(const std::filesystem::path& p, const h5::Shard& shard, const nlohmann::json& entry);

/// Checks that the packed split at `split_dir` (the validation or test data) names the same classes,
/// in the same order, as the training pack at `train_dir` (its manifest only is read). Class ids are
/// positions in that list, so two packs with the same count but other names (or order) would pair
/// "bird" images with "cat". Throws UserError naming both folders and the first difference. Does
/// nothing when both are the same folder.
void check_split_classes(const std::filesystem::path& split_dir, const std::vector<std::string>& split_classes,
                         const std::filesystem::path& train_dir, const std::string& split_name);

}  // namespace smlab::datasets
