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
#include "core/file_lock.h"
#include "datasets/clips.h"
#include "datasets/csv.h"
#include "datasets/hdf5_io.h"
#include "datasets/image_limits.h"

namespace smlab::datasets {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_image_name(const std::string& name) {
  const std::string l = lower(name);
  return ends_with(l, ".jpg") || ends_with(l, ".jpeg") || ends_with(l, ".png") || ends_with(l, ".bmp");
}

bool is_tar_name(const std::string& name) {
  const std::string l = lower(name);
  return ends_with(l, ".tar.gz") || ends_with(l, ".tgz") || ends_with(l, ".tar");
}

// ------------------------------------------------------------------------------ gzip / tar

// Reads a gzip (or plain: zlib passes it through) file sequentially.
class GzFile {
 public:
  explicit GzFile(const fs::path& path) : path_(path) {
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) throw UserError(path.string() + ": cannot open");
    gzbuffer(f_, 1 << 17);
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  /// Reads up to n bytes; returns how many were read. Throws on a decompression error.
  size_t read(void* dst, size_t n) {
    size_t total = 0;
    auto* out = static_cast<char*>(dst);
    while (total < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, 1u << 30));
      const int got = gzread(f_, out + total, chunk);
      if (got < 0) {
        int errnum = 0;
        const char* msg = gzerror(f_, &errnum);
        throw UserError(path_.string() + ": cannot decompress (" + (msg ? msg : "zlib error") + ")");
      }
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }
  void read_exact(void* dst, size_t n, const std::string& what) {
    if (read(dst, n) != n) throw UserError(path_.string() + ": truncated while reading " + what);
  }

 private:
  fs::path path_;
  gzFile f_ = nullptr;
};

struct TarEntry {
  std::string name;
  uint64_t size = 0;
  char type = '0';
};

class TarReader {
 public:
  explicit TarReader(const fs::path& path) : path_(path), gz_(path) {}

  /// Advances to the next regular file; false at the end of the archive.
  bool next(TarEntry& e) {
    if (pending_ > 0) skip();
    std::string long_name;
    while (true) {
      char h[512];
      const size_t got = gz_.read(h, 512);
      if (got == 0) return false;  // archive without end blocks
      if (got != 512) throw UserError(path_.string() + ": truncated tar header");
      if (std::all_of(h, h + 512, [](char c) { return c == 0; })) return false;
      uint64_t size = 0;
      for (int i = 124; i < 136 && h[i]; ++i) {
        if (h[i] == ' ') continue;
        if (h[i] < '0' || h[i] > '7') throw UserError(path_.string() + ": bad tar header (size field)");
        size = size * 8 + static_cast<uint64_t>(h[i] - '0');
      }
      const char type = h[156];
      std::string name(h, strnlen(h, 100));
      if (std::string(h + 257, 5) == "ustar") {
        const std::string prefix(h + 345, strnlen(h + 345, 155));
        if (!prefix.empty()) name = prefix + "/" + name;
      }
      pending_ = size;
      if (type == 'L' || type == 'x') {
        std::string data = read_data();
        if (type == 'L') {
          long_name = std::string(data.c_str());
        } else {  // pax records: "<len> key=value\n"
          size_t pos = 0;
          while (pos < data.size()) {
            const size_t sp = data.find(' ', pos);
            if (sp == std::string::npos) break;
            const size_t len = std::stoul(data.substr(pos, sp - pos));
            if (len == 0 || pos + len > data.size()) break;
            const std::string rec = data.substr(sp + 1, pos + len - sp - 2);
            if (rec.rfind("path=", 0) == 0) long_name = rec.substr(5);
            pos += len;
          }
        }
        continue;
      }
      if (!long_name.empty()) name = long_name;
      while (name.rfind("./", 0) == 0) name = name.substr(2);
      if (type == '0' || type == '\0' || type == '7') {
        e = {name, size, '0'};
        return true;
      }
      skip();  // directories, links, global pax headers
    }
  }
  std::string read_data() {
    std::string data(pending_, '\0');
    gz_.read_exact(data.data(), pending_, "a tar member");
    const uint64_t pad = (512 - pending_ % 512) % 512;
    char junk[512];
    if (pad) gz_.read_exact(junk, pad, "tar padding");
    pending_ = 0;
    return data;
  }
  void skip() {
    std::vector<char> junk(1 << 16);
    uint64_t left = pending_ + (512 - pending_ % 512) % 512;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, junk.size()));
      gz_.read_exact(junk.data(), n, "a tar member");
      left -= n;
    }
    pending_ = 0;
  }

 private:
  fs::path path_;
  GzFile gz_;
  uint64_t pending_ = 0;
};

// ------------------------------------------------------------------------------ images

// The class of an image path ("train/cat/0001.jpg" -> "cat"); empty when it is not a record.
std::string image_class(const std::string& rel, const std::string& split) {
  if (!is_image_name(rel)) return "";
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

}  // namespace

bool is_image_file(const fs::path& path) { return is_image_name(path.filename().string()); }

IdxData read_idx(const fs::path& path) {
  GzFile f(path);
  unsigned char magic[4];
  f.read_exact(magic, 4, "the IDX header");
  if (magic[0] != 0 || magic[1] != 0) throw UserError(path.string() + ": not an IDX file (bad magic number)");
  if (magic[2] != 0x08) throw UserError(path.string() + ": IDX element type 0x" + std::to_string(magic[2]) +
                                        " is not supported (only unsigned byte, 0x08)");
  IdxData out;
  for (int i = 0; i < magic[3]; ++i) {
    unsigned char d[4];
    f.read_exact(d, 4, "the IDX dimensions");
    out.dims.push_back((int64_t{d[0]} << 24) | (int64_t{d[1]} << 16) | (int64_t{d[2]} << 8) | int64_t{d[3]});
  }
  if (out.dims.empty()) throw UserError(path.string() + ": IDX file has no dimensions");
  int64_t per = 1;
  for (size_t i = 1; i < out.dims.size(); ++i) per *= out.dims[i];
  out.data.resize(static_cast<size_t>(per * out.dims[0]));
  const size_t got = f.read(out.data.data(), out.data.size());
  if (got != out.data.size()) {
    throw UserError(path.string() + "#" + std::to_string(per ? got / per : 0) + ": truncated IDX file (header says " +
                    std::to_string(out.dims[0]) + " records, data ends inside record " +
                    std::to_string(per ? got / per : 0) + ")");
  }
  return out;
}

namespace {

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

// Splits one line: TSV at every tab, CSV with RFC 4180 quoting (datasets/csv.h).
std::vector<std::string> split_line(const std::string& line, char delim) {
  std::vector<std::string> out;
  if (delim != ',') {
    size_t pos = 0;
    while (true) {
      const size_t at = line.find(delim, pos);
      out.push_back(line.substr(pos, at == std::string::npos ? std::string::npos : at - pos));
      if (at == std::string::npos) break;
      pos = at + 1;
    }
    return out;
  }
  return split_csv_line(line, ',');
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string unescape_unicode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  auto hex4 = [&](size_t at, uint32_t& v) {
    if (at + 6 > s.size() || s[at] != '\\' || s[at + 1] != 'u') return false;
    v = 0;
    for (size_t i = at + 2; i < at + 6; ++i) {
      const char c = s[i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    if (hex4(i, cp)) {
      uint32_t lo = 0;
      if (cp >= 0xD800 && cp < 0xDC00 && hex4(i + 6, lo) && lo >= 0xDC00 && lo < 0xE000) {
        append_utf8(out, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
        i += 12;
      } else {
        append_utf8(out, (cp >= 0xD800 && cp < 0xE000) ? 0xFFFD : cp);
        i += 6;
      }
    } else {
      out += s[i++];
    }
  }
  return out;
}

/// The text, or nothing after reporting it as a bad record: a NUL byte (raw, or from a \u0000 escape)
/// would silently cut the text where HDF5's C strings end.
template <class Bad>
std::optional<std::string> checked_text(std::string text, const std::string& source, Bad& bad) {
  if (const auto nul = text.find('\0'); nul != std::string::npos) {
    bad(source, "the text holds a NUL byte at character " + std::to_string(nul + 1) +
                    " (it would be cut there); remove it from the input, or pack with --skip-bad");
    return std::nullopt;
  }
  return text;
}

std::vector<TextRecord> read_text_records(const fs::path& path, const TextReadOptions& opt,
                                          std::vector<BadRecord>* skipped, std::vector<std::string>* mapping) {
  std::vector<TextRecord> out;
  auto bad = [&](const std::string& source, const std::string& reason) {
    if (!opt.skip_bad || !skipped) throw UserError(source + ": " + reason);
    skipped->push_back({source, reason});
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path.string() + ": cannot read");
  const std::string name = path.filename().string();
  // TweetEval: <split>_text.txt + <split>_labels.txt (+ mapping.txt: id<TAB>name).
  if (ends_with(name, "_text.txt")) {
    const fs::path labels_path = path.parent_path() / (name.substr(0, name.size() - 9) + "_labels.txt");
    std::ifstream lin(labels_path, std::ios::binary);
    if (!lin) throw UserError(labels_path.string() + ": cannot read (the labels of " + path.string() + ")");
    std::vector<std::string> names;
    const fs::path map_path = path.parent_path() / "mapping.txt";
    if (std::ifstream min(map_path); min) {
      std::string line;
      int line_no = 0;
      while (std::getline(min, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        const auto cols = split_line(line, '\t');
        if (cols.size() < 2 || cols[0] != std::to_string(names.size()))
          throw UserError(map_path.string() + ":" + std::to_string(line_no) + ": expected '" +
                          std::to_string(names.size()) + "<TAB>name'");
        names.push_back(cols[1]);
      }
      if (mapping) *mapping = names;
    }
    std::string text, label;
    int line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      const std::string source = path.string() + ":" + std::to_string(line_no);
      if (!std::getline(lin, label)) throw UserError(labels_path.string() + ": fewer labels than lines in " + path.string());
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (!label.empty() && label.back() == '\r') label.pop_back();
      while (!label.empty() && label.back() == ' ') label.pop_back();
      if (!names.empty()) {
        char* end = nullptr;
        const long id = std::strtol(label.c_str(), &end, 10);
        if (label.empty() || *end != '\0' || id < 0 || id >= static_cast<long>(names.size())) {
          bad(labels_path.string() + ":" + std::to_string(line_no), "bad label '" + label + "' (expected 0.." +
                                                                          std::to_string(names.size() - 1) + ")");
          continue;
        }
        label = names[id];
      } else if (label.empty()) {
        bad(labels_path.string() + ":" + std::to_string(line_no), "empty label");
        continue;
      }
      if (auto t = checked_text(opt.unescape ? unescape_unicode(text) : text, source, bad))
        out.push_back({source, label, std::move(*t)});
    }
    return out;
  }
  const char delim = opt.delimiter ? opt.delimiter : (lower(path.extension().string()) == ".csv" ? ',' : '\t');
  const size_t needed = static_cast<size_t>(std::max(opt.label_column, opt.text_column)) + 1;
  size_t expected = 0;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string source = path.string() + ":" + std::to_string(line_no);
    if (line.empty()) continue;
    auto cols = split_line(line, delim);
    while (cols.size() > needed && cols.back().empty()) cols.pop_back();  // trailing delimiters
    if (expected == 0) expected = std::max(cols.size(), needed);
    if (cols.size() != expected) {
      bad(source, "expected " + std::to_string(expected) + " columns, found " + std::to_string(cols.size()));
      continue;
    }
    std::string label = cols[opt.label_column];
    if (label.empty()) {
      bad(source, "empty label");
      continue;
    }
    const std::string& text = cols[opt.text_column];
    if (auto t = checked_text(opt.unescape ? unescape_unicode(text) : text, source, bad))
      out.push_back({source, label, std::move(*t)});
  }
  return out;
}

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

namespace smlab::datasets {

void check_split_classes(const fs::path& split_dir, const std::vector<std::string>& split_classes,
                         const fs::path& train_dir, const std::string& split_name) {
  std::error_code ec;
  if (fs::equivalent(split_dir, train_dir, ec)) return;
  const fs::path mpath = train_dir / "manifest.json";
  std::vector<std::string> train;
  try {
    train = nlohmann::json::parse(read_file(mpath)).at("classes").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(mpath.string() + ": cannot read its class list (" + e.what() + ")");
  }
  if (train == split_classes) return;
  std::string diff;
  if (train.size() != split_classes.size()) {
    diff = std::to_string(split_classes.size()) + " classes against the training pack's " + std::to_string(train.size());
  } else {
    for (size_t i = 0; i < train.size(); ++i)
      if (train[i] != split_classes[i]) {
        diff = "class " + std::to_string(i) + " is '" + split_classes[i] + "' there and '" + train[i] + "' in training";
        break;
      }
  }
  throw UserError(split_dir.string() + ": the " + split_name + " pack's classes differ from the training pack's (" +
                  train_dir.string() + "): " + diff + "; pack both splits with the same class names in the same order");
}

void verify_shard_file(const fs::path& p, const nlohmann::json& entry) {
  const auto bytes = entry.at("bytes").get<uint64_t>();
  if (fs::file_size(p) != bytes)
    throw UserError(p.string() + ": shard is " + std::to_string(fs::file_size(p)) + " bytes, manifest says " +
                    std::to_string(bytes) + " (truncated or replaced)");
  if (const auto crc = h5::crc32_file(p); crc != entry.at("crc32").get<std::string>())
    throw UserError(p.string() + ": CRC-32 " + crc + " does not match the manifest's " +
                    entry.at("crc32").get<std::string>() + " (damaged or replaced)");
}

void check_shard_count(const fs::path& p, const h5::Shard& shard, const nlohmann::json& entry) {
  if (shard.count() != entry.at("count").get<int64_t>())
    throw UserError(p.string() + ": holds " + std::to_string(shard.count()) + " records, manifest says " +
                    std::to_string(entry.at("count").get<int64_t>()));
}

PackedData read_packed(const fs::path& dir, bool verify) {
  const fs::path mpath = dir / "manifest.json";
  if (!fs::exists(mpath))
    throw UserError(dir.string() + ": no manifest.json (not a folder written by 'smlab pack', or packing did not finish)");
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(read_file(mpath));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(mpath.string() + ": not valid JSON (" + e.what() + ")");
  }
  PackedData out;
  try {
    if (m.value("format", "") != "smlab-pack") throw UserError(mpath.string() + ": not an smlab pack manifest");
    out.kind = m.at("kind").get<std::string>();
    out.classes = m.at("classes").get<std::vector<std::string>>();
    if (m.contains("sample_shape")) out.sample_shape = m.at("sample_shape").get<std::vector<int64_t>>();
    for (const auto& s : m.at("shards")) {
      const fs::path p = dir / s.at("file").get<std::string>();
      if (!fs::exists(p)) throw UserError(p.string() + ": shard listed in " + mpath.string() + " is missing");
      if (verify) verify_shard_file(p, s);
      h5::Shard sh = h5::read_shard(p);
      check_shard_count(p, sh, s);
      if (out.kind == "image" || out.kind == "video") {
        if (sh.image_shape.empty()) throw UserError(p.string() + ": " + out.kind + " shard without 'images'");
        const std::vector<int64_t> shape(sh.image_shape.begin() + 1, sh.image_shape.end());
        if (shape != out.sample_shape) throw UserError(p.string() + ": image shape differs from the manifest's");
        out.images.insert(out.images.end(), sh.images.begin(), sh.images.end());
      } else {
        if (sh.texts.size() != sh.labels.size()) throw UserError(p.string() + ": text shard without 'texts'");
        for (auto& t : sh.texts) out.texts.push_back(std::move(t));
      }
      for (auto l : sh.labels) {
        if (l < 0 || l >= static_cast<int64_t>(out.classes.size()))
          throw UserError(p.string() + ": label " + std::to_string(l) + " is outside the manifest's " +
                          std::to_string(out.classes.size()) + " classes");
        out.labels.push_back(l);
      }
    }
    if (out.count() != m.at("count").get<int64_t>())
      throw UserError(mpath.string() + ": count " + std::to_string(m.at("count").get<int64_t>()) + " but shards hold " +
                      std::to_string(out.count()));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(mpath.string() + ": malformed manifest (" + e.what() + ")");
  }
  return out;
}

}  // namespace smlab::datasets
