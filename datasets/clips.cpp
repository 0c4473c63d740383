// Video clips (datasets/clips.h) and the two clip datasets:
//   video_folder  class folders of video files and frame folders, decoded with OpenCV per batch;
//   hdf5_clips    clips packed by `smlab pack --kind video` (HDF5 shards), held in memory.
// Both give [B, C, T, size, size] float clips in [0, 1] (with eval_clips = K > 1, evaluation
// splits give [B, K, C, T, size, size]: K clips per video, whose logits the evaluator averages).
#include "datasets/clips.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <opencv2/imgproc.hpp>
#ifndef SMLAB_NO_OPENCV_CODECS
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#endif

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/dataset.h"
#include "datasets/image_limits.h"
#include "datasets/pack.h"
#include "datasets/split.h"

namespace smlab::datasets {
namespace fs = std::filesystem;

namespace clips {

Sampling parse_sampling(const std::string& name) {
  if (name == "uniform") return Sampling::Uniform;
  if (name == "random_offset") return Sampling::RandomOffset;
  throw UserError("unknown clip sampling '" + name + "' (uniform, random_offset)");
}

std::vector<int64_t> frame_indices(int64_t n, int64_t frames, int64_t stride, Sampling sampling, int64_t clip,
                                   int64_t clips, at::Generator* jitter) {
  TORCH_CHECK(n >= 1 && frames >= 1 && stride >= 1 && clips >= 1 && clip >= 0 && clip < clips,
              "frame_indices: bad arguments n=", n, " frames=", frames, " stride=", stride, " clip=", clip, "/", clips);
  auto uniform01 = [&] { return torch::rand({1}, *jitter, torch::kDouble).item<double>(); };
  std::vector<int64_t> out(frames);
  if (sampling == Sampling::Uniform) {
    const double seg = static_cast<double>(n) / static_cast<double>(frames);
    const double where = clips == 1 ? 0.5 : (static_cast<double>(clip) + 0.5) / static_cast<double>(clips);
    for (int64_t i = 0; i < frames; ++i) {
      const double pos = static_cast<double>(i) * seg + (jitter ? uniform01() : where) * seg;
      out[i] = std::clamp<int64_t>(static_cast<int64_t>(std::floor(pos)), 0, n - 1);
    }
    // Segments shorter than a frame can round a later index below an earlier one: keep order.
    for (int64_t i = 1; i < frames; ++i) out[i] = std::max(out[i], out[i - 1]);
  } else {
    const int64_t window = (frames - 1) * stride + 1, max_start = std::max<int64_t>(0, n - window);
    int64_t start;
    if (jitter) start = torch::randint(0, max_start + 1, {1}, *jitter, torch::kInt64).item<int64_t>();
    else if (clips == 1) start = max_start / 2;
    else start = static_cast<int64_t>(std::llround(static_cast<double>(clip * max_start) / static_cast<double>(clips - 1)));
    for (int64_t i = 0; i < frames; ++i) out[i] = std::min(start + i * stride, n - 1);
  }
  return out;
}

namespace {

const char* kVideoExtensions[] = {".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v"};

bool is_video_file(const fs::path& p) {
  const std::string ext = text::lower(p.extension().string());
  return std::find(std::begin(kVideoExtensions), std::end(kVideoExtensions), ext) != std::end(kVideoExtensions);
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind('.', 0) == 0) continue;  // hidden
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> frame_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& p : sorted_entries(dir)) {
    if (!fs::is_regular_file(p) || !is_image_file(p))
      throw UserError(p.string() + ": not an image (.jpg .jpeg .png .bmp); a frame folder holds only its frames");
    out.push_back(p);
  }
  return out;
}

#ifdef SMLAB_NO_OPENCV_CODECS
[[noreturn]] void no_codecs(const fs::path& p) {
  throw UserError(p.string() + ": cannot decode video files or frame images: this smlab was built with "
                  "SMLAB_WITH_OPENCV_CODECS=OFF (no OpenCV imgcodecs/videoio; docs/build.md). Packed clips "
                  "(data.name: hdf5_clips) work; build with the codecs for video_folder");
}
#endif

int64_t video_frame_count(const fs::path& p) {
#ifdef SMLAB_NO_OPENCV_CODECS
  no_codecs(p);
#else
  cv::VideoCapture cap(p.string());
  if (!cap.isOpened()) throw UserError(p.string() + ": cannot open the video (unsupported or damaged file)");
  auto n = static_cast<int64_t>(cap.get(cv::CAP_PROP_FRAME_COUNT));
  if (n <= 0) {  // containers without a frame count: count by decoding
    n = 0;
    while (cap.grab()) ++n;
  }
  if (n <= 0) throw UserError(p.string() + ": the video has no frames");
  return n;
#endif
}

#ifndef SMLAB_NO_OPENCV_CODECS
cv::Mat to_rgb(const cv::Mat& bgr, bool gray) {
  cv::Mat out;
  if (bgr.channels() == 1) {
    if (gray) return bgr.clone();
    cv::cvtColor(bgr, out, cv::COLOR_GRAY2RGB);
  } else {
    cv::cvtColor(bgr, out, gray ? cv::COLOR_BGR2GRAY : cv::COLOR_BGR2RGB);
  }
  return out;
}
#endif

}  // namespace

std::vector<Source> list_sources(const fs::path& root, std::vector<std::string>* classes) {
#ifdef SMLAB_NO_OPENCV_CODECS
  no_codecs(root);
#endif
  if (!fs::is_directory(root)) throw UserError(root.string() + ": not a folder of class folders");
  std::vector<Source> out;
  classes->clear();
  for (const auto& cls : sorted_entries(root)) {
    if (!fs::is_directory(cls)) throw UserError(cls.string() + ": expected only class folders in " + root.string());
    const auto label = static_cast<int64_t>(classes->size());
    classes->push_back(cls.filename().string());
    for (const auto& item : sorted_entries(cls)) {
      Source s;
      s.path = item;
      s.label = label;
      if (fs::is_directory(item)) {
        s.is_folder = true;
        s.frame_count = static_cast<int64_t>(frame_files(item).size());
        if (s.frame_count == 0) throw UserError(item.string() + ": empty frame folder");
      } else if (is_video_file(item)) {
        s.frame_count = video_frame_count(item);
      } else {
        throw UserError(item.string() + ": neither a video file (" + std::string(kVideoExtensions[0]) +
                        ", .mp4, ...) nor a frame folder");
      }
      out.push_back(std::move(s));
    }
  }
  if (out.empty()) throw UserError(root.string() + ": no videos or frame folders in its class folders");
  return out;
}

std::vector<cv::Mat> read_frames(const Source& source, const std::vector<int64_t>& indices, bool gray) {
#ifdef SMLAB_NO_OPENCV_CODECS
  no_codecs(source.path);
#else
  std::vector<cv::Mat> out;
  out.reserve(indices.size());
  if (source.is_folder) {
    const auto files = frame_files(source.path);
    for (auto i : indices) {
      const auto& f = files.at(std::min<size_t>(static_cast<size_t>(i), files.size() - 1));
      const std::string bytes = read_file(f);
      const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
      if (auto why = image_size_problem(b, bytes.size()); !why.empty()) throw UserError(f.string() + ": " + why);
      cv::Mat img;
      try {
        img = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<unsigned char*>(b)),
                           gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
      } catch (const cv::Exception&) {
        img.release();
      }
      if (img.empty()) throw UserError(f.string() + ": cannot decode the frame");
      out.push_back(gray ? img : to_rgb(img, false));
    }
    return out;
  }
  cv::VideoCapture cap(source.path.string());
  if (!cap.isOpened()) throw UserError(source.path.string() + ": cannot open the video");
  if (auto why = frame_size_problem(static_cast<int64_t>(cap.get(cv::CAP_PROP_FRAME_WIDTH)),
                                    static_cast<int64_t>(cap.get(cv::CAP_PROP_FRAME_HEIGHT)));
      !why.empty())
    throw UserError(source.path.string() + ": " + why);
  cv::Mat last;
  int64_t pos = -1;  // index of the last grabbed frame
  bool ended = false;
  for (auto i : indices) {
    while (!ended && pos < i) {
      if (!cap.grab()) {
        ended = true;
        break;
      }
      if (++pos == i) {
        cv::Mat f;
        cap.retrieve(f);
        if (!f.empty()) last = to_rgb(f, gray);
      }
    }
    if (last.empty()) throw UserError(source.path.string() + ": cannot decode frame " + std::to_string(i));
    out.push_back(last);  // a stream that ends early repeats the last frame read
  }
  return out;
#endif
}

std::vector<cv::Mat> transform_frames(const std::vector<cv::Mat>& frames, const Spatial& spatial, at::Generator* jitter,
                                      const std::string& what) {
  TORCH_CHECK(!frames.empty(), "transform_frames: no frames");
  // One set of parameters for the whole clip, from the first frame's size.
  int64_t h = frames[0].rows, w = frames[0].cols;
  if (spatial.resize > 0) {
    const double scale = static_cast<double>(spatial.resize) / static_cast<double>(std::min(h, w));
    h = std::max<int64_t>(1, std::llround(static_cast<double>(h) * scale));
    w = std::max<int64_t>(1, std::llround(static_cast<double>(w) * scale));
  }
  const int64_t ch = spatial.size > 0 ? spatial.size : h, cw = spatial.size > 0 ? spatial.size : w;
  if (h < ch || w < cw) {
    throw UserError(what + ": frames of " + std::to_string(w) + "x" + std::to_string(h) +
                    (spatial.resize > 0 ? " (after resizing)" : "") + " are smaller than the " +
                    std::to_string(cw) + "x" + std::to_string(ch) + " crop");
  }
  int64_t top = (h - ch) / 2, left = (w - cw) / 2;
  bool flip = false;
  if (jitter) {
    top = torch::randint(0, h - ch + 1, {1}, *jitter, torch::kInt64).item<int64_t>();
    left = torch::randint(0, w - cw + 1, {1}, *jitter, torch::kInt64).item<int64_t>();
    flip = spatial.flip && torch::rand({1}, *jitter, torch::kDouble).item<double>() < 0.5;
  }
  std::vector<cv::Mat> out;
  out.reserve(frames.size());
  for (const auto& f : frames) {
    if (f.rows != frames[0].rows || f.cols != frames[0].cols || f.channels() != frames[0].channels())
      throw UserError(what + ": frames differ in size or channels within the clip");
    cv::Mat g = f;
    if (g.rows != h || g.cols != w) {
      const bool shrink = h < g.rows;
      cv::resize(f, g, cv::Size(static_cast<int>(w), static_cast<int>(h)), 0, 0,
                 shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    }
    cv::Mat c = g(cv::Rect(static_cast<int>(left), static_cast<int>(top), static_cast<int>(cw), static_cast<int>(ch)));
    cv::Mat o;
    if (flip) cv::flip(c, o, 1);
    else o = c.clone();
    out.push_back(o);
  }
  return out;
}

at::Tensor to_tensor(const std::vector<cv::Mat>& frames) {
  return to_uint8_tensor(frames).permute({3, 0, 1, 2}).to(torch::kFloat).div_(255.0f).contiguous();
}

at::Tensor to_uint8_tensor(const std::vector<cv::Mat>& frames) {
  const int64_t t = static_cast<int64_t>(frames.size()), h = frames[0].rows, w = frames[0].cols,
                c = frames[0].channels();
  auto thwc = torch::empty({t, h, w, c}, torch::kUInt8);
  for (int64_t i = 0; i < t; ++i) {
    TORCH_CHECK(frames[i].rows == h && frames[i].cols == w && frames[i].channels() == c && frames[i].depth() == CV_8U,
                "to_tensor: frames differ");
    cv::Mat m = frames[i].isContinuous() ? frames[i] : frames[i].clone();
    std::memcpy(thwc[i].data_ptr<uint8_t>(), m.data, static_cast<size_t>(h * w * c));
  }
  return thwc;
}

}  // namespace clips

namespace {

/// What both clip datasets share: temporal sampling, spatial processing, multi-clip evaluation
/// and the per-(seed, epoch, index) training jitter. Subclasses give frame counts and frames.
class ClipDataset : public Dataset {
 public:
  struct Options {
    int64_t frames = 8, stride = 1, eval_clips = 1;
    clips::Sampling sampling = clips::Sampling::Uniform;
    clips::Spatial spatial;
    bool train = false;
    bool uint8_nthwc = false;  ///< raw clips [T, H, W, C], centre-cropped: the clip augmentations do the rest
    uint64_t seed = 0;
  };

  ClipDataset(Options o, DatasetInfo info) : o_(std::move(o)), info_(std::move(info)) {}
  const DatasetInfo& info() const override { return info_; }
  void set_epoch(int64_t epoch) override { epoch_ = epoch; }

  Batch get(const std::vector<int64_t>& indices) const override {
    std::vector<torch::Tensor> xs;
    std::vector<int64_t> ys;
    const int64_t k = o_.train ? 1 : o_.eval_clips;
    for (auto i : indices) {
      TORCH_CHECK(i >= 0 && i < size(), "clip dataset: index ", i, " out of range [0, ", size(), ")");
      std::optional<at::Generator> gen;
      if (o_.train) {
        gen = torch::make_generator<at::CPUGeneratorImpl>(o_.seed * 1000003ULL + static_cast<uint64_t>(epoch_.load()) * 7919ULL +
                                                          static_cast<uint64_t>(i) * 104729ULL + 17);
      }
      std::vector<torch::Tensor> per_clip;
      for (int64_t c = 0; c < k; ++c) {
        const auto idx = clips::frame_indices(frame_count(i), o_.frames, o_.stride, o_.sampling, c, k, gen ? &*gen : nullptr);
        // uint8_nthwc: the centre crop only; crop, flip and jitter run on the device (augment.train)
        at::Generator* spatial = o_.uint8_nthwc || !gen ? nullptr : &*gen;
        const auto f = clips::transform_frames(frames(i, idx), o_.spatial, spatial, name(i));
        per_clip.push_back(o_.uint8_nthwc ? clips::to_uint8_tensor(f) : clips::to_tensor(f));
      }
      xs.push_back(k == 1 ? per_clip[0] : torch::stack(per_clip));
      ys.push_back(label(i));
    }
    return {torch::stack(xs), torch::tensor(ys, torch::kInt64)};
  }

 protected:
  virtual int64_t frame_count(int64_t i) const = 0;
  virtual std::vector<cv::Mat> frames(int64_t i, const std::vector<int64_t>& idx) const = 0;
  virtual int64_t label(int64_t i) const = 0;
  virtual std::string name(int64_t i) const = 0;

  Options o_;
  DatasetInfo info_;
  std::atomic<int64_t> epoch_{0};
};

class VideoFolderDataset : public ClipDataset {
 public:
  VideoFolderDataset(std::vector<clips::Source> sources, bool gray, Options o, DatasetInfo info)
      : ClipDataset(std::move(o), std::move(info)), sources_(std::move(sources)), gray_(gray) {}
  int64_t size() const override { return static_cast<int64_t>(sources_.size()); }

 protected:
  int64_t frame_count(int64_t i) const override { return sources_[i].frame_count; }
  std::vector<cv::Mat> frames(int64_t i, const std::vector<int64_t>& idx) const override {
    return clips::read_frames(sources_[i], idx, gray_);
  }
  int64_t label(int64_t i) const override { return sources_[i].label; }
  std::string name(int64_t i) const override { return sources_[i].path.string(); }

 private:
  std::vector<clips::Source> sources_;
  bool gray_;
};

class PackedClipDataset : public ClipDataset {
 public:
  PackedClipDataset(torch::Tensor clips, std::vector<int64_t> labels, std::string path, Options o, DatasetInfo info)
      : ClipDataset(std::move(o), std::move(info)), clips_(std::move(clips)), labels_(std::move(labels)), path_(std::move(path)) {}
  int64_t size() const override { return clips_.size(0); }

 protected:
  int64_t frame_count(int64_t) const override { return clips_.size(1); }
  std::vector<cv::Mat> frames(int64_t i, const std::vector<int64_t>& idx) const override {
    std::vector<cv::Mat> out;
    const int h = static_cast<int>(clips_.size(2)), w = static_cast<int>(clips_.size(3));
    const int c = static_cast<int>(clips_.size(4));
    for (auto t : idx) out.emplace_back(h, w, CV_8UC(c), clips_[i][t].data_ptr<uint8_t>());  // views, not copies
    return out;
  }
  int64_t label(int64_t i) const override { return labels_[i]; }
  std::string name(int64_t i) const override { return path_ + "#" + std::to_string(i); }

 private:
  torch::Tensor clips_;  // [N, F, H, W, C] uint8
  std::vector<int64_t> labels_;
  std::string path_;
};

config::Schema clip_schema(const std::string& what) {
  return config::Schema()
      .string("train", "", what + " of the training clips; may use ${SMLAB_DATA}")
      .string("val", "", what + " of the validation clips (default: val_fraction of train)")
      .string("test", "", what + " of the test clips (default: the validation split)")
      .number("val_fraction", 0.1, "share of train held out for validation when val is empty", 0.0, 0.9)
      .integer("seed", 0, "seed of the hold-out and of the training jitter (with the epoch and the clip)", 0)
      .integer("frames", 8, "frames per clip (T)", 1)
      .choice("sampling", "uniform", {"uniform", "random_offset"},
              "uniform: one frame per equal segment (random in training, middle in evaluation); random_offset: "
              "`frames` frames `stride` apart at a random offset (training) or centred (evaluation)")
      .integer("stride", 1, "random_offset: frames between sampled frames", 1)
      .integer("eval_clips", 1, "clips per video in val/test, whose logits are averaged (multi-clip testing)", 1)
      .integer("size", 112, "crop size: training crops at random, evaluation at the centre", 1)
      .integer("resize", 128, "scale the shorter side to this first (0 = keep)", 0)
      .boolean("flip", true, "training: mirror the whole clip with probability 1/2")
      .choice("dtype", "float", {"float", "uint8_nthwc"},
              "float: [B,C,T,S,S] in [0, 1], cropped and flipped here; uint8_nthwc: raw [B,T,S,S,C] centre crops "
              "for the device clip augmentations (augment.train: [video_random_resized_crop_flip_jitter], "
              "augment.eval: [video_center_crop]; see docs/augmentation.md)");
}

ClipDataset::Options clip_options(const config::Config& cfg, Split split) {
  ClipDataset::Options o;
  o.frames = cfg.get<int64_t>("data.frames");
  o.stride = cfg.get<int64_t>("data.stride");
  o.eval_clips = cfg.get<int64_t>("data.eval_clips");
  o.sampling = clips::parse_sampling(cfg.get<std::string>("data.sampling"));
  o.spatial = {cfg.get<int64_t>("data.resize"), cfg.get<int64_t>("data.size"), cfg.get<bool>("data.flip")};
  o.train = split == Split::Train;
  o.uint8_nthwc = cfg.get<std::string>("data.dtype") == "uint8_nthwc";
  o.seed = cfg.get<uint64_t>("data.seed");
  return o;
}

template <class T>
std::vector<T> take(const std::vector<T>& v, const std::vector<int64_t>& keep) {
  std::vector<T> out;
  for (auto i : keep) out.push_back(v[i]);
  return out;
}

DatasetInfo clip_info(std::vector<std::string> classes, int64_t channels, const ClipDataset::Options& o) {
  DatasetInfo info;
  info.task = Task::Classification;
  info.num_classes = static_cast<int64_t>(classes.size());
  info.class_names = std::move(classes);
  info.input_shape = {channels, o.frames, o.spatial.size, o.spatial.size};
  return info;
}

std::shared_ptr<Dataset> make_video_folder(const config::Config& cfg, Split split) {
  const auto plan = detail::plan_split(split, cfg.get<std::string>("data.train"), cfg.get<std::string>("data.val"),
                                       cfg.get<std::string>("data.test"), cfg.get<double>("data.val_fraction"),
                                       "video_folder");
  std::vector<std::string> classes;
  auto sources = clips::list_sources(plan.path, &classes);
  if (plan.hold_out) {
    sources = take(sources, detail::hold_out_indices(static_cast<int64_t>(sources.size()),
                                                     cfg.get<double>("data.val_fraction"),
                                                     cfg.get<uint64_t>("data.seed"), plan.take_held_out));
  }
  if (sources.empty()) throw UserError(plan.path + ": the " + split_name(split) + " split is empty");
  const bool gray = cfg.get<std::string>("data.color") == "gray";
  const auto o = clip_options(cfg, split);
  auto info = clip_info(classes, gray ? 1 : 3, o);
  return std::make_shared<VideoFolderDataset>(std::move(sources), gray, o, std::move(info));
}

std::shared_ptr<Dataset> make_hdf5_clips(const config::Config& cfg, Split split) {
  const auto plan = detail::plan_split(split, cfg.get<std::string>("data.train"), cfg.get<std::string>("data.val"),
                                       cfg.get<std::string>("data.test"), cfg.get<double>("data.val_fraction"),
                                       "hdf5_clips");
  PackedData p = read_packed(plan.path, cfg.get<bool>("data.verify"));
  check_split_classes(plan.path, p.classes, cfg.get<std::string>("data.train"), split_name(split));
  if (p.kind != "video") throw UserError(plan.path + ": packed " + p.kind + " data, hdf5_clips needs video clips");
  const auto& sh = p.sample_shape;  // T, H, W, C
  auto bytes = std::make_shared<std::vector<uint8_t>>(std::move(p.images));
  auto data = torch::from_blob(bytes->data(), {p.count(), sh.at(0), sh.at(1), sh.at(2), sh.at(3)},
                               [bytes](void*) mutable { bytes.reset(); }, torch::kUInt8);
  std::vector<int64_t> labels = p.labels;
  if (plan.hold_out) {
    const auto keep = detail::hold_out_indices(p.count(), cfg.get<double>("data.val_fraction"),
                                               cfg.get<uint64_t>("data.seed"), plan.take_held_out);
    data = data.index_select(0, torch::tensor(keep, torch::kInt64));
    labels = take(labels, keep);
  }
  if (labels.empty()) throw UserError(plan.path + ": the " + split_name(split) + " split is empty");
  const auto o = clip_options(cfg, split);
  auto info = clip_info(p.classes, sh.at(3), o);
  return std::make_shared<PackedClipDataset>(data, std::move(labels), plan.path, o, std::move(info));
}

}  // namespace

void register_clips() {
  registry().add("video_folder",
                 {"video clips decoded with OpenCV from class folders of video files and frame folders; inputs "
                  "[B,C,T,S,S] float in [0,1] ([B,K,C,T,S,S] with eval_clips K in val/test)",
                  clip_schema("folder of class folders").choice("color", "rgb", {"rgb", "gray"},
                                                                "decode frames as RGB (3 channels) or gray (1)"),
                  make_video_folder});
  registry().add("hdf5_clips",
                 {"video clips packed by 'smlab pack --kind video' (HDF5 shards, in memory); inputs [B,C,T,S,S] "
                  "float in [0,1] ([B,K,C,T,S,S] with eval_clips K in val/test)",
                  clip_schema("packed folder (manifest.json)")
                      .boolean("verify", true, "check each shard's size and CRC-32 against the manifest"),
                  make_hdf5_clips});
}

}  // namespace smlab::datasets
