#include "datasets/hdf5_vlen_check.h"

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <fstream>
#include <map>
#include <vector>

#include "core/error.h"

namespace smlab::datasets::h5 {
namespace {

/// Little-endian unsigned integer of `bytes` bytes at p.
uint64_t le(const unsigned char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

struct Layout {
  size_t sizeof_addr = 8, sizeof_size = 8;
  uint64_t base = 0;  // the user block: file addresses are relative to it
  hsize_t chunk = 0;
  std::vector<H5Z_filter_t> filters;  // in the order they were applied when writing
};

Layout layout_of(hid_t ds, const std::function<void(const std::string&)>& bad) {
  Layout l;
  const hid_t dcpl = H5Dget_create_plist(ds);
  if (dcpl < 0) bad("cannot read its creation properties");
  const bool chunked = H5Pget_layout(dcpl) == H5D_CHUNKED;
  const int rank = chunked ? H5Pget_chunk(dcpl, 1, &l.chunk) : -1;
  const int nf = H5Pget_nfilters(dcpl);
  for (int i = 0; i < nf; ++i) {
    unsigned flags = 0, config = 0;
    size_t nelmts = 0;
    l.filters.push_back(H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelmts, nullptr, 0, nullptr, &config));
  }
  H5Pclose(dcpl);
  if (!chunked || rank != 1 || l.chunk == 0) bad("is not a one-dimensional chunked dataset, as smlab writes strings");
  for (auto f : l.filters)
    if (f != H5Z_FILTER_SHUFFLE && f != H5Z_FILTER_DEFLATE) bad("uses a filter smlab does not write (" + std::to_string(f) + ")");
  const hid_t file = H5Iget_file_id(ds);
  const hid_t fcpl = file >= 0 ? H5Fget_create_plist(file) : -1;
  hsize_t block = 0;
  const bool ok = fcpl >= 0 && H5Pget_sizes(fcpl, &l.sizeof_addr, &l.sizeof_size) >= 0 && H5Pget_userblock(fcpl, &block) >= 0;
  if (fcpl >= 0) H5Pclose(fcpl);
  if (file >= 0) H5Fclose(file);
  if (!ok || (l.sizeof_addr != 4 && l.sizeof_addr != 8) || (l.sizeof_size != 4 && l.sizeof_size != 8))
    bad("has an unusual file layout");
  l.base = block;
  return l;
}

/// The stored bytes of one chunk with smlab's filters undone: `elems` elements of `size` bytes.
std::vector<unsigned char> raw_chunk(hid_t ds, hsize_t offset, const Layout& l, size_t size, size_t elems,
                                     uint64_t file_size, const std::function<void(const std::string&)>& bad) {
  hsize_t stored = 0;
  if (H5Dget_chunk_storage_size(ds, &offset, &stored) < 0 || stored == 0) return {};  // never written: fill values
  if (stored > file_size) bad("has a chunk larger than the file");
  std::vector<unsigned char> buf(stored);
  uint32_t mask = 0;
  if (H5Dread_chunk(ds, H5P_DEFAULT, &offset, &mask, buf.data()) < 0) bad("has a chunk that cannot be read");
  const size_t want = size * elems;
  for (size_t i = l.filters.size(); i-- > 0;) {
    if (mask & (1u << i)) continue;  // this filter was skipped for this chunk
    if (l.filters[i] == H5Z_FILTER_DEFLATE) {
      std::vector<unsigned char> out(want + 1);
      uLongf got = static_cast<uLongf>(out.size());
      if (uncompress(out.data(), &got, buf.data(), static_cast<uLong>(buf.size())) != Z_OK || got != want)
        bad("has a chunk that does not inflate to its size");
      out.resize(want);
      buf.swap(out);
    } else {  // shuffle: byte b of every element, then byte b + 1, ...
      if (buf.size() != want) bad("has a chunk of the wrong size");
      std::vector<unsigned char> out(want);
      for (size_t b = 0; b < size; ++b)
        for (size_t e = 0; e < elems; ++e) out[e * size + b] = buf[b * elems + e];
      buf.swap(out);
    }
  }
  if (buf.size() != want) bad("has a chunk of the wrong size");
  return buf;
}

/// Object index -> size of the global-heap collection at `addr`, parsed as libhdf5 parses it, with
/// every object required to lie inside the collection.
std::map<uint64_t, uint64_t> collection(std::ifstream& in, uint64_t addr, const Layout& l, uint64_t file_size,
                                        const std::function<void(const std::string&)>& bad) {
  const std::string at = "the string heap at " + std::to_string(addr);
  const size_t hdr = 8 + l.sizeof_size, objhdr = 8 + l.sizeof_size;
  const uint64_t pos = l.base + addr;
  if (pos >= file_size || file_size - pos < hdr) bad("points at " + at + ", outside the file");
  std::vector<unsigned char> h(hdr);
  in.seekg(static_cast<std::streamoff>(pos));
  in.read(reinterpret_cast<char*>(h.data()), static_cast<std::streamsize>(hdr));
  if (!in || std::memcmp(h.data(), "GCOL", 4) != 0 || h[4] != 1) bad("points at " + at + ", which is not one");
  const uint64_t size = le(h.data() + 8, l.sizeof_size);
  if (size < hdr || size > file_size - pos) bad("points at " + at + ", which claims more than the file holds");
  std::vector<unsigned char> c(size);
  in.seekg(static_cast<std::streamoff>(pos));
  in.read(reinterpret_cast<char*>(c.data()), static_cast<std::streamsize>(size));
  if (!in) bad("points at " + at + ", which cannot be read");
  std::map<uint64_t, uint64_t> objects;
  for (uint64_t p = hdr; p + objhdr <= size;) {  // a tail too small for a header is free space
    const uint64_t idx = le(&c[p], 2), osize = le(&c[p + 8], l.sizeof_size);
    if (idx == 0) break;  // the free-space object runs to the end
    const uint64_t need = objhdr + ((osize + 7) & ~uint64_t{7});
    if (osize > size || need > size - p) bad("points at " + at + ", whose object " + std::to_string(idx) + " overruns it");
    if (!objects.emplace(idx, osize).second) bad("points at " + at + ", which holds object " + std::to_string(idx) + " twice");
    p += need;
  }
  return objects;
}

}  // namespace

void check_vlen_strings(hid_t ds, hsize_t n, const std::filesystem::path& path, const std::string& name) {
  const auto bad = [&](const std::string& why) {
    H5Eclear2(H5E_DEFAULT);
    throw UserError(path.string() + ": '" + name + "' " + why + " (damaged or not written by smlab?)");
  };
  const hid_t type = H5Dget_type(ds);
  if (type < 0) bad("has no readable type");
  const bool vlen = H5Tget_class(type) == H5T_VLEN || (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0);
  H5Tclose(type);
  if (!vlen || n == 0) return;
  const Layout l = layout_of(ds, bad);
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) bad("cannot be checked: " + ec.message());
  const size_t size = 4 + l.sizeof_addr + 4;  // length, collection address, object index
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> refs;  // address -> (index, length)
  for (hsize_t off = 0; off < n; off += l.chunk) {
    const auto buf = raw_chunk(ds, off, l, size, static_cast<size_t>(l.chunk), file_size, bad);
    const hsize_t used = std::min<hsize_t>(l.chunk, n - off);
    for (hsize_t e = 0; e < used && !buf.empty(); ++e) {
      const unsigned char* p = buf.data() + e * size;
      const uint64_t len = le(p, 4), addr = le(p + 4, l.sizeof_addr), idx = le(p + 4 + l.sizeof_addr, 4);
      if (addr == 0 && len == 0) continue;  // an empty or null string: nothing on the heap
      refs[addr].emplace_back(idx, len);
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) bad("cannot be checked: the file cannot be read");
  for (const auto& [addr, list] : refs) {
    const auto objects = collection(in, addr, l, file_size, bad);
    for (const auto& [idx, len] : list) {
      const auto it = objects.find(idx);
      if (it == objects.end()) bad("refers to string " + std::to_string(idx) + " of a heap that has no such string");
      if (it->second != len)
        bad("refers to a string of " + std::to_string(len) + " bytes stored with " + std::to_string(it->second));
    }
  }
}

}  // namespace smlab::datasets::h5
