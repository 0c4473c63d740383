#include "datasets/hdf5_io.h"

#include <hdf5.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <string>
#include <functional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/hdf5_vlen_check.h"

namespace smlab::datasets::h5 {
namespace {

std::mutex& h5_mutex() {
  static std::mutex m;
  return m;
}

// Silences HDF5's own stderr report; errors are turned into UserErrors with the file name.
void quiet() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// The innermost HDF5 error description, for messages.
std::string h5_reason() {
  std::string out;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        auto* s = static_cast<std::string*>(data);
        if (s->empty() && e->desc) *s = e->desc;
        return 0;
      },
      &out);
  H5Eclear2(H5E_DEFAULT);
  return out.empty() ? "unknown HDF5 error" : out;
}

class Hid {
 public:
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hid() {
    if (id_ >= 0) close_(id_);
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  operator hid_t() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw UserError(path.string() + ": " + what + " (" + h5_reason() + ")");
}

void check(herr_t rc, const std::filesystem::path& path, const std::string& what) {
  if (rc < 0) fail(path, what);
}

/// The element count of dataset `ds` with `dims`, refused when it exceeds deflate's best ratio
/// (1032:1) over the bytes the file stores for it (every element takes at least a byte): a damaged
/// header then fails here instead of allocating what it claims (found by tests/fuzz/fuzz_hdf5.cpp).
hsize_t checked_count(hid_t ds, const std::vector<hsize_t>& dims, const std::filesystem::path& path,
                      const std::string& name) {
  const hsize_t limit = std::min<hsize_t>(H5Dget_storage_size(ds), hsize_t{1} << 48) * 1032 + (hsize_t{1} << 16);
  hsize_t n = 1;
  for (auto d : dims) n = d != 0 && n > limit / d ? limit + 1 : n * d;
  if (n > limit)
    throw UserError(path.string() + ": '" + name + "' claims more data than the file holds (truncated or damaged?)");
  return n;
}

Hid chunked_dcpl(const std::vector<hsize_t>& chunk, int deflate) {
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  H5Pset_shuffle(dcpl);
  H5Pset_deflate(dcpl, static_cast<unsigned>(deflate));
  return Hid(H5Pcopy(dcpl), H5Pclose);
}

void write_numeric(hid_t file, const char* name, hid_t file_type, hid_t mem_type, const std::vector<hsize_t>& dims,
                   const void* data, int deflate, hsize_t chunk_records, const std::filesystem::path& path) {
  Hid space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  std::vector<hsize_t> chunk = dims;
  chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(chunk_records, dims[0]));
  Hid dcpl = chunked_dcpl(chunk, deflate);
  Hid ds(H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) fail(path, std::string("cannot create dataset '") + name + "'");
  check(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path, std::string("cannot write '") + name + "'");
}

void write_strings(hid_t file, const char* name, const std::vector<std::string>& strings, int deflate,
                   hsize_t chunk_records, const std::filesystem::path& path) {
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  std::vector<const char*> ptrs;
  ptrs.reserve(strings.size());
  for (const auto& t : strings) ptrs.push_back(t.c_str());
  const hsize_t n = strings.size();
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid dcpl = n > 0 ? chunked_dcpl({std::clamp<hsize_t>(chunk_records, 1, n)}, deflate) : Hid(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  Hid ds(H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) fail(path, std::string("cannot create dataset '") + name + "'");
  if (n > 0) check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), path, std::string("cannot write '") + name + "'");
}

std::vector<std::string> read_strings(hid_t ds, hsize_t n, const std::filesystem::path& path, const std::string& name) {
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  std::vector<char*> ptrs(n, nullptr);
  std::vector<std::string> out;
  if (n == 0) return out;
  check_vlen_strings(ds, n, path, name);  // libhdf5 would follow a damaged reference anywhere
  check(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), path,
        "cannot read '" + name + "' (truncated or damaged?)");
  out.reserve(n);
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  Hid space(H5Dget_space(ds), H5Sclose);
  H5Dvlen_reclaim(type, space, H5P_DEFAULT, ptrs.data());
  return out;
}

std::vector<hsize_t> dims_of(hid_t ds) {
  Hid space(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

/// Builds an HDF5 file in memory (the core driver, no backing store) with `body(file, path)`, then
/// writes its bytes with write_file_atomic. HDF5 never touches the disk itself: a full disk fails in
/// our own write (one line, the temporary file removed), not inside HDF5, whose handle would stay
/// open after a failed close and crash the library's exit-time cleanup.
void write_h5_atomic(const std::filesystem::path& path,
                     const std::function<void(hid_t file, const std::filesystem::path& name)>& body) {
  std::string image;
  {
    std::lock_guard<std::mutex> lock(h5_mutex());
    quiet();
    Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    check(H5Pset_fapl_core(fapl, 1 << 20, /*backing_store=*/0), path, "cannot set up an in-memory HDF5 file");
    Hid file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
    if (!file.ok()) fail(path, "cannot create HDF5 file");
    body(file, path);
    check(H5Fflush(file, H5F_SCOPE_GLOBAL), path, "cannot flush");
    const ssize_t size = H5Fget_file_image(file, nullptr, 0);
    if (size < 0) fail(path, "cannot read back the in-memory HDF5 file");
    image.resize(static_cast<size_t>(size));
    if (H5Fget_file_image(file, image.data(), image.size()) != size) fail(path, "cannot read back the in-memory HDF5 file");
  }
  write_file_atomic(path, image);
}

}  // namespace

void write_shard(const std::filesystem::path& path, const Shard& shard, int deflate, int64_t chunk_records) {
  if (shard.count() == 0) throw std::logic_error("write_shard: empty shard " + path.string());
  write_h5_atomic(path, [&](hid_t file, const std::filesystem::path& tmp) {
    const auto n = static_cast<hsize_t>(shard.count());
    write_numeric(file, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, {n}, shard.labels.data(), deflate, 4096, tmp);
    if (!shard.image_shape.empty()) {
      std::vector<hsize_t> dims(shard.image_shape.begin(), shard.image_shape.end());
      if ((dims.size() != 4 && dims.size() != 5) || dims[0] != n)
        throw std::logic_error("write_shard: image shape does not match labels");
      hsize_t record_bytes = 1;
      for (size_t d = 1; d < dims.size(); ++d) record_bytes *= dims[d];
      const auto chunk = chunk_records > 0 ? static_cast<hsize_t>(chunk_records)
                                           : std::clamp<hsize_t>((hsize_t{1} << 20) / record_bytes, 1, 256);
      write_numeric(file, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, dims, shard.images.data(), deflate, chunk, tmp);
    }
    if (!shard.texts.empty()) {
      if (shard.texts.size() != n) throw std::logic_error("write_shard: texts do not match labels");
      Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(type, H5T_VARIABLE);
      H5Tset_cset(type, H5T_CSET_UTF8);
      std::vector<const char*> ptrs;
      ptrs.reserve(n);
      for (const auto& t : shard.texts) ptrs.push_back(t.c_str());
      Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      const hsize_t c = std::clamp<hsize_t>(chunk_records > 0 ? static_cast<hsize_t>(chunk_records) : 256, 1, n);
      Hid dcpl = chunked_dcpl({c}, deflate);
      Hid ds(H5Dcreate2(file, "texts", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
      if (!ds.ok()) fail(tmp, "cannot create dataset 'texts'");
      check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), tmp, "cannot write 'texts'");
    }
    if (!shard.ids.empty()) {
      if (shard.ids.size() != n) throw std::logic_error("write_shard: ids do not match labels");
      write_strings(file, "ids", shard.ids, deflate, 4096, tmp);
    }
  });
}

Shard read_shard(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(h5_mutex());
  quiet();
  if (!std::filesystem::exists(path)) throw UserError(path.string() + ": shard file not found");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw UserError(path.string() + ": not an HDF5 file (damaged, truncated or of another format)");
  }
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) fail(path, "cannot open HDF5 shard (truncated or damaged?)");
  Shard out;
  auto open = [&](const char* name) {
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return Hid(-1, H5Dclose);
    }
    return Hid(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  };
  {
    Hid ds = open("labels");
    if (!ds.ok()) throw UserError(path.string() + ": shard has no readable 'labels' dataset (truncated or damaged?)");
    const auto dims = dims_of(ds);
    if (dims.size() != 1) throw UserError(path.string() + ": 'labels' is not one-dimensional");
    out.labels.resize(checked_count(ds, dims, path, "labels"));
    check(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.labels.data()), path,
          "cannot read 'labels' (truncated or damaged?)");
  }
  const auto n = static_cast<hsize_t>(out.labels.size());
  if (Hid ds = open("images"); ds.ok()) {
    const auto dims = dims_of(ds);
    if ((dims.size() != 4 && dims.size() != 5) || dims[0] != n)
      throw UserError(path.string() + ": 'images' must be [N, H, W, C] or [N, T, H, W, C] with N = " +
                      std::to_string(n) + " labels");
    out.image_shape.assign(dims.begin(), dims.end());
    out.images.resize(checked_count(ds, dims, path, "images"));
    check(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.images.data()), path,
          "cannot read 'images' (truncated or damaged?)");
  }
  if (Hid ds = open("texts"); ds.ok()) {
    const auto dims = dims_of(ds);
    if (dims.size() != 1 || dims[0] != n)
      throw UserError(path.string() + ": 'texts' must hold one string per label");
    checked_count(ds, dims, path, "texts");
    out.texts = read_strings(ds, n, path, "texts");
  }
  if (Hid ds = open("ids"); ds.ok()) {
    const auto dims = dims_of(ds);
    if (dims.size() != 1 || dims[0] != n) throw UserError(path.string() + ": 'ids' must hold one string per label");
    out.ids = read_strings(ds, n, path, "ids");
  }
  if (out.image_shape.empty() && out.texts.empty() && n > 0)
    throw UserError(path.string() + ": shard has neither 'images' nor 'texts'");
  return out;
}

void write_arrays(const std::filesystem::path& path, const std::vector<Array>& arrays, int deflate) {
  write_h5_atomic(path, [&](hid_t file, const std::filesystem::path& tmp) {
    for (const auto& a : arrays) {
      std::vector<hsize_t> dims(a.dims.begin(), a.dims.end());
      hsize_t total = 1;
      for (auto d : dims) total *= d;
      if (dims.empty()) throw std::logic_error("write_arrays: '" + a.name + "' has no dimensions");
      if (a.type == Array::Str) {
        if (dims.size() != 1 || a.strings.size() != total) throw std::logic_error("write_arrays: '" + a.name + "' shape");
        write_strings(file, a.name.c_str(), a.strings, deflate, 4096, tmp);
        continue;
      }
      const bool f = a.type == Array::F32;
      if ((f ? a.f32.size() : a.i64.size()) != total) throw std::logic_error("write_arrays: '" + a.name + "' shape");
      const hid_t ft = f ? H5T_IEEE_F32LE : H5T_STD_I64LE, mt = f ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64;
      const void* data = f ? static_cast<const void*>(a.f32.data()) : static_cast<const void*>(a.i64.data());
      if (total == 0) {  // chunks cannot be empty: an empty contiguous dataset
        Hid space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
        Hid ds(H5Dcreate2(file, a.name.c_str(), ft, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
        if (!ds.ok()) fail(tmp, "cannot create dataset '" + a.name + "'");
        continue;
      }
      hsize_t row = total / dims[0];
      write_numeric(file, a.name.c_str(), ft, mt, dims, data, deflate,
                    std::clamp<hsize_t>((hsize_t{1} << 20) / std::max<hsize_t>(1, row * 4), 1, 65536), tmp);
    }
  });
}

std::vector<Array> read_arrays(const std::filesystem::path& path, const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(h5_mutex());
  quiet();
  if (!std::filesystem::exists(path)) throw UserError(path.string() + ": no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw UserError(path.string() + ": not an HDF5 file");
  }
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) fail(path, "cannot open HDF5 file");
  std::vector<Array> out;
  for (const auto& name : names) {
    if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      throw UserError(path.string() + ": no dataset '" + name + "'");
    }
    Hid ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) fail(path, "cannot open dataset '" + name + "'");
    Array a;
    a.name = name;
    const auto dims = dims_of(ds);
    const hsize_t total = checked_count(ds, dims, path, name);
    for (auto d : dims) a.dims.push_back(static_cast<int64_t>(d));
    Hid type(H5Dget_type(ds), H5Tclose);
    const auto cls = H5Tget_class(type);
    if (cls == H5T_STRING) {
      a.type = Array::Str;
      if (dims.size() != 1) throw UserError(path.string() + ": '" + name + "' is a string array of rank " + std::to_string(dims.size()));
      a.strings = read_strings(ds, total, path, name);
    } else if (cls == H5T_FLOAT) {
      a.type = Array::F32;
      a.f32.resize(total);
      if (total > 0) check(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.f32.data()), path, "cannot read '" + name + "'");
    } else if (cls == H5T_INTEGER) {
      a.type = Array::I64;
      a.i64.resize(total);
      if (total > 0) check(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.i64.data()), path, "cannot read '" + name + "'");
    } else {
      throw UserError(path.string() + ": '" + name + "' has an unsupported element type");
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::string crc32_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path.string() + ": cannot read");
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = in.gcount();
    if (got > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(got));
  }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc & 0xffffffffUL));
  return hex;
}

}  // namespace smlab::datasets::h5
