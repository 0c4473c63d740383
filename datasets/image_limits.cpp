#include "datasets/image_limits.h"

#include <cstdlib>
#include <string>

namespace smlab::datasets {
namespace {

int64_t be16(const unsigned char* p) { return (int64_t{p[0]} << 8) | p[1]; }
int64_t be32(const unsigned char* p) { return (be16(p) << 16) | be16(p + 2); }
int64_t le16(const unsigned char* p) { return (int64_t{p[1]} << 8) | p[0]; }
int64_t le32s(const unsigned char* p) {
  return static_cast<int32_t>(static_cast<uint32_t>(le16(p)) | (static_cast<uint32_t>(le16(p + 2)) << 16));
}

/// JPEG: the first start-of-frame marker (SOF0..SOF15 but DHT, JPG and DAC) holds height and width.
ImageDims jpeg_dims(const unsigned char* b, size_t n) {
  size_t i = 2;
  while (i + 9 < n) {
    if (b[i] != 0xFF) return {};
    const unsigned char m = b[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // markers without a length
      i += 2;
      continue;
    }
    const size_t len = static_cast<size_t>(be16(b + i + 2));
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) return {be16(b + i + 7), be16(b + i + 5)};
    if (len < 2) return {};
    i += 2 + len;
  }
  return {};
}

}  // namespace

ImageDims image_dims(const unsigned char* b, size_t n) {
  if (n >= 24 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return {be32(b + 16), be32(b + 20)};
  if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8) return jpeg_dims(b, n);
  if (n >= 26 && b[0] == 'B' && b[1] == 'M') {
    const int64_t w = le32s(b + 18), h = le32s(b + 22);  // a negative height is a top-down bitmap
    return {w < 0 ? -w : w, h < 0 ? -h : h};
  }
  if (n >= 10 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F') return {le16(b + 6), le16(b + 8)};
  return {};
}

int64_t max_image_pixels() {
  if (const char* env = std::getenv("SMLAB_MAX_IMAGE_PIXELS")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && v > 0) return v;
  }
  return int64_t{1} << 26;
}

std::string frame_size_problem(int64_t width, int64_t height) {
  const int64_t limit = max_image_pixels();
  if (width <= 0 || height <= 0) return "";
  // Compared by division: width * height of two 32-bit header fields cannot overflow int64, but keep it obvious.
  if (width <= limit / height) return "";
  return "image is " + std::to_string(width) + "x" + std::to_string(height) + " pixels, over the limit of " +
         std::to_string(limit) + " (raise SMLAB_MAX_IMAGE_PIXELS to accept it)";
}

std::string image_size_problem(const unsigned char* bytes, size_t n) {
  const ImageDims d = image_dims(bytes, n);
  return frame_size_problem(d.width, d.height);
}

}  // namespace smlab::datasets
