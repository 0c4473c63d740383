// Small RAII layer over the HDF5 C API for packed shards (smlab pack, hdf5_images, text_tsv).
//
// A shard is one HDF5 file holding, for N records:
//   images  uint8 [N, H, W, C]   (image and IDX shards; chunked, deflate-compressed), or
//           uint8 [N, T, H, W, C] (video clip shards)
//   texts   UTF-8 variable-length strings [N]  (text shards; chunked, deflate-compressed)
//   labels  int64 [N]
//   ids     UTF-8 variable-length strings [N]  (optional: record ids, used by `smlab score`)
// The serial HDF5 library is not thread-safe: every call in this file holds one process-wide
// mutex, and datasets read whole shards into memory once, at construction.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace smlab::datasets::h5 {

/// Contents of one shard, as written or read back.
struct Shard {
  std::vector<int64_t> image_shape;  ///< {N, H, W, C} or {N, T, H, W, C}; empty for text shards
  std::vector<uint8_t> images;       ///< N*H*W*C (or N*T*H*W*C) bytes, row-major
  std::vector<std::string> texts;    ///< text shards only
  std::vector<int64_t> labels;       ///< N
  std::vector<std::string> ids;      ///< optional record ids (N or empty)
  int64_t count() const { return static_cast<int64_t>(labels.size()); }
};

/// Writes `shard` to `path` atomically (temporary name, fsync, rename). `deflate` is the
/// gzip level (1..9); chunks hold `chunk_records` records (0: as many as fit in about 1 MiB
/// uncompressed, 1 to 256; a reader fetching one record decompresses one chunk, so chunks of 256
/// 224x224 images, 38 MB each, made per-record reads ~100x slower than they need to be).
void write_shard(const std::filesystem::path& path, const Shard& shard, int deflate = 4, int64_t chunk_records = 0);

/// Reads a whole shard. Throws UserError naming the file when it is missing, truncated,
/// not HDF5, or lacks the expected datasets.
Shard read_shard(const std::filesystem::path& path);

/// One dataset of a generic HDF5 file: float32, int64 or UTF-8 strings, row-major with `dims`
/// (the vector of `type` is used).
struct Array {
  enum Type { F32, I64, Str } type = F32;
  std::string name;
  std::vector<int64_t> dims;
  std::vector<float> f32;
  std::vector<int64_t> i64;
  std::vector<std::string> strings;
};

/// Writes `arrays` as the datasets of a new HDF5 file, atomically (temporary name, fsync, rename).
void write_arrays(const std::filesystem::path& path, const std::vector<Array>& arrays, int deflate = 4);

/// Reads the datasets `names` of an HDF5 file (float types as f32, integers as i64, strings).
/// Throws UserError naming the file and the dataset when one is missing or unreadable.
std::vector<Array> read_arrays(const std::filesystem::path& path, const std::vector<std::string>& names);

/// CRC-32 (zlib polynomial) of a file's bytes, as 8 lowercase hex digits. Throws UserError.
std::string crc32_file(const std::filesystem::path& path);

}  // namespace smlab::datasets::h5
