// smlab pack + the hdf5_images / text_tsv datasets on generated inputs: every value read back is
// compared exactly with what was written (or with OpenCV's own decode of the written file).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <zlib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "datasets/dataset.h"
#include "datasets/hdf5_io.h"
#include "datasets/pack.h"
#include "datasets/tokenizer.h"
#include "test_util.h"
#include "tools/cli/cli.h"

namespace fs = std::filesystem;
using namespace smlab::datasets;
using nlohmann::json;

namespace {

// A random RGB image (what the packer must give back), saved as BGR by OpenCV.
cv::Mat random_rgb(int h, int w, std::mt19937& rng) {
  cv::Mat m(h, w, CV_8UC3);
  for (int i = 0; i < h * w * 3; ++i) m.data[i] = static_cast<uint8_t>(rng() & 0xFF);
  return m;
}

void save_rgb(const fs::path& p, const cv::Mat& rgb, std::vector<int> params = {}) {
  fs::create_directories(p.parent_path());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  ASSERT_TRUE(cv::imwrite(p.string(), bgr, params)) << p;
}

// OpenCV's decode of a file, as RGB (the reference for lossy formats).
cv::Mat read_rgb(const fs::path& p) {
  cv::Mat bgr = cv::imread(p.string(), cv::IMREAD_COLOR), rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

torch::Tensor as_chw(const cv::Mat& rgb) {
  return torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).permute({2, 0, 1}).clone();
}

json manifest(const fs::path& dir) { return json::parse(smlab::read_file(dir / "manifest.json")); }

smlab::config::Config data_cfg(const std::string& data_yaml, const std::vector<std::string>& ov = {}) {
  smlab::register_all();
  return smlab::config::load_string("model: {name: mlp}\ndata: " + data_yaml + "\n", "test.yaml", ov);
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << s;
}

std::string expect_user_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const smlab::UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return "";
}

// Images written to <root>/<class>/<i>.png in class order; returns them in the packer's order
// (sorted relative paths), with their labels.
struct Written {
  std::vector<cv::Mat> images;
  std::vector<int64_t> labels;
};
Written write_png_folder(const fs::path& root, int per_class, int h, int w, uint32_t seed) {
  std::mt19937 rng(seed);
  Written out;
  const std::vector<std::string> classes = {"cat", "dog", "emu"};
  for (size_t c = 0; c < classes.size(); ++c) {
    for (int i = 0; i < per_class; ++i) {
      cv::Mat img = random_rgb(h, w, rng);
      save_rgb(root / classes[c] / (std::to_string(i) + ".png"), img);
      out.images.push_back(img);
      out.labels.push_back(static_cast<int64_t>(c));
    }
  }
  return out;
}

}  // namespace

TEST(Pack, PngFolderRoundTripsExactlyThroughHdf5Images) {
  const auto dir = smlab::testing::temp_dir();
  const auto w = write_png_folder(dir / "raw", 3, 5, 7, 1);
  PackOptions o;
  o.shard_size = 4;  // 9 images -> shards of 4, 4, 1
  const auto r = pack(dir / "raw", dir / "packed", o);
  EXPECT_EQ(r.count, 9);
  EXPECT_EQ(r.shards, 3);
  EXPECT_EQ(r.skipped, 0);
  const auto m = manifest(dir / "packed");
  EXPECT_EQ(m["classes"], json({"cat", "dog", "emu"}));
  EXPECT_EQ(m["sample_shape"], json({5, 7, 3}));
  EXPECT_EQ(m["count"], 9);
  EXPECT_EQ(m["labels"], json(w.labels));
  EXPECT_EQ(m["sources"][4], (dir / "raw" / "dog" / "1.png").string());
  ASSERT_EQ(m["shards"].size(), 3u);
  for (const auto& s : m["shards"]) {
    // CRC-32 recomputed here with zlib directly over the file's bytes.
    const std::string bytes = smlab::read_file(dir / "packed" / s["file"].get<std::string>());
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08lx",
                  crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()) & 0xffffffffUL);
    EXPECT_EQ(s["crc32"].get<std::string>(), std::string(hex));
    EXPECT_EQ(s["bytes"], bytes.size());
  }
  EXPECT_EQ(m["shards"][2]["count"], 1);
  // Re-packing into the same folder with bigger shards leaves only the new shards.
  PackOptions big;
  big.shard_size = 100;
  EXPECT_EQ(pack(dir / "raw", dir / "packed2", big).shards, 1);
  fs::copy(dir / "packed" / "shard-00001.h5", dir / "packed2" / "shard-00001.h5");
  pack(dir / "raw", dir / "packed2", big);
  EXPECT_FALSE(fs::exists(dir / "packed2" / "shard-00001.h5"));
  EXPECT_EQ(read_packed(dir / "packed2").images, read_packed(dir / "packed").images);
  // No temporary files left behind.
  for (const auto& e : fs::directory_iterator(dir / "packed")) {
    const auto n = e.path().filename().string();
    EXPECT_TRUE(n == "manifest.json" || (n.rfind("shard-", 0) == 0 && e.path().extension() == ".h5")) << n;
  }

  const std::string yaml = "{name: hdf5_images, train: " + (dir / "packed").string() + ", val_fraction: 0.0, test: " +
                           (dir / "packed").string() + ", dtype: uint8}";
  const auto ds = build(data_cfg(yaml), Split::Test);
  ASSERT_EQ(ds->size(), 9);
  EXPECT_EQ(ds->info().num_classes, 3);
  EXPECT_EQ(ds->info().input_shape, std::vector<int64_t>({3, 5, 7}));
  const auto b = ds->get({8, 0, 4});
  EXPECT_EQ(b.input.sizes(), torch::IntArrayRef({3, 3, 5, 7}));
  EXPECT_EQ(b.input.dtype(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(b.input[0], as_chw(w.images[8])));
  EXPECT_TRUE(torch::equal(b.input[1], as_chw(w.images[0])));
  EXPECT_TRUE(torch::equal(b.input[2], as_chw(w.images[4])));
  EXPECT_EQ(b.target[0].item<int64_t>(), 2);
  EXPECT_EQ(b.target[2].item<int64_t>(), 1);

  // float: the same values scaled to [0, 1].
  const auto dsf = build(data_cfg(yaml, {"data.dtype=float"}), Split::Test);
  const auto bf = dsf->get(iota(9));
  EXPECT_EQ(bf.input.dtype(), torch::kFloat);
  EXPECT_TRUE(torch::equal(bf.input, ds->get(iota(9)).input.to(torch::kFloat) / 255.0f));

  // uint8_nhwc: the stored pixels as they are, [B, H, W, C] (the fused augmentations' input).
  const auto dsn = build(data_cfg(yaml, {"data.dtype=uint8_nhwc"}), Split::Test);
  const auto bn = dsn->get({8, 0, 4});
  EXPECT_EQ(bn.input.sizes(), torch::IntArrayRef({3, 5, 7, 3}));
  EXPECT_TRUE(bn.input.is_contiguous());
  EXPECT_TRUE(torch::equal(bn.input.permute({0, 3, 1, 2}), b.input));
}

TEST(Pack, HeldOutValidationSplitPartitionsTrain) {
  const auto dir = smlab::testing::temp_dir();
  write_png_folder(dir / "raw", 10, 2, 2, 2);
  pack(dir / "raw", dir / "packed", {});
  const std::string yaml = "{name: hdf5_images, train: " + (dir / "packed").string() + ", val_fraction: 0.2, dtype: uint8}";
  const auto cfg = data_cfg(yaml);
  const auto tr = build(cfg, Split::Train), va = build(cfg, Split::Val), te = build(cfg, Split::Test);
  EXPECT_EQ(tr->size(), 24);
  EXPECT_EQ(va->size(), 6);
  EXPECT_EQ(te->size(), 6);  // test falls back to the validation split
  const auto all = torch::cat({tr->get(iota(24)).input, va->get(iota(6)).input}).view({30, -1});
  // Random 2x2 images are distinct: train and val together hold each image exactly once.
  EXPECT_EQ(std::get<0>(at::unique_dim(all, 0)).size(0), 30);
}

TEST(Pack, LimitTakesASeededSubsetOfEverySplit) {
  const auto dir = smlab::testing::temp_dir();
  write_png_folder(dir / "raw", 10, 2, 2, 2);
  pack(dir / "raw", dir / "packed", {});
  const std::string yaml = "{name: hdf5_images, train: " + (dir / "packed").string() + ", val_fraction: 0.2, dtype: uint8}";
  const auto full = build(data_cfg(yaml), Split::Train);
  const auto cfg = data_cfg(yaml, {"data.limit=10"});
  const auto tr = build(cfg, Split::Train), va = build(cfg, Split::Val);
  EXPECT_EQ(tr->size(), 10);
  EXPECT_EQ(va->size(), 6);  // fewer than the limit: all of them
  // The subset is drawn from the whole training split (not its first 10 records), and repeats.
  const auto rows = tr->get(iota(10)).input.view({10, -1});
  const auto again = build(cfg, Split::Train)->get(iota(10)).input.view({10, -1});
  EXPECT_TRUE(torch::equal(rows, again));
  const auto all = full->get(iota(24)).input.view({24, -1});
  std::vector<int64_t> where;
  for (int64_t i = 0; i < 10; ++i)
    for (int64_t j = 0; j < 24; ++j)
      if (torch::equal(rows[i], all[j])) where.push_back(j);
  ASSERT_EQ(where.size(), 10u);
  EXPECT_TRUE(std::is_sorted(where.begin(), where.end()));  // file order kept
  EXPECT_GT(where.back(), 9);
  const auto other = build(data_cfg(yaml, {"data.limit=10", "data.seed=5"}), Split::Train)->get(iota(10)).input;
  EXPECT_FALSE(torch::equal(other.view({10, -1}), rows));
}

TEST(Pack, JpegFolderMatchesOpenCvDecodeAndTarballMatchesFolder) {
  const auto dir = smlab::testing::temp_dir();
  std::mt19937 rng(3);
  std::vector<fs::path> files;
  for (const std::string split : {"train", "test"}) {
    for (const std::string cls : {"ant", "bee"}) {
      for (int i = 0; i < 2; ++i) {
        const auto p = dir / "raw" / split / cls / ("img" + std::to_string(i) + ".jpg");
        save_rgb(p, random_rgb(8, 8, rng), {cv::IMWRITE_JPEG_QUALITY, 90});
        if (split == "train") files.push_back(p);
      }
    }
  }
  PackOptions o;
  o.split = "train";
  const auto r = pack(dir / "raw", dir / "from_folder", o);
  EXPECT_EQ(r.count, 4);
  const auto f = read_packed(dir / "from_folder");
  EXPECT_EQ(f.classes, std::vector<std::string>({"ant", "bee"}));
  EXPECT_EQ(f.labels, std::vector<int64_t>({0, 0, 1, 1}));
  for (size_t i = 0; i < files.size(); ++i) {
    const cv::Mat ref = read_rgb(files[i]);
    ASSERT_EQ(ref.total() * 3, 8u * 8 * 3);
    EXPECT_EQ(0, std::memcmp(ref.data, f.images.data() + i * 192, 192)) << files[i];
  }
  // The same tree as a tar.gz (GNU tar, members in name order; pack keeps archive order) packs to
  // the same pixels and labels.
  ASSERT_EQ(0, std::system(("tar --sort=name -czf " + (dir / "raw.tar.gz").string() + " -C " + (dir / "raw").string() + " .").c_str()));
  const auto rt = pack(dir / "raw.tar.gz", dir / "from_tar", o);
  EXPECT_EQ(rt.count, 4);
  const auto t = read_packed(dir / "from_tar");
  EXPECT_EQ(t.classes, f.classes);
  EXPECT_EQ(t.labels, f.labels);
  EXPECT_EQ(t.images, f.images);
  EXPECT_EQ(manifest(dir / "from_tar")["sources"][0], (dir / "raw.tar.gz").string() + ":train/ant/img0.jpg");
  // --limit keeps the first N records, but the classes of the whole input.
  o.limit = 3;
  EXPECT_EQ(pack(dir / "raw.tar.gz", dir / "limited", o).count, 3);
  EXPECT_EQ(read_packed(dir / "limited").classes.size(), 2u);
}

TEST(Pack, ResizeOptionMatchesOpenCvAreaResize) {
  const auto dir = smlab::testing::temp_dir();
  std::mt19937 rng(4);
  const cv::Mat a = random_rgb(12, 16, rng), b = random_rgb(10, 10, rng);
  save_rgb(dir / "raw" / "x" / "a.png", a);
  save_rgb(dir / "raw" / "x" / "b.png", b);
  // Without --size differing sizes are a bad record.
  const auto msg = expect_user_error([&] { pack(dir / "raw", dir / "p0", {}); });
  EXPECT_NE(msg.find("b.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--size"), std::string::npos) << msg;
  PackOptions o;
  o.size = 6;
  pack(dir / "raw", dir / "p", o);
  const auto p = read_packed(dir / "p");
  EXPECT_EQ(p.sample_shape, std::vector<int64_t>({6, 6, 3}));
  cv::Mat ra, rb;
  cv::resize(a, ra, cv::Size(6, 6), 0, 0, cv::INTER_AREA);
  cv::resize(b, rb, cv::Size(6, 6), 0, 0, cv::INTER_AREA);
  EXPECT_EQ(0, std::memcmp(ra.data, p.images.data(), 108));
  EXPECT_EQ(0, std::memcmp(rb.data, p.images.data() + 108, 108));
}

TEST(Pack, IdxImagesGzippedAndPlainRoundTrip) {
  const auto dir = smlab::testing::temp_dir();
  std::mt19937 rng(5);
  const int n = 7, h = 4, w = 3;
  std::string img = {0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, h, 0, 0, 0, w};
  std::string lab = {0, 0, 8, 1, 0, 0, 0, n};
  std::vector<uint8_t> pixels(n * h * w);
  for (auto& p : pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  const std::vector<int64_t> labels = {3, 0, 1, 3, 2, 0, 1};
  img.append(pixels.begin(), pixels.end());
  for (auto l : labels) lab.push_back(static_cast<char>(l));
  write_text(dir / "toy-images-idx3-ubyte", img);
  write_text(dir / "toy-labels-idx1-ubyte", lab);
  const auto r = pack(dir / "toy-images-idx3-ubyte", dir / "plain", {});
  EXPECT_EQ(r.count, n);
  const auto p = read_packed(dir / "plain");
  EXPECT_EQ(p.sample_shape, std::vector<int64_t>({h, w, 1}));
  EXPECT_EQ(p.images, pixels);
  EXPECT_EQ(p.labels, labels);
  EXPECT_EQ(p.classes, std::vector<std::string>({"0", "1", "2", "3"}));
  // gzipped copies (made by gzip) give the same shards' content.
  ASSERT_EQ(0, std::system(("mkdir -p " + (dir / "gz").string() + " && gzip -c " + (dir / "toy-images-idx3-ubyte").string() +
                            " > " + (dir / "gz" / "toy-images-idx3-ubyte.gz").string() + " && gzip -c " +
                            (dir / "toy-labels-idx1-ubyte").string() + " > " + (dir / "gz" / "toy-labels-idx1-ubyte.gz").string())
                               .c_str()));
  pack(dir / "gz" / "toy-images-idx3-ubyte.gz", dir / "gzp", {});
  const auto g = read_packed(dir / "gzp");
  EXPECT_EQ(g.images, pixels);
  EXPECT_EQ(g.labels, labels);
  // hdf5_images gives [B, 1, H, W].
  const auto ds = build(data_cfg("{name: hdf5_images, train: " + (dir / "gzp").string() + ", val_fraction: 0.0, test: " +
                                 (dir / "gzp").string() + ", dtype: uint8}"),
                        Split::Test);
  const auto b = ds->get({2});
  EXPECT_EQ(b.input.sizes(), torch::IntArrayRef({1, 1, h, w}));
  EXPECT_EQ(b.input.flatten()[5].item<int64_t>(), pixels[2 * h * w + 5]);
  // A truncated IDX file names the file and the record where the data ends.
  write_text(dir / "cut" / "toy-images-idx3-ubyte", img.substr(0, 16 + 2 * h * w + 5));
  write_text(dir / "cut" / "toy-labels-idx1-ubyte", lab);
  const auto msg = expect_user_error([&] { pack(dir / "cut" / "toy-images-idx3-ubyte", dir / "cutp", {}); });
  EXPECT_NE(msg.find((dir / "cut" / "toy-images-idx3-ubyte").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("record 2"), std::string::npos) << msg;
}

// A 5-D IDX file (N, T, H, W, C) packs as clips: a video shard that hdf5_clips reads.
TEST(Pack, FiveDimensionalIdxPacksAsClips) {
  const auto dir = smlab::testing::temp_dir();
  std::mt19937 rng(9);
  const int n = 3, t = 4, h = 6, w = 5, c = 3;
  std::string img = {0, 0, 8, 5, 0, 0, 0, n, 0, 0, 0, t, 0, 0, 0, h, 0, 0, 0, w, 0, 0, 0, c};
  std::string lab = {0, 0, 8, 1, 0, 0, 0, n, 1, 0, 1};
  std::vector<uint8_t> pixels(n * t * h * w * c);
  for (auto& p : pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  img.append(pixels.begin(), pixels.end());
  write_text(dir / "clips-images-idx3-ubyte", img);
  write_text(dir / "clips-labels-idx1-ubyte", lab);
  pack(dir / "clips-images-idx3-ubyte", dir / "p", {});
  const auto p = read_packed(dir / "p");
  EXPECT_EQ(p.kind, "video");
  EXPECT_EQ(p.sample_shape, std::vector<int64_t>({t, h, w, c}));
  EXPECT_EQ(p.images, pixels);
  EXPECT_EQ(p.labels, std::vector<int64_t>({1, 0, 1}));
  // hdf5_clips at the stored size (no resize, full-size centre crop) gives the pixels back / 255.
  const auto cfg = smlab::config::load_string(
      "model: {name: frame_2d}\n", "clips.yaml",
      {"data.name=hdf5_clips", "data.train=" + (dir / "p").string(), "data.val=" + (dir / "p").string(),
       "data.frames=4", "data.size=5", "data.resize=0"});
  const auto ds = build(cfg, Split::Val);
  const auto b = ds->get({2});
  ASSERT_EQ(b.input.sizes(), torch::IntArrayRef({1, c, t, 5, 5}));
  const auto stored = torch::from_blob(pixels.data() + 2 * t * h * w * c, {t, h, w, c}, torch::kUInt8)
                          .slice(1, 0, 5)  // centre crop of 6 rows to 5: rows 0..4
                          .permute({3, 0, 1, 2})
                          .to(torch::kFloat)
                          .div(255.0f);
  EXPECT_LT((b.input[0] - stored).abs().max().item<float>(), 1e-6);
}

TEST(Pack, TruncatedJpegNamesTheFileAndSkipBadCountsIt) {
  const auto dir = smlab::testing::temp_dir();
  std::mt19937 rng(6);
  save_rgb(dir / "raw" / "a" / "good.jpg", random_rgb(16, 16, rng));
  save_rgb(dir / "raw" / "b" / "good.jpg", random_rgb(16, 16, rng));
  save_rgb(dir / "raw" / "b" / "cut.jpg", random_rgb(16, 16, rng));
  const std::string bytes = smlab::read_file(dir / "raw" / "b" / "cut.jpg");
  write_text(dir / "raw" / "b" / "cut.jpg", bytes.substr(0, bytes.size() * 2 / 3));
  write_text(dir / "raw" / "b" / "junk.png", "not a png at all");
  const auto msg = expect_user_error([&] { pack(dir / "raw", dir / "p", {}); });
  EXPECT_NE(msg.find((dir / "raw" / "b" / "cut.jpg").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated JPEG"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "p" / "manifest.json"));
  PackOptions o;
  o.skip_bad = true;
  const auto r = pack(dir / "raw", dir / "p", o);
  EXPECT_EQ(r.count, 2);
  EXPECT_EQ(r.skipped, 2);
  const auto m = manifest(dir / "p");
  EXPECT_EQ(m["skipped_count"], 2);
  ASSERT_EQ(m["skipped"].size(), 2u);
  EXPECT_EQ(m["skipped"][0]["source"], (dir / "raw" / "b" / "cut.jpg").string());
  EXPECT_EQ(m["skipped"][1]["source"], (dir / "raw" / "b" / "junk.png").string());
  EXPECT_NE(m["skipped"][1]["reason"].get<std::string>().find("cannot decode"), std::string::npos);
}

TEST(Pack, TextTsvBadRowsAndLabelsNameFileAndLine) {
  const auto dir = smlab::testing::temp_dir();
  write_text(dir / "t.tsv",
             "1\tpositive\tgood day\n"
             "2\tnegative\tbad \\u2019day\\ud83d\\ude00\n"
             "3\tneutral\n"
             "4\t\tempty label\n"
             "5\tneutral\tjust a day\t\n");
  auto msg = expect_user_error([&] { pack(dir / "t.tsv", dir / "p", {}); });
  EXPECT_NE(msg.find((dir / "t.tsv").string() + ":3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 3 columns, found 2"), std::string::npos) << msg;
  PackOptions o;
  o.skip_bad = true;
  o.unescape = true;
  auto r = pack(dir / "t.tsv", dir / "p", o);
  EXPECT_EQ(r.count, 3);
  EXPECT_EQ(r.skipped, 2);
  const auto p = read_packed(dir / "p");
  EXPECT_EQ(p.kind, "text");
  EXPECT_EQ(p.classes, std::vector<std::string>({"negative", "neutral", "positive"}));
  EXPECT_EQ(p.labels, std::vector<int64_t>({2, 0, 1}));
  EXPECT_EQ(p.texts, std::vector<std::string>({"good day", "bad \xE2\x80\x99" "day\xF0\x9F\x98\x80", "just a day"}));
  EXPECT_EQ(manifest(dir / "p")["skipped"][1]["source"], (dir / "t.tsv").string() + ":4");
  // A label outside --classes is a bad record naming its line.
  o.skip_bad = false;
  o.classes = {"negative", "positive"};
  write_text(dir / "u.tsv", "1\tpositive\tyes\n2\tneutral\tmeh\n");
  msg = expect_user_error([&] { pack(dir / "u.tsv", dir / "q", o); });
  EXPECT_NE(msg.find((dir / "u.tsv").string() + ":2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 'neutral'"), std::string::npos) << msg;
  // CSV with quoted fields.
  write_text(dir / "c.csv", "id,label,text\n7,pos,\"hello, \"\"world\"\"\"\n");
  o.classes = {};
  o.kind = "csv";
  r = pack(dir / "c.csv", dir / "c", o);
  const auto c = read_packed(dir / "c");
  EXPECT_EQ(c.texts, std::vector<std::string>({"text", "hello, \"world\""}));
}

TEST(Pack, TruncatedHdf5ShardIsAClearErrorNamingTheFile) {
  const auto dir = smlab::testing::temp_dir();
  write_png_folder(dir / "raw", 4, 6, 6, 7);
  pack(dir / "raw", dir / "p", {});
  const fs::path shard = dir / "p" / "shard-00000.h5";
  const std::string bytes = smlab::read_file(shard);
  write_text(shard, bytes.substr(0, bytes.size() / 2));
  // Through the manifest: the size check names the shard.
  auto msg = expect_user_error([&] { read_packed(dir / "p"); });
  EXPECT_NE(msg.find(shard.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // Without verification, HDF5 itself refuses the file, and the error still names it.
  msg = expect_user_error([&] { h5::read_shard(shard); });
  EXPECT_NE(msg.find(shard.string()), std::string::npos) << msg;
  msg = expect_user_error([&] {
    build(data_cfg("{name: hdf5_images, train: " + (dir / "p").string() + ", verify: false}"), Split::Train);
  });
  EXPECT_NE(msg.find(shard.string()), std::string::npos) << msg;
  // A changed byte with the size intact fails the CRC-32.
  std::string flipped = bytes;
  flipped[flipped.size() - 10] ^= 0x5A;
  write_text(shard, flipped);
  msg = expect_user_error([&] { read_packed(dir / "p"); });
  EXPECT_NE(msg.find("CRC-32"), std::string::npos) << msg;
  // A folder without a manifest.
  msg = expect_user_error([&] { read_packed(dir / "raw"); });
  EXPECT_NE(msg.find("manifest.json"), std::string::npos) << msg;
}

namespace {
// Generated sentences for a tiny tokenizer.
fs::path write_corpus(const fs::path& dir, int lines) {
  std::mt19937 rng(11);
  const std::vector<std::string> words = {"the", "cat", "sat", "on", "mat", "dog", "ran", "fast", "slow", "happy",
                                          "sad", "today", "tomorrow", "game", "win", "lose", "great", "awful"};
  std::string s;
  for (int i = 0; i < lines; ++i) {
    const int n = 3 + static_cast<int>(rng() % 8);
    for (int k = 0; k < n; ++k) s += (k ? " " : "") + words[rng() % words.size()];
    s += "\n";
  }
  write_text(dir / "corpus.txt", s);
  return dir / "corpus.txt";
}
}  // namespace

TEST(Tokenizer, TrainsLoadsAndPadsWithZero) {
  const auto dir = smlab::testing::temp_dir();
  TokenizerTrainOptions o;
  o.input = write_corpus(dir, 400);
  o.model_prefix = (dir / "tok").string();
  o.vocab_size = 40;
  train_tokenizer(o);
  ASSERT_TRUE(fs::exists(dir / "tok.model"));
  ASSERT_TRUE(fs::exists(dir / "tok.vocab"));
  const auto tok = Tokenizer::load(dir / "tok.model");
  EXPECT_EQ(tok->vocab_size(), 40);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->unk_id(), 1);
  const auto ids = tok->encode("the cat sat on the mat");
  ASSERT_FALSE(ids.empty());
  for (int id : ids) {
    EXPECT_GT(id, 1);
    EXPECT_LT(id, 40);
  }
  const auto batch = tok->encode_batch({"the cat sat on the mat", "dog"}, 3);
  EXPECT_EQ(batch.sizes(), torch::IntArrayRef({2, 3}));
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(batch[0][j].item<int64_t>(), j < static_cast<int>(ids.size()) ? ids[j] : 0);
  }
  const auto dog = tok->encode("dog");
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(batch[1][j].item<int64_t>(), j < static_cast<int>(dog.size()) ? dog[j] : 0);
  }
  EXPECT_NE(expect_user_error([&] { Tokenizer::load(dir / "missing.model"); }).find("missing.model"), std::string::npos);
}

TEST(TextTsv, RawAndPackedSourcesGiveTheTokenizersIds) {
  const auto dir = smlab::testing::temp_dir();
  TokenizerTrainOptions o;
  o.input = write_corpus(dir, 400);
  o.model_prefix = (dir / "tok").string();
  o.vocab_size = 40;
  train_tokenizer(o);
  const auto tok = Tokenizer::load(dir / "tok.model");
  const std::vector<std::string> texts = {"the cat sat", "dog ran fast today on the mat and the game", "awful",
                                          "happy win", "sad lose", "great game tomorrow"};
  const std::vector<std::string> labels = {"pos", "neg", "neg", "pos", "neg", "pos"};
  std::string tsv;
  for (size_t i = 0; i < texts.size(); ++i) tsv += std::to_string(i) + "\t" + labels[i] + "\t" + texts[i] + "\n";
  write_text(dir / "train.tsv", tsv);
  PackOptions po;
  po.shard_size = 4;
  pack(dir / "train.tsv", dir / "packed", po);
  for (const fs::path src : {dir / "train.tsv", dir / "packed"}) {
    const auto ds = build(data_cfg("{name: text_tsv, train: " + src.string() + ", test: " + src.string() +
                                   ", val_fraction: 0.0, max_len: 6, tokenizer: " + (dir / "tok.model").string() + "}"),
                          Split::Test);
    ASSERT_EQ(ds->size(), 6) << src;
    EXPECT_EQ(ds->info().vocab_size, 40);
    EXPECT_EQ(ds->info().class_names, std::vector<std::string>({"neg", "pos"}));
    EXPECT_EQ(ds->info().input_shape, std::vector<int64_t>({6}));
    const auto b = ds->get(iota(6));
    EXPECT_EQ(b.input.dtype(), torch::kInt64);
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(b.target[i].item<int64_t>(), labels[i] == "pos" ? 1 : 0);
      const auto ids = tok->encode(texts[i]);
      for (int j = 0; j < 6; ++j) {
        EXPECT_EQ(b.input[i][j].item<int64_t>(), j < static_cast<int>(ids.size()) ? ids[j] : 0) << src << " " << i;
      }
    }
  }
  // A validation file whose label the train file lacks names its line.
  write_text(dir / "val.tsv", "9\tmaybe\tthe cat\n");
  const auto msg = expect_user_error([&] {
    build(data_cfg("{name: text_tsv, train: " + (dir / "train.tsv").string() + ", val: " + (dir / "val.tsv").string() +
                   ", tokenizer: " + (dir / "tok.model").string() + "}"),
          Split::Val);
  });
  EXPECT_NE(msg.find((dir / "val.tsv").string() + ":1"), std::string::npos) << msg;
}

TEST(Pack, CliPacksAndReportsBadInputWithExit2) {
  const auto dir = smlab::testing::temp_dir();
  write_png_folder(dir / "raw", 2, 3, 3, 9);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int rc = smlab::cli::run({"pack", (dir / "raw").string(), (dir / "p").string(), "--shard-size", "4"});
  std::string out = ::testing::internal::GetCapturedStdout();
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("packed 6 records into 2 shard(s)"), std::string::npos) << out;
  write_text(dir / "bad.tsv", "1\tpos\tok\n2\tpos\n");
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  rc = smlab::cli::run({"pack", (dir / "bad.tsv").string(), (dir / "q").string()});
  ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 2);
  EXPECT_NE(err.find((dir / "bad.tsv").string() + ":2"), std::string::npos) << err;
}

TEST(Pack, ShardChunksHoldAboutOneMebibyteOfRecords) {
  // A reader of one record decompresses its whole chunk: CIFAR-sized records go 256 to a chunk,
  // 224x224 RGB records (147 KiB) 6 to a chunk (floor(1 MiB / 150,528 B)), never fewer than 1.
  const auto dir = smlab::testing::temp_dir();
  auto chunk_of = [&](int64_t n, int64_t h, int64_t w) {
    smlab::datasets::h5::Shard s;
    s.image_shape = {n, h, w, 3};
    s.images.assign(static_cast<size_t>(n * h * w * 3), 7);
    s.labels.assign(static_cast<size_t>(n), 0);
    const auto path = dir / ("c" + std::to_string(h) + ".h5");
    smlab::datasets::h5::write_shard(path, s);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
    const hid_t p = H5Dget_create_plist(d);
    hsize_t dims[4] = {0, 0, 0, 0};
    EXPECT_EQ(H5Pget_chunk(p, 4, dims), 4);
    H5Pclose(p);
    H5Dclose(d);
    H5Fclose(f);
    EXPECT_EQ(dims[1], static_cast<hsize_t>(h));
    return dims[0];
  };
  EXPECT_EQ(chunk_of(300, 32, 32), 256u);
  EXPECT_EQ(chunk_of(20, 224, 224), 6u);
  EXPECT_EQ(chunk_of(3, 1024, 1024), 1u);
}

// Issue 22, item 10: a test pack whose class names differ from the training pack's (same count, or
// not) is refused when the split is built, naming both folders and the first difference, instead of
// scoring "bird" images as "cat" (or failing with a shape error after an epoch).
TEST(Pack, SplitsWhoseClassNamesDifferFromTrainingAreRefused) {
  const auto dir = smlab::testing::temp_dir();
  write_png_folder(dir / "raw", 2, 4, 4, 3);
  PackOptions o;
  pack(dir / "raw", dir / "train", o);
  fs::copy(dir / "raw", dir / "renamed", fs::copy_options::recursive);
  fs::rename(dir / "renamed" / "cat", dir / "renamed" / "bird");  // bird, dog, emu: same count
  pack(dir / "renamed", dir / "test_renamed", o);
  fs::copy(dir / "raw", dir / "fewer", fs::copy_options::recursive);
  fs::remove_all(dir / "fewer" / "emu");
  pack(dir / "fewer", dir / "test_fewer", o);
  pack(dir / "raw", dir / "test_same", o);
  auto cfg_for = [&](const std::string& test) {
    return data_cfg("{name: hdf5_images, train: " + (dir / "train").string() + ", test: " + (dir / test).string() + "}");
  };
  const auto renamed = expect_user_error([&] { build(cfg_for("test_renamed"), Split::Test); });
  for (const std::string& s : std::vector<std::string>{(dir / "test_renamed").string(), (dir / "train").string(),
                                                      "test pack's classes differ", "class 0 is 'bird' there and 'cat' in training"})
    EXPECT_NE(renamed.find(s), std::string::npos) << s << " not in: " << renamed;
  const auto fewer = expect_user_error([&] { build(cfg_for("test_fewer"), Split::Test); });
  EXPECT_NE(fewer.find("2 classes against the training pack's 3"), std::string::npos) << fewer;
  // The same class list (another folder) and the training folder itself are fine.
  EXPECT_EQ(build(cfg_for("test_same"), Split::Test)->info().class_names, (std::vector<std::string>{"cat", "dog", "emu"}));
  EXPECT_NO_THROW(build(cfg_for("test_same"), Split::Train));
}

// Issue 22, item 11: a text with an embedded NUL byte (raw, or as a \u0000 escape) was cut at it when
// packed into HDF5's C strings. It is now a bad record: an error naming file:line, or skipped and
// listed with --skip-bad, while the other records keep every byte.
TEST(Pack, TextWithANulByteIsABadRecordNotATruncatedOne) {
  const auto dir = smlab::testing::temp_dir();
  const std::string tsv = std::string("1\tpos\tfine text\n2\tneg\tcut") + '\0' + "here\n3\tpos\tescaped \\u0000 nul\n4\tneg\tlast\n";
  write_text(dir / "t.tsv", tsv);
  TextReadOptions r;
  r.unescape = true;
  std::vector<BadRecord> skipped;
  const auto err = expect_user_error([&] { read_text_records(dir / "t.tsv", r, &skipped); });
  EXPECT_NE(err.find((dir / "t.tsv").string() + ":2: the text holds a NUL byte at character 4"), std::string::npos) << err;
  r.skip_bad = true;
  const auto recs = read_text_records(dir / "t.tsv", r, &skipped);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].text, "fine text");
  EXPECT_EQ(recs[1].text, "last");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0].source, (dir / "t.tsv").string() + ":2");
  EXPECT_EQ(skipped[1].source, (dir / "t.tsv").string() + ":3");  // \u0000 becomes NUL only when unescaped
  EXPECT_NE(skipped[1].reason.find("NUL byte at character 9"), std::string::npos) << skipped[1].reason;
}
