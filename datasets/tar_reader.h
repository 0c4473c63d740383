// Sequential readers for gzip files and tar archives (plain or gzipped), used by `smlab pack`
// (CIFAR-style .tar.gz image archives, gzipped IDX files). Kept apart from the packer so that the
// fuzz harnesses (tests/fuzz/fuzz_tar.cpp) build them without OpenCV or LibTorch.
//
// Example:
//   smlab::datasets::TarReader tar("cifar10.tar.gz");
//   smlab::datasets::TarEntry e;
//   while (tar.next(e)) { std::string bytes = tar.read_data(); ... }
#pragma once
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace smlab::datasets {

/// Reads a gzip (or plain: zlib passes it through) file sequentially.
class GzFile {
 public:
  explicit GzFile(const std::filesystem::path& path);
  ~GzFile();
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  /// Reads up to n bytes; returns how many were read. Throws UserError on a decompression error.
  size_t read(void* dst, size_t n);
  /// Reads exactly n bytes; throws UserError naming the file and `what` when it ends first.
  void read_exact(void* dst, size_t n, const std::string& what);

 private:
  std::filesystem::path path_;
  gzFile f_ = nullptr;
};

struct TarEntry {
  std::string name;
  uint64_t size = 0;
  char type = '0';
};

/// The regular files of a tar archive (ustar, GNU long names, pax path records), in order.
class TarReader {
 public:
  explicit TarReader(const std::filesystem::path& path) : path_(path), gz_(path) {}
  /// Advances to the next regular file; false at the end of the archive. Throws UserError naming
  /// the archive for a damaged or truncated header.
  bool next(TarEntry& e);
  /// The current member's bytes (call at most once per next()).
  std::string read_data();
  /// Skips the rest of the current member.
  void skip();

 private:
  std::filesystem::path path_;
  GzFile gz_;
  uint64_t pending_ = 0;
};

}  // namespace smlab::datasets
