#include "core/tensorboard.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

namespace fs = std::filesystem;

namespace smlab {
namespace tensorboard_detail {
namespace {

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = kCrc32cTable[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

}  // namespace tensorboard_detail

namespace {

// ---------------------------------------------------------------------------
// Protobuf wire format (little-endian fixed fields, base-128 varints).
// ---------------------------------------------------------------------------
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, uint32_t field, WireType type) { put_varint(out, (uint64_t{field} << 3) | type); }

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t double_bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

/// int32/int64/enum field (negative values take 10 bytes, as protobuf does).
void field_varint(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(v));
}

void field_double(std::string& out, uint32_t field, double v) {
  put_key(out, field, kFixed64);
  put_le(out, double_bits(v), 8);
}

void field_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_le(out, bits, 4);
}

/// string, bytes and embedded-message fields.
void field_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

/// A packed `repeated double` field.
void field_packed_doubles(std::string& out, uint32_t field, const std::vector<double>& values) {
  std::string packed;
  packed.reserve(values.size() * 8);
  for (double v : values) put_le(packed, double_bits(v), 8);
  field_bytes(out, field, packed);
}

// ---------------------------------------------------------------------------
// Messages (tensorflow/core/util/event.proto, framework/summary.proto, tensor.proto).
// ---------------------------------------------------------------------------
double unix_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
std::string event_with_summary(int64_t step, const std::string& summary) {
  std::string event;
  field_double(event, 1, unix_time_now());
  field_varint(event, 2, step);
  field_bytes(event, 5, summary);
  return event;
}

/// Summary { repeated Value value = 1; } holding one Value.
std::string summary_of(const std::string& value) {
  std::string summary;
  field_bytes(summary, 1, value);
  return summary;
}

/// Summary.Value { string tag = 1; ... }: the tag first, the payload fields appended by the caller.
std::string value_with_tag(const std::string& tag) {
  std::string value;
  field_bytes(value, 1, tag);
  return value;
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string h(buf);
  for (char& c : h)
    if (c == '/' || c == '\\') c = '_';
  return h;
}

/// A 3-dim CHW or HWC (or 2-dim HW) image as a contiguous uint8 HWC tensor on the CPU.
at::Tensor image_to_hwc_u8(const at::Tensor& image) {
  TORCH_CHECK(image.defined(), "TensorBoardWriter::add_image: the image tensor is undefined");
  TORCH_CHECK(image.dim() == 2 || image.dim() == 3,
              "TensorBoardWriter::add_image: expected an image of shape HW, CHW or HWC, got shape ", image.sizes());
  TORCH_CHECK(image.scalar_type() == at::kByte || at::isFloatingType(image.scalar_type()),
              "TensorBoardWriter::add_image: expected a uint8 (0..255) or floating ([0, 1]) image, got ",
              image.scalar_type());
  at::Tensor hwc = image.detach().to(at::kCPU);
  if (hwc.dim() == 2) {
    hwc = hwc.unsqueeze(2);
  } else {
    const int64_t c0 = hwc.size(0), c2 = hwc.size(2);
    const auto is_channels = [](int64_t c) { return c == 1 || c == 3 || c == 4; };
    if (is_channels(c0)) {
      hwc = hwc.permute({1, 2, 0});
    } else {
      TORCH_CHECK(is_channels(c2), "TensorBoardWriter::add_image: expected 1, 3 or 4 channels first (CHW) or last (HWC), got shape ",
                  image.sizes());
    }
  }
  TORCH_CHECK(hwc.size(0) > 0 && hwc.size(1) > 0, "TensorBoardWriter::add_image: the image is empty, shape ",
              image.sizes());
  if (hwc.scalar_type() != at::kByte) {
    hwc = hwc.to(at::kFloat);
    TORCH_CHECK(!hwc.isnan().any().item<bool>(), "TensorBoardWriter::add_image: the floating image contains NaN");
    hwc = hwc.clamp(0.0, 1.0).mul(255.0).round().to(at::kByte);
  }
  return hwc.contiguous();
}

/// Appends a PNG chunk: big-endian length, type, data, CRC-32 of type and data.
void png_chunk(std::string& out, const char* type, const std::string& data) {
  auto put_be32 = [&out](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
  };
  put_be32(static_cast<uint32_t>(data.size()));
  const size_t at = out.size();
  out.append(type, 4);
  out += data;
  put_be32(static_cast<uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(out.data() + at), static_cast<uInt>(out.size() - at))));
}

/// PNG bytes of a contiguous uint8 HWC RGB / RGBA / grayscale tensor: 8-bit colour type 0, 2 or 6,
/// no interlace, filter type 0 on every row, zlib-compressed IDAT (RFC 2083). Written here rather
/// than through an image library so that TensorBoard images need only zlib.
}  // namespace

std::string tensorboard_detail::encode_png(const at::Tensor& hwc) {
  const uint32_t h = static_cast<uint32_t>(hwc.size(0)), w = static_cast<uint32_t>(hwc.size(1));
  const int c = static_cast<int>(hwc.size(2));
  const size_t row = static_cast<size_t>(w) * c;
  std::string raw;
  raw.reserve((row + 1) * h);
  const auto* px = reinterpret_cast<const char*>(hwc.data_ptr<uint8_t>());
  for (uint32_t y = 0; y < h; ++y) {
    raw.push_back('\0');  // filter type 0 (None)
    raw.append(px + y * row, row);
  }
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::string z(zlen, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 6) != Z_OK)
    throw std::runtime_error("TensorBoardWriter::add_image: PNG compression failed");
  z.resize(zlen);
  std::string ihdr;
  for (uint32_t v : {w, h})
    for (int s = 24; s >= 0; s -= 8) ihdr.push_back(static_cast<char>((v >> s) & 0xFF));
  const char colour = c == 1 ? 0 : c == 3 ? 2 : 6;  // grey, RGB, RGBA
  ihdr += std::string{8, colour, 0, 0, 0};          // bit depth, colour type, compression, filter, interlace
  std::string png("\x89PNG\r\n\x1a\n", 8);
  png_chunk(png, "IHDR", ihdr);
  png_chunk(png, "IDAT", z);
  png_chunk(png, "IEND", "");
  return png;
}

// ---------------------------------------------------------------------------
// TensorBoardWriter
// ---------------------------------------------------------------------------
TensorBoardWriter::TensorBoardWriter(const fs::path& logdir) {
  std::error_code ec;
  fs::create_directories(logdir, ec);
  if (ec || !fs::is_directory(logdir))
    throw std::runtime_error("TensorBoardWriter: cannot create log folder " + logdir.string() +
                             (ec ? ": " + ec.message() : ": not a folder"));
  static std::atomic<unsigned> counter{0};
  const std::string base = "events.out.tfevents." +
                           std::to_string(static_cast<int64_t>(std::floor(unix_time_now()))) + "." + hostname() +
                           "." + std::to_string(::getpid()) + ".smlab";
  path_ = logdir / base;
  while (fs::exists(path_)) path_ = logdir / (base + "." + std::to_string(++counter));
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_)
    throw std::runtime_error("TensorBoardWriter: cannot open " + path_.string() + " for writing: " +
                             std::strerror(errno));
  std::string event;
  field_double(event, 1, unix_time_now());
  field_varint(event, 2, 0);
  field_bytes(event, 3, "brain.Event:2");
  write_record(event);
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    out_.flush();
    out_.close();
  } catch (...) {
  }
}

const fs::path& TensorBoardWriter::path() const { return path_; }

void TensorBoardWriter::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  out_.flush();
  if (!out_) throw std::runtime_error("TensorBoardWriter: flushing " + path_.string() + " failed");
}

void TensorBoardWriter::write_record(const std::string& event) {
  // TFRecord: uint64 length, uint32 masked_crc32c(length), data, uint32 masked_crc32c(data).
  std::string header;
  put_le(header, event.size(), 8);
  put_le(header, tensorboard_detail::masked_crc32c(header.data(), 8), 4);
  std::string footer;
  put_le(footer, tensorboard_detail::masked_crc32c(event.data(), event.size()), 4);

  std::lock_guard<std::mutex> lock(mutex_);
  out_.write(header.data(), static_cast<std::streamsize>(header.size()));
  out_.write(event.data(), static_cast<std::streamsize>(event.size()));
  out_.write(footer.data(), static_cast<std::streamsize>(footer.size()));
  out_.flush();
  if (!out_) throw std::runtime_error("TensorBoardWriter: writing to " + path_.string() + " failed");
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  std::string v = value_with_tag(tag);
  field_float(v, 2, static_cast<float>(value));  // simple_value (always written: it is a oneof member)
  write_record(event_with_summary(step, summary_of(v)));
}

void TensorBoardWriter::add_scalars(const std::map<std::string, double>& tag_values, int64_t step) {
  for (const auto& [tag, value] : tag_values) add_scalar(tag, value, step);
}

void TensorBoardWriter::add_histogram(const std::string& tag, const at::Tensor& values, int64_t step, int bins) {
  TORCH_CHECK(bins >= 1, "TensorBoardWriter::add_histogram('", tag, "'): bins must be >= 1, got ", bins);
  TORCH_CHECK(values.defined(), "TensorBoardWriter::add_histogram('", tag, "'): the tensor is undefined");
  TORCH_CHECK(!values.is_complex(), "TensorBoardWriter::add_histogram('", tag, "'): complex tensors are not supported");
  at::Tensor flat = values.detach().to(at::kCPU).to(at::kDouble).reshape({-1});
  flat = flat.masked_select(flat.isfinite()).contiguous();
  TORCH_CHECK(flat.numel() > 0, "TensorBoardWriter::add_histogram('", tag,
              "'): the tensor holds no finite value (", values.numel(), " elements)");

  const double* x = flat.data_ptr<double>();
  const int64_t n = flat.numel();
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0.0, sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum += x[i];
    sum_sq += x[i] * x[i];
  }
  std::vector<double> limits(static_cast<size_t>(bins)), counts(static_cast<size_t>(bins), 0.0);
  const double width = (hi - lo) / bins;
  for (int b = 0; b < bins; ++b) limits[b] = (b == bins - 1) ? hi : lo + width * (b + 1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t b = width > 0 ? static_cast<int64_t>((x[i] - lo) / width) : bins - 1;
    b = std::clamp<int64_t>(b, 0, bins - 1);
    counts[static_cast<size_t>(b)] += 1.0;
  }

  // HistogramProto { min = 1; max = 2; num = 3; sum = 4; sum_squares = 5; bucket_limit = 6; bucket = 7; }
  std::string histo;
  field_double(histo, 1, lo);
  field_double(histo, 2, hi);
  field_double(histo, 3, static_cast<double>(n));
  field_double(histo, 4, sum);
  field_double(histo, 5, sum_sq);
  field_packed_doubles(histo, 6, limits);
  field_packed_doubles(histo, 7, counts);

  std::string v = value_with_tag(tag);
  field_bytes(v, 5, histo);  // Summary.Value.histo
  write_record(event_with_summary(step, summary_of(v)));
}

void TensorBoardWriter::add_image(const std::string& tag, const at::Tensor& image, int64_t step) {
  const at::Tensor hwc = image_to_hwc_u8(image);
  const int64_t channels = hwc.size(2);
  // Summary.Image { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
  std::string img;
  field_varint(img, 1, hwc.size(0));
  field_varint(img, 2, hwc.size(1));
  field_varint(img, 3, channels);  // 1 grayscale, 3 RGB, 4 RGBA
  field_bytes(img, 4, tensorboard_detail::encode_png(hwc));

  std::string v = value_with_tag(tag);
  field_bytes(v, 4, img);  // Summary.Value.image
  write_record(event_with_summary(step, summary_of(v)));
}

void TensorBoardWriter::add_text(const std::string& tag, const std::string& text, int64_t step) {
  // SummaryMetadata { PluginData plugin_data = 1 { plugin_name = 1; content = 2 }; DataClass data_class = 4; }
  // content is TextPluginData{version: 0}, which serialises to no bytes.
  std::string plugin_data;
  field_bytes(plugin_data, 1, "text");
  std::string metadata;
  field_bytes(metadata, 1, plugin_data);
  field_varint(metadata, 4, 2);  // DATA_CLASS_TENSOR

  // TensorProto { DataType dtype = 1 (DT_STRING = 7); TensorShapeProto tensor_shape = 2; repeated bytes string_val = 8; }
  std::string dim;
  field_varint(dim, 1, 1);  // Dim.size
  std::string shape;
  field_bytes(shape, 2, dim);  // TensorShapeProto.dim
  std::string tensor;
  field_varint(tensor, 1, 7);
  field_bytes(tensor, 2, shape);
  field_bytes(tensor, 8, text);

  std::string v = value_with_tag(tag);
  field_bytes(v, 9, metadata);  // Summary.Value.metadata
  field_bytes(v, 8, tensor);    // Summary.Value.tensor
  write_record(event_with_summary(step, summary_of(v)));
}

}  // namespace smlab
