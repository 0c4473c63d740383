#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <functional>
#include <limits>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#ifndef SMLAB_NO_OPENCV_CODECS
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include "core/tensorboard.h"
#include "test_util.h"

namespace fs = std::filesystem;
using smlab::TensorBoardWriter;
using smlab::tensorboard_detail::crc32c;
using smlab::tensorboard_detail::masked_crc32c;

namespace {

uint32_t crc_of(const std::string& s) { return crc32c(s.data(), s.size()); }

uint64_t le64(const std::string& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

uint32_t le32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Splits a TFRecord file into payloads, checking the framing and both CRCs of every record.
std::vector<std::string> read_records(const fs::path& p) {
  const std::string data = slurp(p);
  std::vector<std::string> records;
  size_t pos = 0;
  while (pos < data.size()) {
    EXPECT_LE(pos + 12, data.size()) << "truncated header at byte " << pos;
    if (pos + 12 > data.size()) break;
    const uint64_t len = le64(data, pos);
    EXPECT_EQ(le32(data, pos + 8), masked_crc32c(data.data() + pos, 8)) << "length crc at byte " << pos;
    EXPECT_LE(pos + 12 + len + 4, data.size()) << "truncated record at byte " << pos;
    if (pos + 12 + len + 4 > data.size()) break;
    std::string payload = data.substr(pos + 12, len);
    EXPECT_EQ(le32(data, pos + 12 + len), masked_crc32c(payload.data(), payload.size())) << "data crc at byte " << pos;
    records.push_back(std::move(payload));
    pos += 12 + len + 4;
  }
  return records;
}

}  // namespace

TEST(TensorBoard, Crc32cKnownVectors) {
  EXPECT_EQ(crc_of("123456789"), 0xE3069283u);
  EXPECT_EQ(crc_of(""), 0u);
  // RFC 3720 (iSCSI) appendix B.4 vectors.
  EXPECT_EQ(crc_of(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc_of(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(crc_of(ascending), 0x46DD794Eu);
}

TEST(TensorBoard, MaskedCrc32c) {
  const std::string s = "123456789";
  const uint32_t c = crc_of(s);
  EXPECT_EQ(masked_crc32c(s.data(), s.size()), ((c >> 15) | (c << 17)) + 0xa282ead8u);
  // Value computed by tensorboard's own masked_crc32c (compat.tensorflow_stub).
  EXPECT_EQ(masked_crc32c(s.data(), s.size()), 0xC78AB0E5u);
}

TEST(TensorBoard, FileStartsWithValidFileVersionRecord) {
  const fs::path dir = smlab::testing::temp_dir() / "logs" / "run1";  // created by the writer
  fs::path path;
  {
    TensorBoardWriter w(dir);
    path = w.path();
    EXPECT_EQ(path.parent_path(), dir);
    const std::string name = path.filename().string();
    EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
    EXPECT_TRUE(name.size() > 6 && name.compare(name.size() - 6, 6, ".smlab") == 0) << name;
    // The file_version record is on disk before anything else is written.
    EXPECT_GT(fs::file_size(path), 12u);
  }
  const std::string data = slurp(path);
  ASSERT_GE(data.size(), 16u);
  const uint64_t len = le64(data, 0);
  EXPECT_EQ(le32(data, 8), masked_crc32c(data.data(), 8));
  ASSERT_EQ(data.size(), 12 + len + 4) << "expected exactly one record";
  const std::string payload = data.substr(12, len);
  EXPECT_EQ(le32(data, 12 + len), masked_crc32c(payload.data(), payload.size()));
  // Event: wall_time (field 1, fixed64), step (field 2, varint 0), file_version (field 3).
  ASSERT_EQ(payload[0], '\x09');
  double wall_time;
  std::memcpy(&wall_time, payload.data() + 1, 8);
  EXPECT_GT(wall_time, 1.6e9);
  const std::string tail = std::string("\x10\x00\x1a\x0d", 4) + "brain.Event:2";
  EXPECT_EQ(payload.substr(9), tail);
}

TEST(TensorBoard, EveryAddAppendsOneFlushedRecord) {
  const fs::path dir = smlab::testing::temp_dir();
  TensorBoardWriter w(dir);
  w.add_scalar("loss", 0.5, 0);
  EXPECT_EQ(read_records(w.path()).size(), 2u) << "add_scalar must flush";
  w.add_scalars({{"a", 1.0}, {"b", 2.0}}, 1);
  w.add_histogram("h", torch::randn({50}), 1);
  w.add_image("img", torch::rand({2, 3, 3}).select(0, 0), 1);  // HW float
  w.add_image("rgba", torch::zeros({4, 5, 4}, torch::kByte), 1);
  w.add_text("t", "**markdown**", 2);
  EXPECT_EQ(read_records(w.path()).size(), 8u);
  const std::string records = slurp(w.path());
  EXPECT_NE(records.find("loss"), std::string::npos);
  EXPECT_NE(records.find("**markdown**"), std::string::npos);
}

TEST(TensorBoard, ConcurrentWritersProduceIntactRecords) {
  const fs::path dir = smlab::testing::temp_dir();
  TensorBoardWriter w(dir);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&w, t] {
      for (int i = 0; i < 50; ++i) w.add_scalar("thread" + std::to_string(t), i * 0.5, i);
    });
  for (auto& th : threads) th.join();
  w.flush();
  EXPECT_EQ(read_records(w.path()).size(), 1u + 4u * 50u);
}

TEST(TensorBoard, TwoWritersInOneFolderGetDistinctFiles) {
  const fs::path dir = smlab::testing::temp_dir();
  TensorBoardWriter a(dir);
  TensorBoardWriter b(dir);
  EXPECT_NE(a.path(), b.path());
}

TEST(TensorBoard, RejectsBadInputsWithClearErrors) {
  const fs::path dir = smlab::testing::temp_dir();
  TensorBoardWriter w(dir);
  const auto message_of = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message_of([&] { w.add_histogram("h", torch::empty({0}), 0); }).find("no finite value"), std::string::npos);
  EXPECT_NE(message_of([&] { w.add_histogram("h", torch::ones({3}), 0, 0); }).find("bins must be >= 1"),
            std::string::npos);
  EXPECT_NE(message_of([&] { w.add_image("i", torch::zeros({2, 5, 5}, torch::kByte), 0); }).find("channels"),
            std::string::npos);
  EXPECT_NE(message_of([&] { w.add_image("i", torch::zeros({5}, torch::kByte), 0); }).find("HW, CHW or HWC"),
            std::string::npos);
  EXPECT_NE(message_of([&] { w.add_image("i", torch::zeros({3, 4, 4}, torch::kInt), 0); }).find("uint8"),
            std::string::npos);
  // Nothing but the file_version record was written.
  EXPECT_EQ(read_records(w.path()).size(), 1u);

  // (temp_dir() is called once per test: a second call would remove_all the non-empty folder,
  // which crashes in the std::filesystem copy that libtorch.so exports.)
  const fs::path file = dir / "a_file";
  std::ofstream(file) << "x";
  EXPECT_THROW(TensorBoardWriter bad(file / "sub"), std::runtime_error);
}

TEST(TensorBoard, HistogramSkipsNonFiniteValues) {
  const fs::path dir = smlab::testing::temp_dir();
  TensorBoardWriter w(dir);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  w.add_histogram("h", torch::tensor({1.0f, nan, 3.0f, inf}), 0, 2);
  const auto records = read_records(w.path());
  ASSERT_EQ(records.size(), 2u);
  // HistogramProto { double min = 1; max = 2; num = 3; sum = 4; sum_squares = 5; } as key + fixed64.
  const std::string& r = records[1];
  const auto has_field = [&](char key, double v) {
    std::string bytes(1, key);
    bytes.resize(9);
    std::memcpy(bytes.data() + 1, &v, 8);
    return r.find(bytes) != std::string::npos;
  };
  EXPECT_TRUE(has_field('\x09', 1.0));   // min
  EXPECT_TRUE(has_field('\x11', 3.0));   // max
  EXPECT_TRUE(has_field('\x19', 2.0));   // num
  EXPECT_TRUE(has_field('\x21', 4.0));   // sum
  EXPECT_TRUE(has_field('\x29', 10.0));  // sum_squares
}

#ifndef SMLAB_NO_OPENCV_CODECS
// The PNG writer is smlab's own (zlib only); OpenCV's decoder is the oracle.
TEST(TensorBoard, PngDecodesToTheSamePixelsForGreyRgbAndRgba) {
  torch::manual_seed(7);
  for (int64_t c : {1, 3, 4}) {
    const auto hwc = torch::randint(0, 256, {7, 5, c}, torch::kUInt8);  // odd sizes, random bytes
    const std::string png = smlab::tensorboard_detail::encode_png(hwc);
    const cv::Mat raw(1, static_cast<int>(png.size()), CV_8UC1, const_cast<char*>(png.data()));
    cv::Mat img = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(img.empty()) << c << " channels: OpenCV cannot decode the PNG";
    ASSERT_EQ(img.channels(), c);
    ASSERT_EQ(img.depth(), CV_8U);
    if (c == 3) cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
    if (c == 4) cv::cvtColor(img, img, cv::COLOR_BGRA2RGBA);
    ASSERT_EQ(img.rows, 7);
    ASSERT_EQ(img.cols, 5);
    const auto back = torch::from_blob(img.data, {7, 5, c}, torch::kUInt8).clone();
    EXPECT_TRUE(torch::equal(back, hwc)) << c << " channels";
  }
}
#endif
