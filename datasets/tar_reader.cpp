// gzip and tar readers (tar_reader.h).
#include "datasets/tar_reader.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace smlab::datasets {
namespace fs = std::filesystem;

namespace {
/// GNU long names and pax records are a path or a few keys: a larger one is a damaged header.
constexpr uint64_t kMaxHeaderData = uint64_t{1} << 20;
}  // namespace

GzFile::GzFile(const fs::path& path) : path_(path) {
  f_ = gzopen(path.c_str(), "rb");
  if (!f_) throw UserError(path.string() + ": cannot open");
  gzbuffer(f_, 1 << 17);
}

GzFile::~GzFile() {
  if (f_) gzclose(f_);
}

size_t GzFile::read(void* dst, size_t n) {
  size_t total = 0;
  auto* out = static_cast<char*>(dst);
  while (total < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, 1u << 30));
    const int got = gzread(f_, out + total, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f_, &errnum);
      throw UserError(path_.string() + ": cannot decompress (" + (msg ? msg : "zlib error") + ")");
    }
    if (got == 0) break;
    total += static_cast<size_t>(got);
  }
  return total;
}

void GzFile::read_exact(void* dst, size_t n, const std::string& what) {
  if (read(dst, n) != n) throw UserError(path_.string() + ": truncated while reading " + what);
}

bool TarReader::next(TarEntry& e) {
  if (pending_ > 0) skip();
  std::string long_name;
  while (true) {
    char h[512];
    const size_t got = gz_.read(h, 512);
    if (got == 0) return false;  // archive without end blocks
    if (got != 512) throw UserError(path_.string() + ": truncated tar header");
    if (std::all_of(h, h + 512, [](char c) { return c == 0; })) return false;
    uint64_t size = 0;
    for (int i = 124; i < 136 && h[i]; ++i) {
      if (h[i] == ' ') continue;
      if (h[i] < '0' || h[i] > '7') throw UserError(path_.string() + ": bad tar header (size field)");
      size = size * 8 + static_cast<uint64_t>(h[i] - '0');
    }
    const char type = h[156];
    std::string name(h, strnlen(h, 100));
    if (std::string(h + 257, 5) == "ustar") {
      const std::string prefix(h + 345, strnlen(h + 345, 155));
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    pending_ = size;
    if (type == 'L' || type == 'x') {
      if (size > kMaxHeaderData)
        throw UserError(path_.string() + ": a " + (type == 'L' ? "long-name" : "pax") + " header of " +
                        std::to_string(size) + " bytes (damaged archive?)");
      std::string data = read_data();
      if (type == 'L') {
        long_name = std::string(data.c_str());
      } else {  // pax records: "<len> key=value\n"
        size_t pos = 0;
        while (pos < data.size()) {
          const size_t sp = data.find(' ', pos);
          if (sp == std::string::npos) break;
          // "<len>" is decimal digits; anything else ends the records (std::stoul threw here on
          // a damaged header, found by tests/fuzz/fuzz_tar.cpp).
          size_t len = 0;
          for (size_t i = pos; i < sp && len <= data.size(); ++i) {
            if (data[i] < '0' || data[i] > '9') throw UserError(path_.string() + ": bad pax header record");
            len = len * 10 + static_cast<size_t>(data[i] - '0');
          }
          if (len == 0 || len > data.size() || pos + len > data.size() || sp + 2 > pos + len) break;
          const std::string rec = data.substr(sp + 1, pos + len - sp - 2);
          if (rec.rfind("path=", 0) == 0) long_name = rec.substr(5);
          pos += len;
        }
      }
      continue;
    }
    if (!long_name.empty()) name = long_name;
    while (name.rfind("./", 0) == 0) name = name.substr(2);
    if (type == '0' || type == '\0' || type == '7') {
      e = {name, size, '0'};
      return true;
    }
    skip();  // directories, links, global pax headers
  }
}

std::string TarReader::read_data() {
  // Read in blocks of growing size: a damaged size field (up to 64 GiB) fails as a truncated member
  // instead of allocating what it claims.
  std::string data;
  while (data.size() < pending_) {
    const size_t at = data.size();
    data.resize(at + static_cast<size_t>(std::min<uint64_t>(pending_ - at, std::max<size_t>(at, size_t{1} << 20))));
    gz_.read_exact(data.data() + at, data.size() - at, "a tar member");
  }
  const uint64_t pad = (512 - pending_ % 512) % 512;
  char junk[512];
  if (pad) gz_.read_exact(junk, pad, "tar padding");
  pending_ = 0;
  return data;
}

void TarReader::skip() {
  std::vector<char> junk(1 << 16);
  uint64_t left = pending_ + (512 - pending_ % 512) % 512;
  while (left > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, junk.size()));
    gz_.read_exact(junk.data(), n, "a tar member");
    left -= n;
  }
  pending_ = 0;
}

}  // namespace smlab::datasets
