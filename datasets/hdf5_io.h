// Small RAII layer over the HDF5 C API for packed shards (smlab pack, hdf5_images, text_tsv).
//
// A shard is one HDF5 file holding, for N records:
//   images  uint8 [N, H, W, C]   (image and IDX shards; chunked, deflate-compressed), or
//           uint8 [N, T, H, W, C] (video clip shards)
//   texts   UTF-8 variable-length strings [N]  (text shards; chunked, deflate-compressed)
//   labels  int64 [N]
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

/// CRC-32 (zlib polynomial) of a file's bytes, as 8 lowercase hex digits. Throws UserError.
std::string crc32_file(const std::filesystem::path& path);

}  // namespace smlab::datasets::h5
