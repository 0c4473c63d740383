#include "datasets/pack.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <map>
#include <nlohmann/json.hpp>
#ifndef SMLAB_NO_OPENCV_CODECS
#include <opencv2/imgcodecs.hpp>
#endif
#include <opencv2/imgproc.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "core/file_lock.h"
#include "datasets/clips.h"
#include "datasets/csv.h"
#include "datasets/hdf5_io.h"
#include "datasets/image_limits.h"
#include "datasets/tar_reader.h"

namespace smlab::datasets {
namespace fs = std::filesystem;

namespace {

using text::ends_with;
using text::lower;

bool is_tar_name(const std::string& name) {
  const std::string l = lower(name);
  return ends_with(l, ".tar.gz") || ends_with(l, ".tgz") || ends_with(l, ".tar");
}

// ------------------------------------------------------------------------------ images

// The class of an image path ("train/cat/0001.jpg" -> "cat"); empty when it is not a record.
std::string image_class(const std::string& rel, const std::string& split) {
  if (!is_image_file(rel)) return "";
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= rel.size()) {
    const size_t slash = rel.find('/', pos);
    const std::string part = rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  if (!split.empty()) {
    if (parts.empty() || parts[0] != split) return "";
    parts.erase(parts.begin());
  }
  if (parts.size() < 2) return "";
  return parts[parts.size() - 2];
}

#ifdef SMLAB_NO_OPENCV_CODECS
constexpr const char* kNoCodecs =
    "this smlab was built with SMLAB_WITH_OPENCV_CODECS=OFF (no OpenCV imgcodecs/videoio; docs/build.md). "
    "Pack IDX files (--kind idx), text or CSV here, or build with the codecs to pack image and video files";
#endif

// Returns "" when the bytes hold a complete image, else the reason.
std::string decode_image(const std::string& bytes, int64_t size, cv::Mat& rgb) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n == 0) return "empty file";
  // libjpeg pads a truncated scan with grey and only warns; insist on an end-of-image marker
  // after the last start-of-scan.
  if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
    size_t last_sos = 0, last_eoi = 0;
    for (size_t i = 0; i + 1 < n; ++i) {
      if (b[i] != 0xFF) continue;
      if (b[i + 1] == 0xDA) last_sos = i;
      if (b[i + 1] == 0xD9) last_eoi = i;
    }
    if (last_sos == 0) return "JPEG has no image data (no start-of-scan marker)";
    if (last_eoi < last_sos) return "truncated JPEG (no end-of-image marker after the scan data)";
  }
  if (auto why = image_size_problem(b, n); !why.empty()) return why;
  cv::Mat img;
#ifdef SMLAB_NO_OPENCV_CODECS
  return std::string("cannot decode image files: ") + kNoCodecs;
#else
  cv::Mat raw(1, static_cast<int>(n), CV_8UC1, const_cast<unsigned char*>(b));
  try {
    img = cv::imdecode(raw, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return std::string("cannot decode image (") + e.what() + ")";
  }
#endif
  if (img.empty()) return "cannot decode image (not a valid JPEG/PNG/BMP, or truncated)";
  cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
  if (size > 0 && (rgb.rows != size || rgb.cols != size)) {
    cv::Mat resized;
    cv::resize(rgb, resized, cv::Size(static_cast<int>(size), static_cast<int>(size)), 0, 0, cv::INTER_AREA);
    rgb = resized;
  }
  return "";
}

// ------------------------------------------------------------------------------ shard writer

class Packer {
 public:
  Packer(fs::path out_dir, const PackOptions& opt, std::string kind, const fs::path& input)
      : dir_(std::move(out_dir)), opt_(opt) {
    fs::create_directories(dir_);
    lock_ = FileLock::acquire(dir_ / ".lock", "pack folder " + dir_.string() +
                                                  " is being written by another smlab pack; wait for it to finish",
                              /*remove_on_release=*/true);
    remove_stale_temporaries(dir_);  // of a pack killed mid-write
    // Re-packing into a folder: its old manifest goes first, so that a pack that fails midway
    // leaves a folder that no reader accepts (rather than an old manifest over new shards).
    std::error_code ec;
    fs::remove(dir_ / "manifest.json", ec);
    manifest_["format"] = "smlab-pack";
    manifest_["version"] = 1;
    manifest_["kind"] = kind;
    manifest_["input"] = input.string();
    manifest_["split"] = opt.split;
    manifest_["shards"] = nlohmann::json::array();
  }

  bool full() const { return opt_.limit > 0 && total_ >= opt_.limit; }

  void bad(const std::string& source, const std::string& reason) {
    if (!opt_.skip_bad) throw UserError(source + ": " + reason + " (pass --skip-bad to skip bad records)");
    skipped_.push_back({source, reason});
  }

  void add_image(const std::string& source, int64_t label, const cv::Mat& rgb) {
    const std::vector<int64_t> shape = {rgb.rows, rgb.cols, rgb.channels()};
    if (sample_shape_.empty()) {
      sample_shape_ = shape;
    } else if (shape != sample_shape_) {
      bad(source, "image is " + std::to_string(shape[1]) + "x" + std::to_string(shape[0]) + " but earlier ones are " +
                      std::to_string(sample_shape_[1]) + "x" + std::to_string(sample_shape_[0]) +
                      " (pass --size S to resize all)");
      return;
    }
    cv::Mat c = rgb.isContinuous() ? rgb : rgb.clone();
    cur_.images.insert(cur_.images.end(), c.data, c.data + c.total() * c.elemSize());
    push(source, label);
  }

  /// A record of raw uint8 pixels: an image [H, W, C] or a clip [T, H, W, C].
  void add_raw(const std::string& source, int64_t label, const uint8_t* data, const std::vector<int64_t>& shape) {
    if (sample_shape_.empty()) sample_shape_ = shape;
    int64_t n = 1;
    for (auto d : shape) n *= d;
    cur_.images.insert(cur_.images.end(), data, data + n);
    push(source, label);
  }

  /// A clip of equally sized RGB frames, stored as [T, H, W, C].
  void add_clip(const std::string& source, int64_t label, const std::vector<cv::Mat>& frames) {
    const std::vector<int64_t> shape = {static_cast<int64_t>(frames.size()), frames[0].rows, frames[0].cols,
                                        frames[0].channels()};
    if (sample_shape_.empty()) {
      sample_shape_ = shape;
    } else if (shape != sample_shape_) {
      bad(source, "clip is " + std::to_string(shape[0]) + " frames of " + std::to_string(shape[2]) + "x" +
                      std::to_string(shape[1]) + " but earlier ones are " + std::to_string(sample_shape_[0]) +
                      " frames of " + std::to_string(sample_shape_[2]) + "x" + std::to_string(sample_shape_[1]) +
                      " (pass --size S to crop all to S x S)");
      return;
    }
    for (const auto& f : frames) {
      cv::Mat c = f.isContinuous() ? f : f.clone();
      cur_.images.insert(cur_.images.end(), c.data, c.data + c.total() * c.elemSize());
    }
    push(source, label);
  }

  void add_text(const std::string& source, int64_t label, const std::string& text) {
    cur_.texts.push_back(text);
    push(source, label);
  }

  PackResult finish(const std::vector<std::string>& classes) {
    flush();
    if (total_ == 0) throw UserError("no records to pack in " + manifest_["input"].get<std::string>() +
                                     (skipped_.empty() ? "" : " (all " + std::to_string(skipped_.size()) + " were bad)"));
    manifest_["classes"] = classes;
    manifest_["num_classes"] = classes.size();
    manifest_["count"] = total_;
    if (!sample_shape_.empty()) {
      manifest_["sample_shape"] = sample_shape_;
      manifest_["layout"] = sample_shape_.size() == 4 ? "THWC" : "HWC";
      manifest_["dtype"] = "uint8";
    } else {
      manifest_["dtype"] = "utf8";
    }
    manifest_["labels"] = labels_;
    manifest_["sources"] = sources_;
    nlohmann::json sk = nlohmann::json::array();
    for (const auto& s : skipped_) sk.push_back({{"source", s.source}, {"reason", s.reason}});
    manifest_["skipped"] = sk;
    manifest_["skipped_count"] = skipped_.size();
    const fs::path m = dir_ / "manifest.json";
    write_file_atomic(m, manifest_.dump() + "\n");
    // Shards of an earlier, larger pack into the same folder are no longer listed: remove them.
    std::set<std::string> listed;
    for (const auto& s : manifest_["shards"]) listed.insert(s["file"].get<std::string>());
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("shard-", 0) == 0 && e.path().extension() == ".h5" && !listed.count(n)) {
        std::error_code ec;
        fs::remove(e.path(), ec);
      }
    }
    return {total_, static_cast<int64_t>(skipped_.size()), static_cast<int64_t>(manifest_["shards"].size()), m};
  }

 private:
  void push(const std::string& source, int64_t label) {
    cur_.labels.push_back(label);
    labels_.push_back(label);
    sources_.push_back(source);
    ++total_;
    if (cur_.count() >= opt_.shard_size) flush();
  }

  void flush() {
    if (cur_.count() == 0) return;
    if (!cur_.images.empty()) {
      cur_.image_shape = {cur_.count()};
      cur_.image_shape.insert(cur_.image_shape.end(), sample_shape_.begin(), sample_shape_.end());
    }
    char name[32];
    std::snprintf(name, sizeof name, "shard-%05d.h5", static_cast<int>(manifest_["shards"].size()));
    const fs::path p = dir_ / name;
    h5::write_shard(p, cur_, opt_.deflate);
    manifest_["shards"].push_back({{"file", name},
                                   {"first", total_ - cur_.count()},
                                   {"count", cur_.count()},
                                   {"bytes", fs::file_size(p)},
                                   {"crc32", h5::crc32_file(p)}});
    cur_ = h5::Shard{};
  }

  fs::path dir_;
  FileLock lock_;  ///< one pack per folder
  const PackOptions& opt_;
  nlohmann::json manifest_;
  h5::Shard cur_;
  std::vector<int64_t> sample_shape_;
  std::vector<int64_t> labels_;
  std::vector<std::string> sources_;
  std::vector<BadRecord> skipped_;
  int64_t total_ = 0;
};

std::map<std::string, int64_t> index_of(const std::vector<std::string>& classes) {
  std::map<std::string, int64_t> m;
  for (size_t i = 0; i < classes.size(); ++i) m[classes[i]] = static_cast<int64_t>(i);
  return m;
}

PackResult pack_images(const fs::path& input, const fs::path& out, const PackOptions& opt) {
#ifdef SMLAB_NO_OPENCV_CODECS
  throw UserError(input.string() + ": cannot pack image files: " + kNoCodecs);
#endif
  Packer packer(out, opt, "image", input);
  std::set<std::string> class_set;
  if (fs::is_directory(input)) {
    std::vector<std::pair<std::string, std::string>> files;  // relative path, class
    for (const auto& e : fs::recursive_directory_iterator(input)) {
      if (!e.is_regular_file()) continue;
      const std::string rel = fs::relative(e.path(), input).generic_string();
      const std::string cls = image_class(rel, opt.split);
      if (!cls.empty()) files.emplace_back(rel, cls);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) class_set.insert(f.second);
    const std::vector<std::string> classes(class_set.begin(), class_set.end());
    const auto idx = index_of(classes);
    for (const auto& [rel, cls] : files) {
      if (packer.full()) break;
      const fs::path p = input / rel;
      std::string bytes;
      try {
        bytes = read_file(p);
      } catch (const UserError&) {
        packer.bad(p.string(), "cannot read file");
        continue;
      }
      cv::Mat rgb;
      if (auto why = decode_image(bytes, opt.size, rgb); !why.empty()) {
        packer.bad(p.string(), why);
        continue;
      }
      packer.add_image(p.string(), idx.at(cls), rgb);
    }
    if (classes.empty()) throw UserError(input.string() + ": no images in class subfolders" +
                                         (opt.split.empty() ? "" : " under " + opt.split + "/"));
    return packer.finish(classes);
  }
  // Archive: a first pass lists the classes, the second decodes in archive order.
  {
    TarReader tar(input);
    TarEntry e;
    while (tar.next(e))
      if (auto cls = image_class(e.name, opt.split); !cls.empty()) class_set.insert(cls);
  }
  const std::vector<std::string> classes(class_set.begin(), class_set.end());
  if (classes.empty()) throw UserError(input.string() + ": no images in class folders" +
                                       (opt.split.empty() ? "" : " under " + opt.split + "/"));
  const auto idx = index_of(classes);
  TarReader tar(input);
  TarEntry e;
  while (!packer.full() && tar.next(e)) {
    const std::string cls = image_class(e.name, opt.split);
    if (cls.empty()) continue;
    const std::string source = input.string() + ":" + e.name;
    const std::string bytes = tar.read_data();
    cv::Mat rgb;
    if (auto why = decode_image(bytes, opt.size, rgb); !why.empty()) {
      packer.bad(source, why);
      continue;
    }
    packer.add_image(source, idx.at(cls), rgb);
  }
  return packer.finish(classes);
}

// ------------------------------------------------------------------------------ IDX
// (read_idx, the text records and the read side of packs are in pack_read.cpp)

PackResult pack_idx(const fs::path& input, const fs::path& out, const PackOptions& opt) {
  fs::path labels_path = opt.labels;
  if (labels_path.empty()) {
    std::string name = input.filename().string();
    const auto at = name.find("images-idx3");
    if (at == std::string::npos)
      throw UsageError("cannot guess the labels file of " + input.string() + "; pass --labels FILE");
    name.replace(at, 11, "labels-idx1");
    labels_path = input.parent_path() / name;
  }
  const IdxData images = read_idx(input);
  const IdxData labels = read_idx(labels_path);
  if (images.dims.size() < 3 || images.dims.size() > 5)
    throw UserError(input.string() + ": IDX images must have 3 to 5 dimensions (N, H, W[, C]) or, for clips, "
                    "(N, T, H, W, C)");
  if (labels.dims.size() != 1) throw UserError(labels_path.string() + ": IDX labels must have 1 dimension");
  if (labels.dims[0] != images.dims[0])
    throw UserError(labels_path.string() + ": " + std::to_string(labels.dims[0]) + " labels for " +
                    std::to_string(images.dims[0]) + " images in " + input.string());
  // [H, W, C] per image, or [T, H, W, C] per clip (5-D files pack as video, like --kind video's shards).
  const bool clips = images.dims.size() == 5;
  std::vector<int64_t> shape(images.dims.begin() + 1, images.dims.end());
  if (images.dims.size() == 3) shape.push_back(1);
  int64_t per = 1;
  for (auto d : shape) per *= d;
  int64_t max_label = 0;
  for (auto l : labels.data) max_label = std::max<int64_t>(max_label, l);
  std::vector<std::string> classes;
  for (int64_t i = 0; i <= max_label; ++i) classes.push_back(std::to_string(i));
  Packer packer(out, opt, clips ? "video" : "image", input);
  for (int64_t i = 0; i < images.dims[0] && !packer.full(); ++i) {
    packer.add_raw(input.string() + "#" + std::to_string(i), labels.data[i], images.data.data() + i * per, shape);
  }
  return packer.finish(classes);
}

// ------------------------------------------------------------------------------ video

// Class folders of video files and frame folders -> clips of `frames` frames sampled uniformly
// (segment centres), the shorter side resized to `size` and centre-cropped to size x size.
PackResult pack_video(const fs::path& input, const fs::path& out, const PackOptions& opt) {
#ifdef SMLAB_NO_OPENCV_CODECS
  throw UserError(input.string() + ": cannot pack video files: " + kNoCodecs);
#endif
  const fs::path root = opt.split.empty() ? input : input / opt.split;
  if (!fs::is_directory(root)) throw UsageError(root.string() + ": video input must be a folder of class folders");
  if (opt.frames < 1) throw UsageError("--frames must be at least 1");
  std::vector<std::string> classes;
  const auto sources = clips::list_sources(root, &classes);
  Packer packer(out, opt, "video", input);
  const clips::Spatial spatial{opt.size, opt.size, false};
  for (const auto& src : sources) {
    if (packer.full()) break;
    try {
      const auto idx = clips::frame_indices(src.frame_count, opt.frames, 1, clips::Sampling::Uniform, 0, 1, nullptr);
      const auto frames = clips::transform_frames(clips::read_frames(src, idx, false), spatial, nullptr, src.path.string());
      packer.add_clip(src.path.string(), src.label, frames);
    } catch (const UserError& e) {
      packer.bad(src.path.string(), e.what());
    }
  }
  return packer.finish(classes);
}

// ------------------------------------------------------------------------------ text

PackResult pack_text(const fs::path& input, const fs::path& out, const PackOptions& opt) {
  TextReadOptions r;
  r.label_column = opt.label_column;
  r.text_column = opt.text_column;
  r.delimiter = opt.delimiter;
  r.unescape = opt.unescape;
  r.skip_bad = opt.skip_bad;
  std::vector<BadRecord> skipped;
  std::vector<std::string> mapping;
  auto records = read_text_records(input, r, &skipped, &mapping);
  std::vector<std::string> classes = opt.classes.empty() ? mapping : opt.classes;
  if (classes.empty()) {
    std::set<std::string> s;
    for (const auto& rec : records) s.insert(rec.label);
    classes.assign(s.begin(), s.end());
  }
  const auto idx = index_of(classes);
  Packer packer(out, opt, "text", input);
  for (const auto& b : skipped) packer.bad(b.source, b.reason);
  for (const auto& rec : records) {
    if (packer.full()) break;
    auto it = idx.find(rec.label);
    if (it == idx.end()) {
      packer.bad(rec.source, "label '" + rec.label + "' is not one of the classes");
      continue;
    }
    packer.add_text(rec.source, it->second, rec.text);
  }
  return packer.finish(classes);
}

}  // namespace

PackResult pack(const fs::path& input, const fs::path& out_dir, const PackOptions& options) {
  if (!fs::exists(input)) throw UserError(input.string() + ": not found");
  if (options.shard_size < 1) throw UsageError("--shard-size must be at least 1");
  PackOptions opt = options;
  std::string kind = opt.kind;
  const std::string l = lower(input.filename().string());
  if (kind.empty()) {
    if (fs::is_directory(input) || is_tar_name(l)) kind = "image";
    else if (l.find("idx") != std::string::npos || l.find("ubyte") != std::string::npos) kind = "idx";
    else if (ends_with(l, ".csv")) kind = "csv";
    else if (ends_with(l, ".tsv") || ends_with(l, ".txt")) kind = "text";
    else throw UsageError("cannot tell the kind of " + input.string() + "; pass --kind image|text|idx|csv");
  }
  if (kind == "csv") {
    if (!opt.delimiter) opt.delimiter = ',';
    return pack_text(input, out_dir, opt);
  }
  if (kind == "text") return pack_text(input, out_dir, opt);
  if (kind == "idx") return pack_idx(input, out_dir, opt);
  if (kind == "video") return pack_video(input, out_dir, opt);
  if (kind == "image") {
    if (!fs::is_directory(input) && !is_tar_name(l))
      throw UsageError(input.string() + ": image input must be a folder or a .tar.gz/.tgz/.tar archive");
    return pack_images(input, out_dir, opt);
  }
  throw UsageError("unknown --kind '" + kind + "' (image, video, text, idx or csv)");
}

}  // namespace smlab::datasets
