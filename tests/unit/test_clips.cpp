// Video clips from frame folders and video files (OpenCV), from packed clip shards, temporal
// sampling and consistent spatial jitter, and multi-clip evaluation. The clips are written here:
// frame t of clip v is a fixed spatial gradient plus a brightness of 6 * t + v, so that a clip's
// frames tell which source frames were sampled and whether every frame was cropped and flipped
// alike (then frame t minus frame 0 is the same at every pixel).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <opencv2/videoio.hpp>

#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "datasets/clips.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/augment.h"
#include "datasets/pack.h"
#include "models/model.h"
#include "test_util.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using smlab::datasets::Split;
namespace clips = smlab::datasets::clips;

namespace {

constexpr int kW = 40, kH = 30;

/// Frame t of clip v (BGR, as OpenCV writes): blue = 3 * x, green = 4 * y, red = 6 * t + v.
cv::Mat frame(int t, int v) {
  cv::Mat m(kH, kW, CV_8UC3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(3 * x, 4 * y, 6 * t + v);
  return m;
}

/// root/<class>/<clip>: two classes with frame folders of 20 and 12 PNG frames, and one 16-frame
/// MJPG video in class "b".
fs::path write_clips(const fs::path& root) {
  const std::vector<std::tuple<std::string, std::string, int>> folders = {
      {"a", "c0", 20}, {"a", "c1", 12}, {"b", "c2", 20}, {"b", "c3", 12}};
  int v = 0;
  for (const auto& [cls, name, n] : folders) {
    fs::create_directories(root / cls / name);
    for (int t = 0; t < n; ++t) {
      char file[32];
      std::snprintf(file, sizeof file, "%05d.png", t);
      cv::imwrite((root / cls / name / file).string(), frame(t, v));
    }
    ++v;
  }
  cv::VideoWriter w((root / "b" / "v4.avi").string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(kW, kH));
  EXPECT_TRUE(w.isOpened()) << "OpenCV cannot write MJPG .avi here";
  for (int t = 0; t < 16; ++t) w.write(frame(t, 4));
  w.release();
  return root;
}

smlab::config::Config clip_config(const std::string& dataset, const fs::path& train, std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"data.name=" + dataset, "data.train=" + train.string(), "data.val=" + train.string(),
                                "data.frames=4", "data.size=24", "data.resize=0"};
  o.insert(o.end(), extra.begin(), extra.end());
  return smlab::config::load_string("model: {name: frame_2d}\n", "clips.yaml", o);
}

/// The red channel (6 * t + v) of each frame of a clip [3, T, H, W], at its centre pixel.
std::vector<int> reds(const torch::Tensor& clip) {
  std::vector<int> out;
  for (int64_t t = 0; t < clip.size(1); ++t)
    out.push_back(static_cast<int>(std::lround(clip[0][t][clip.size(2) / 2][clip.size(3) / 2].item<float>() * 255)));
  return out;
}

}  // namespace

TEST(Clips, FrameIndicesFollowTheSamplingRules) {
  using clips::Sampling;
  // uniform: 16 frames in 4 segments of 4; the middle of each, or 1/4 and 3/4 in for 2 clips.
  EXPECT_EQ(clips::frame_indices(16, 4, 1, Sampling::Uniform, 0, 1, nullptr), (std::vector<int64_t>{2, 6, 10, 14}));
  EXPECT_EQ(clips::frame_indices(16, 4, 1, Sampling::Uniform, 0, 2, nullptr), (std::vector<int64_t>{1, 5, 9, 13}));
  EXPECT_EQ(clips::frame_indices(16, 4, 1, Sampling::Uniform, 1, 2, nullptr), (std::vector<int64_t>{3, 7, 11, 15}));
  EXPECT_EQ(clips::frame_indices(2, 4, 1, Sampling::Uniform, 0, 1, nullptr), (std::vector<int64_t>{0, 0, 1, 1}));
  // random_offset: window of (4 - 1) * 2 + 1 = 7 in 20 frames, start 0..13: centre 6; 3 clips 0, 7, 13.
  EXPECT_EQ(clips::frame_indices(20, 4, 2, Sampling::RandomOffset, 0, 1, nullptr), (std::vector<int64_t>{6, 8, 10, 12}));
  EXPECT_EQ(clips::frame_indices(20, 4, 2, Sampling::RandomOffset, 0, 3, nullptr), (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(clips::frame_indices(20, 4, 2, Sampling::RandomOffset, 1, 3, nullptr), (std::vector<int64_t>{7, 9, 11, 13}));
  EXPECT_EQ(clips::frame_indices(20, 4, 2, Sampling::RandomOffset, 2, 3, nullptr), (std::vector<int64_t>{13, 15, 17, 19}));
  // A video shorter than the window repeats its last frame.
  EXPECT_EQ(clips::frame_indices(3, 4, 1, Sampling::RandomOffset, 0, 1, nullptr), (std::vector<int64_t>{0, 1, 2, 2}));
  // Training draws: uniform keeps one frame per segment; random_offset keeps the stride.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  std::set<int64_t> starts;
  for (int r = 0; r < 200; ++r) {
    const auto u = clips::frame_indices(16, 4, 1, Sampling::Uniform, 0, 1, &gen);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(u[i] >= 4 * i && u[i] < 4 * i + 4) << u[i];
    const auto w = clips::frame_indices(20, 4, 2, Sampling::RandomOffset, 0, 1, &gen);
    for (int i = 1; i < 4; ++i) ASSERT_EQ(w[i] - w[i - 1], 2);
    ASSERT_LE(w[0], 13);
    starts.insert(w[0]);
  }
  EXPECT_EQ(starts.size(), 14u) << "every start 0..13 should be drawn";
}

TEST(Clips, VideoFolderDecodesFramesAndVideosWithConsistentJitter) {
  smlab::register_all();
  const auto root = write_clips(smlab::testing::temp_dir() / "clips");
  // Evaluation: middle frames of 4 segments, centre crop 24x24 of 40x30.
  auto val = smlab::datasets::build(clip_config("video_folder", root), Split::Val);
  EXPECT_EQ(val->info().class_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(val->info().input_shape, (std::vector<int64_t>{3, 4, 24, 24}));
  ASSERT_EQ(val->size(), 5);
  const auto b = val->get({0, 1, 2, 3, 4});
  EXPECT_EQ(b.input.sizes().vec(), (std::vector<int64_t>{5, 3, 4, 24, 24}));
  EXPECT_TRUE(torch::equal(b.target, torch::tensor({0, 0, 1, 1, 1})));
  // 20 frames -> 2, 7, 12, 17; 12 frames -> 1, 4, 7, 10 (red = 6 t + clip).
  EXPECT_EQ(reds(b.input[0]), (std::vector<int>{12, 42, 72, 102}));
  EXPECT_EQ(reds(b.input[1]), (std::vector<int>{7, 25, 43, 61}));
  // Centre crop of 40x30 to 24x24: columns 8.., rows 3..; blue = 3 x, green = 4 y (RGB order).
  EXPECT_NEAR(b.input[0][2][0][0][0].item<float>() * 255, 24.0, 1e-3);
  EXPECT_NEAR(b.input[0][1][0][0][0].item<float>() * 255, 12.0, 1e-3);
  // The MJPG video (lossy): 16 frames -> 2, 6, 10, 14, red = 6 t + 4.
  const auto video = reds(b.input[4]);
  const std::vector<int> want = {16, 40, 64, 88};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(video[i], want[i], 6) << "frame " << i;

  // Training: random segments, crops and flips, the same for every frame of a clip; the same
  // draws for the same (seed, epoch, clip), others for another epoch.
  auto train = smlab::datasets::build(clip_config("video_folder", root, {"data.val_fraction=0"}), Split::Train);
  std::set<std::string> seen;
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    train->set_epoch(epoch);
    const auto x = train->get({0, 2});
    train->set_epoch(epoch);
    EXPECT_TRUE(torch::equal(x.input, train->get({0, 2}).input)) << "epoch " << epoch;
    for (int64_t i = 0; i < 2; ++i) {
      const auto clip = x.input[i];
      for (int64_t t = 1; t < 4; ++t) {
        const auto d = (clip.select(1, t) - clip.select(1, 0)) * 255;  // [3, 24, 24]
        EXPECT_LT((d[0] - d[0].mean()).abs().max().item<float>(), 1e-3) << "frames cropped differently";
        EXPECT_LT(d[1].abs().max().item<float>(), 1e-3);
        EXPECT_LT(d[2].abs().max().item<float>(), 1e-3);
      }
      // Flipped clips have blue decreasing along x; the crop's left column is blue / 3.
      const float left = clip[2][0][0][0].item<float>() * 255, right = clip[2][0][0][23].item<float>() * 255;
      seen.insert((left < right ? "plain@" : "flip@") + std::to_string(std::lround(std::min(left, right) / 3)));
    }
  }
  EXPECT_GT(seen.size(), 3u) << "crops and flips should vary across epochs";
  bool flipped = false, plain = false;
  for (const auto& s : seen) (s.rfind("flip", 0) == 0 ? flipped : plain) = true;
  EXPECT_TRUE(flipped && plain);
}

TEST(Clips, PackedClipsMatchTheDecodedOnes) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  const auto root = write_clips(dir / "clips");
  smlab::datasets::PackOptions o;
  o.kind = "video";
  o.frames = 4;
  o.size = 24;
  o.shard_size = 2;
  const auto r = smlab::datasets::pack(root, dir / "packed", o);
  EXPECT_EQ(r.count, 5);
  EXPECT_EQ(r.shards, 3);
  const auto p = smlab::datasets::read_packed(dir / "packed");
  EXPECT_EQ(p.kind, "video");
  EXPECT_EQ(p.sample_shape, (std::vector<int64_t>{4, 24, 24, 3}));
  // pack: 4 uniform frames, shorter side 30 -> 24 then centre crop; the folder reader with the
  // same settings gives the same clips (the PNG ones exactly).
  auto packed = smlab::datasets::build(clip_config("hdf5_clips", dir / "packed"), Split::Val);
  auto folder = smlab::datasets::build(clip_config("video_folder", root, {"data.resize=24"}), Split::Val);
  EXPECT_EQ(packed->info().input_shape, folder->info().input_shape);
  const auto a = packed->get({0, 1, 2, 3}), b = folder->get({0, 1, 2, 3});
  EXPECT_TRUE(torch::equal(a.target, b.target));
  EXPECT_LT((a.input - b.input).abs().max().item<float>(), 1.0f / 255 + 1e-6);

  // Bad inputs name the file.
  fs::create_directories(dir / "bad" / "a");
  std::ofstream(dir / "bad" / "a" / "notes.txt") << "x";
  try {
    smlab::datasets::pack(dir / "bad", dir / "bad_out", o);
    FAIL() << "expected an error";
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
  }
}

TEST(Clips, Uint8ClipsFeedTheDeviceClipAugmentations) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  smlab::datasets::PackOptions o;
  o.kind = "video";
  o.frames = 4;
  o.size = 24;
  smlab::datasets::pack(write_clips(dir / "clips"), dir / "packed", o);
  const auto u8_cfg = clip_config("hdf5_clips", dir / "packed", {"data.dtype=uint8_nthwc"});
  auto u8 = smlab::datasets::build(u8_cfg, Split::Val);
  auto fl = smlab::datasets::build(clip_config("hdf5_clips", dir / "packed"), Split::Val);
  EXPECT_EQ(u8->info().input_shape, fl->info().input_shape);  // what the model sees after the clip op
  const auto a = u8->get({0, 1, 2}), b = fl->get({0, 1, 2});
  ASSERT_EQ(a.input.sizes().vec(), (std::vector<int64_t>{3, 4, 24, 24, 3}));
  ASSERT_EQ(a.input.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(a.input.permute({0, 4, 1, 2, 3}).to(torch::kFloat) / 255, b.input));
  // The eval op from the config turns the raw clips into the float path's clips.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const smlab::datasets::AugmentPipeline eval(smlab::datasets::augment_specs(
      smlab::config::load_string("augment: {eval: [video_center_crop]}\n", "v.yaml"), "augment.eval"));
  EXPECT_LT((eval.apply(a.input, gen) - b.input).abs().max().item<float>(), 1e-6);
  // Training hands out centre crops (the random crop and flip happen on the device) with random frames.
  auto train = smlab::datasets::build(clip_config("hdf5_clips", dir / "packed", {"data.dtype=uint8_nthwc", "data.val_fraction=0"}),
                                      Split::Train);
  const auto t = train->get({0});
  EXPECT_EQ(t.input.sizes().vec(), (std::vector<int64_t>{1, 4, 24, 24, 3}));
  EXPECT_EQ(t.input.scalar_type(), torch::kUInt8);
}

TEST(Clips, MultiClipEvaluationAveragesTheLogitsOfEachVideo) {
  smlab::register_all();
  const auto root = write_clips(smlab::testing::temp_dir() / "clips");
  const auto cfg = clip_config("video_folder", root, {"data.eval_clips=3", "data.sampling=random_offset",
                                                      "data.eval_batch_size=2", "experiment.device=cpu"});
  auto ds = smlab::datasets::build(cfg, Split::Val);
  const auto b = ds->get({0, 1});
  ASSERT_EQ(b.input.sizes().vec(), (std::vector<int64_t>{2, 3, 3, 4, 24, 24}));  // [B, K, C, T, H, W]
  // Clip k of 3 of a 20-frame video: windows starting at 0, 8 and 16.
  EXPECT_EQ(reds(b.input[0][0]), (std::vector<int>{0, 6, 12, 18}));
  EXPECT_EQ(reds(b.input[0][1]), (std::vector<int>{48, 54, 60, 66}));
  EXPECT_EQ(reds(b.input[0][2]), (std::vector<int>{96, 102, 108, 114}));

  torch::manual_seed(0);
  auto model = smlab::models::build(cfg, ds->info());
  model->eval();
  smlab::datasets::Loader loader(ds, smlab::trainers::eval_loader_options(cfg));
  auto ce = [](const torch::Tensor& out, const torch::Tensor& y) { return torch::nn::functional::cross_entropy(out, y); };
  const auto result = smlab::trainers::evaluate(*model, loader, ce, torch::kCPU, cfg);
  // Reference: the mean of each video's 3 clip logits, then cross-entropy over the 5 videos.
  torch::NoGradGuard g;
  std::vector<int64_t> all = {0, 1, 2, 3, 4};
  const auto x = ds->get(all);
  std::vector<torch::Tensor> logits;
  for (int64_t i = 0; i < 5; ++i) logits.push_back(model->forward(x.input[i]).mean(0));
  const double want = ce(torch::stack(logits), x.target).item<double>();
  EXPECT_NEAR(result["loss"].get<double>(), want, 1e-5);
}
