// The largest image smlab decodes. A small file can declare a huge picture (a 40 KB PNG of
// 50000 x 50000 pixels decodes to 7.5 GB), so the size is read from the header, before decoding,
// for PNG, JPEG, BMP and GIF; OpenCV's own pixel limit is lowered to the same bound as a backstop
// for other formats. The bound is SMLAB_MAX_IMAGE_PIXELS (default 2^26, 8192 x 8192).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace smlab::datasets {

/// Width and height declared by an image file's header; {0, 0} when the format is not recognised.
struct ImageDims {
  int64_t width = 0, height = 0;
};
ImageDims image_dims(const unsigned char* bytes, size_t n);

/// The limit in pixels: SMLAB_MAX_IMAGE_PIXELS when set to a positive integer, else 2^26.
int64_t max_image_pixels();

/// "" when the header declares a size within the limit (or none that can be read); otherwise the
/// reason, e.g. "image is 50000x50000 pixels, over the limit of 67108864 (SMLAB_MAX_IMAGE_PIXELS)".
std::string image_size_problem(const unsigned char* bytes, size_t n);

/// The same check for frame dimensions known before decoding (a video stream's).
std::string frame_size_problem(int64_t width, int64_t height);

}  // namespace smlab::datasets
