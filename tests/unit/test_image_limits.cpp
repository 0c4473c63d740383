// Image size limits (issue 22, resource limits): the dimensions smlab reads from a header before
// decoding equal what OpenCV's encoders wrote, and a small file declaring a huge picture is refused
// by pack, naming the file, before anything is decoded.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/atomic_file.h"
#include "datasets/image_limits.h"
#include "datasets/pack.h"
#include "test_util.h"

namespace fs = std::filesystem;
using smlab::datasets::image_dims;

namespace {

std::vector<uchar> encode(const std::string& ext, int w, int h, const std::vector<int>& params = {}) {
  cv::Mat m(h, w, CV_8UC3);
  cv::randu(m, 0, 255);
  std::vector<uchar> out;
  EXPECT_TRUE(cv::imencode(ext, m, out, params));
  return out;
}

/// A real 4x4 PNG whose IHDR is patched to declare width x height (the CRC no longer matches, which
/// does not matter: the size check must come before any decoding).
std::string png_bomb(uint32_t width, uint32_t height) {
  auto b = encode(".png", 4, 4);
  for (int i = 0; i < 4; ++i) {
    b[16 + i] = static_cast<uchar>(width >> (24 - 8 * i));
    b[20 + i] = static_cast<uchar>(height >> (24 - 8 * i));
  }
  return std::string(b.begin(), b.end());
}

}  // namespace

TEST(ImageLimits, HeaderDimensionsMatchOpenCvsEncoders) {
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {17, 5}, {640, 480}, {3, 1031}}) {
    for (const std::string ext : {".png", ".jpg", ".bmp"}) {
      const auto b = encode(ext, w, h);
      const auto d = image_dims(b.data(), b.size());
      EXPECT_EQ(d.width, w) << ext << " " << w << "x" << h;
      EXPECT_EQ(d.height, h) << ext << " " << w << "x" << h;
    }
    const auto prog = encode(".jpg", w, h, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});  // SOF2, not SOF0
    EXPECT_EQ(image_dims(prog.data(), prog.size()).width, w);
    EXPECT_EQ(image_dims(prog.data(), prog.size()).height, h);
  }
  const std::string junk = "not an image at all";
  EXPECT_EQ(image_dims(reinterpret_cast<const unsigned char*>(junk.data()), junk.size()).width, 0);
  const auto cut = encode(".jpg", 8, 8);
  EXPECT_EQ(image_dims(cut.data(), 6).width, 0) << "a header cut short reads as unknown, not as garbage";
}

TEST(ImageLimits, TheLimitIsTheEnvironmentsOrTwoToThe26) {
  ::unsetenv("SMLAB_MAX_IMAGE_PIXELS");
  EXPECT_EQ(smlab::datasets::max_image_pixels(), int64_t{1} << 26);
  EXPECT_EQ(smlab::datasets::frame_size_problem(8192, 8192), "");
  EXPECT_NE(smlab::datasets::frame_size_problem(8192, 8193).find("over the limit of 67108864"), std::string::npos);
  ::setenv("SMLAB_MAX_IMAGE_PIXELS", "100", 1);
  EXPECT_EQ(smlab::datasets::frame_size_problem(10, 10), "");
  EXPECT_NE(smlab::datasets::frame_size_problem(11, 10), "");
  ::setenv("SMLAB_MAX_IMAGE_PIXELS", "-5", 1);  // not a positive integer: the default
  EXPECT_EQ(smlab::datasets::max_image_pixels(), int64_t{1} << 26);
  ::unsetenv("SMLAB_MAX_IMAGE_PIXELS");
}

TEST(ImageLimits, PackRefusesADecompressionBombNamingItBeforeDecoding) {
  const auto dir = smlab::testing::temp_dir();
  fs::create_directories(dir / "raw" / "a");
  fs::create_directories(dir / "raw" / "b");
  const auto good = encode(".png", 8, 8);
  smlab::write_file_atomic(dir / "raw" / "a" / "good.png", std::string(good.begin(), good.end()));
  smlab::write_file_atomic(dir / "raw" / "b" / "good.png", std::string(good.begin(), good.end()));
  smlab::write_file_atomic(dir / "raw" / "b" / "bomb.png", png_bomb(50000, 50000));
  smlab::testing::expect_user_error([&] { smlab::datasets::pack(dir / "raw", dir / "p", {}); },
                                    {(dir / "raw" / "b" / "bomb.png").string(), "50000x50000 pixels",
                                     "SMLAB_MAX_IMAGE_PIXELS"});
  EXPECT_FALSE(fs::exists(dir / "p" / "manifest.json"));
}
