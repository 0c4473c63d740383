#include "core/zip_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace smlab {
namespace {

// Zip record signatures and fixed sizes (APPNOTE.TXT 4.3).
constexpr uint32_t kEocd = 0x06054b50, kEocd64 = 0x06064b50, kEocd64Locator = 0x07064b50;
constexpr uint32_t kCentral = 0x02014b50, kLocal = 0x04034b50;
constexpr size_t kEocdSize = 22, kCentralSize = 46, kLocalSize = 30;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class Reader {
 public:
  Reader(const std::filesystem::path& path, std::string what) : path_(path), what_(std::move(what)), in_(path, std::ios::binary) {
    if (!in_) throw UserError("cannot read " + what_ + " " + path.string());
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
  }
  uint64_t size() const { return size_; }
  std::vector<unsigned char> read(uint64_t offset, uint64_t n) {
    if (offset > size_ || n > size_ - offset) fail("it is truncated (a record reaches past the end of the file)");
    std::vector<unsigned char> buf(n);
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
    if (!in_) fail("a read failed at byte " + std::to_string(offset));
    return buf;
  }
  /// CRC-32 of n bytes from offset, read in 1 MiB blocks.
  uint32_t crc(uint64_t offset, uint64_t n) {
    if (offset > size_ || n > size_ - offset) fail("it is truncated (a record reaches past the end of the file)");
    in_.seekg(static_cast<std::streamoff>(offset));
    std::vector<char> buf(1 << 20);
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
      const auto k = static_cast<std::streamsize>(std::min<uint64_t>(n, buf.size()));
      in_.read(buf.data(), k);
      if (!in_) fail("a read failed");
      c = crc32(c, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(k));
      n -= static_cast<uint64_t>(k);
    }
    return static_cast<uint32_t>(c);
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw UserError(what_ + " " + path_.string() + " is corrupt: " + why + "; re-create it (re-export or retrain)");
  }

 private:
  std::filesystem::path path_;
  std::string what_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

struct Directory {
  uint64_t entries = 0, offset = 0, size = 0;
};

Directory find_directory(Reader& r) {
  if (r.size() < kEocdSize) r.fail("it is not a zip archive (too short)");
  const uint64_t tail = std::min<uint64_t>(r.size(), kEocdSize + 65535);
  const auto buf = r.read(r.size() - tail, tail);
  for (int64_t i = static_cast<int64_t>(tail - kEocdSize); i >= 0; --i) {
    const unsigned char* p = buf.data() + i;
    if (le(p, 4) != kEocd) continue;
    Directory d{le(p + 10, 2), le(p + 16, 4), le(p + 12, 4)};
    const uint64_t eocd_at = r.size() - tail + static_cast<uint64_t>(i);
    if ((d.entries == 0xFFFF || d.offset == 0xFFFFFFFF || d.size == 0xFFFFFFFF) && eocd_at >= 20) {
      const auto loc = r.read(eocd_at - 20, 20);
      if (le(loc.data(), 4) == kEocd64Locator) {
        const auto e64 = r.read(le(loc.data() + 8, 8), 56);
        if (le(e64.data(), 4) != kEocd64) r.fail("its ZIP64 end record is missing");
        d = Directory{le(e64.data() + 32, 8), le(e64.data() + 48, 8), le(e64.data() + 40, 8)};
      }
    }
    return d;
  }
  r.fail("it is not a complete zip archive (no end-of-archive record; truncated?)");
}

}  // namespace

int64_t verify_zip_crc(const std::filesystem::path& path, const std::string& what) {
  Reader r(path, what);
  const Directory dir = find_directory(r);
  const auto cd = r.read(dir.offset, dir.size);
  size_t pos = 0;
  for (uint64_t e = 0; e < dir.entries; ++e) {
    if (pos + kCentralSize > cd.size() || le(cd.data() + pos, 4) != kCentral) r.fail("its central directory is damaged");
    const unsigned char* p = cd.data() + pos;
    const uint32_t crc = static_cast<uint32_t>(le(p + 16, 4));
    uint64_t csize = le(p + 20, 4), usize = le(p + 24, 4), local = le(p + 42, 4);
    const size_t name_len = le(p + 28, 2), extra_len = le(p + 30, 2), comment_len = le(p + 32, 2);
    const uint32_t method = static_cast<uint32_t>(le(p + 10, 2));
    if (pos + kCentralSize + name_len + extra_len > cd.size()) r.fail("its central directory is damaged");
    const std::string name(reinterpret_cast<const char*>(p + kCentralSize), name_len);
    // ZIP64 extra field (id 1): the 64-bit values, in order, of whichever fields are 0xFFFFFFFF.
    for (size_t x = 0; x + 4 <= extra_len;) {
      const unsigned char* f = p + kCentralSize + name_len + x;
      const size_t id = le(f, 2), len = le(f + 2, 2);
      // A record reaching past its extra field read past the directory (a heap overflow under ASan
      // on a crafted entry; tests/fuzz/regressions/metadata/zip64-extra-field-overrun.zip).
      if (x + 4 + len > extra_len) r.fail("its central directory is damaged");
      if (id == 1) {
        size_t k = 4;
        if (usize == 0xFFFFFFFF && k + 8 <= len + 4) usize = le(f + k, 8), k += 8;
        if (csize == 0xFFFFFFFF && k + 8 <= len + 4) csize = le(f + k, 8), k += 8;
        if (local == 0xFFFFFFFF && k + 8 <= len + 4) local = le(f + k, 8), k += 8;
      }
      x += 4 + len;
    }
    pos += kCentralSize + name_len + extra_len + comment_len;
    const auto lh = r.read(local, kLocalSize);
    if (le(lh.data(), 4) != kLocal) r.fail("record '" + name + "' has no local header where the directory says");
    const uint64_t data = local + kLocalSize + le(lh.data() + 26, 2) + le(lh.data() + 28, 2);
    if (method != 0) continue;  // compressed records are checked by their decompressor
    if (csize != usize) r.fail("record '" + name + "' is stored but its sizes differ");
    const uint32_t got = r.crc(data, csize);
    if (got != crc) {
      char msg[96];
      std::snprintf(msg, sizeof msg, " fails its CRC-32 check (stored %08x, computed %08x)", crc, got);
      r.fail("record '" + name + "'" + msg);
    }
  }
  return static_cast<int64_t>(dir.entries);
}

}  // namespace smlab
