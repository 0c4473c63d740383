#include "inference/scorer.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#ifndef SMLAB_NO_OPENCV_CODECS
#include <opencv2/imgcodecs.hpp>
#endif
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/autocast.h"
#include "core/device.h"
#include "core/error.h"
#include "datasets/csv.h"
#include "datasets/hdf5_io.h"
#include "core/progress.h"
#include "core/text.h"
#include "datasets/text_prep.h"
#include "datasets/tokenizer.h"
#include "inference/export.h"
#include "trainers/distributed.h"

namespace smlab::score {
namespace fs = std::filesystem;
using nlohmann::json;
using text::join;
using text::split;
using text::starts_with;
using text::trim;

namespace {

// ------------------------------------------------------------------------------------------
// Input records
// ------------------------------------------------------------------------------------------

/// One input record at a fixed position. `payload` is the text, the image path or the raw
/// feature fields; a non-empty `reject` is the reason it cannot be scored.
struct Record {
  std::string id, payload, reject;
  std::vector<std::string> fields;  ///< tabular rows: the feature fields
  int64_t pixels = -1;              ///< HDF5 images: index into the PixelStore (payload names file#index)
};

/// Images read from HDF5 shards: one [H, W, C] uint8 RGB record after another.
struct PixelStore {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s;
  for (auto x : d) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

bool is_hdf5_file(const fs::path& p) { return p.extension() == ".h5" || p.extension() == ".hdf5"; }


bool is_index(const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit); }

std::string input_format(const ScoreOptions& o) {
  if (o.input_format != "auto") return o.input_format;
  if (fs::is_directory(o.input)) {
    if (fs::exists(o.input / "manifest.json")) return "hdf5";
    for (const auto& e : fs::directory_iterator(o.input))
      if (e.is_regular_file() && is_hdf5_file(e.path())) return "hdf5";
    return "images";
  }
  const auto ext = o.input.extension().string();
  if (is_hdf5_file(o.input)) return "hdf5";
  if (ext == ".tsv" || ext == ".txt") return "tsv";
  if (ext == ".csv") return "csv";
  if (ext == ".jsonl" || ext == ".json") return "jsonl";
  if (ext == ".list") return "list";
  throw UserError(o.input.string() + ": cannot tell the input format from the extension '" + ext +
                  "'; pass --input-format (tsv, csv, jsonl, images, list, hdf5)");
}

/// Reads a delimited file: one record per data line. `want_text`: the record's payload is the
/// text field; otherwise its fields are every column but the id (tabular rows, `width` of them).
std::vector<Record> read_delimited(const ScoreOptions& o, char delim, bool want_text, int64_t width) {
  std::ifstream in(o.input);
  if (!in) throw UserError(o.input.string() + ": cannot open");
  std::vector<Record> out;
  std::string line;
  std::vector<std::string> f;
  int64_t id_col = -1, text_col = -1, lineno = 0;
  bool first = true, ids_are_lines = o.id_field.empty() || o.id_field == "line";
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    bool ok = true;
    f = delim == ',' ? datasets::split_csv_line(line, delim, &ok) : split(line, delim);
    if (first) {
      first = false;
      // A header names the fields; without one, integer fields or defaults pick the columns.
      const auto find = [&](const std::string& name) -> int64_t {
        for (size_t i = 0; i < f.size(); ++i)
          if (trim(f[i]) == name) return static_cast<int64_t>(i);
        return -1;
      };
      const int64_t hid = ids_are_lines ? -1 : find(o.id_field), htext = want_text ? find(o.text_field) : -1;
      const bool header = (hid >= 0 || ids_are_lines) && (!want_text || htext >= 0) && (hid >= 0 || htext >= 0);
      if (header) {
        id_col = hid;
        text_col = htext;
        continue;
      }
      if (!ids_are_lines) id_col = is_index(o.id_field) ? std::stoll(o.id_field) : 0;
      if (want_text) text_col = is_index(o.text_field) ? std::stoll(o.text_field) : static_cast<int64_t>(f.size()) - 1;
      if (!want_text && !is_index(o.id_field) && !ids_are_lines && static_cast<int64_t>(f.size()) == width) id_col = -1;
      if (!want_text && id_col < 0) ids_are_lines = true;
    }
    Record r;
    r.id = id_col >= 0 && id_col < static_cast<int64_t>(f.size()) ? f[id_col] : std::to_string(lineno);
    if (!ok) {
      r.reject = "line " + std::to_string(lineno) + ": unterminated quote";
    } else if (want_text) {
      if (text_col >= static_cast<int64_t>(f.size()) || id_col >= static_cast<int64_t>(f.size()))
        r.reject = "line " + std::to_string(lineno) + ": " + std::to_string(f.size()) + " fields, expected at least " +
                   std::to_string(std::max(text_col, id_col) + 1);
      else
        r.payload = f[text_col];
    } else {
      for (int64_t i = 0; i < static_cast<int64_t>(f.size()); ++i)
        if (i != id_col) r.fields.push_back(f[i]);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Record> read_jsonl(const ScoreOptions& o, bool want_text) {
  std::ifstream in(o.input);
  if (!in) throw UserError(o.input.string() + ": cannot open");
  std::vector<Record> out;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    Record r;
    r.id = std::to_string(lineno);
    if (trim(line).empty()) {
      r.reject = "line " + std::to_string(lineno) + ": empty line";
      out.push_back(std::move(r));
      continue;
    }
    try {
      const auto j = json::parse(line);
      if (!j.is_object()) throw std::runtime_error("not a JSON object");
      if (j.contains(o.id_field)) r.id = j[o.id_field].is_string() ? j[o.id_field].get<std::string>() : j[o.id_field].dump();
      if (want_text) {
        if (!j.contains(o.text_field) || !j[o.text_field].is_string())
          r.reject = "line " + std::to_string(lineno) + ": no string field '" + o.text_field + "'";
        else
          r.payload = j[o.text_field].get<std::string>();
      } else {
        const auto& v = j.contains("features") ? j["features"] : json();
        if (!v.is_array()) r.reject = "line " + std::to_string(lineno) + ": no array field 'features'";
        else
          for (const auto& x : v) r.fields.push_back(x.dump());
      }
    } catch (const std::exception& e) {
      r.reject = "line " + std::to_string(lineno) + ": not JSON (" + std::string(e.what()).substr(0, 80) + ")";
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Record> read_images(const ScoreOptions& o, const std::string& format) {
  std::vector<Record> out;
  if (format == "images") {
    static const std::set<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(o.input)) {
      auto ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
      if (e.is_regular_file() && exts.count(ext)) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) out.push_back({fs::relative(f, o.input).string(), f.string(), "", {}});
  } else {  // list: one path per line, relative to the list's folder
    std::ifstream in(o.input);
    if (!in) throw UserError(o.input.string() + ": cannot open");
    std::string line;
    while (std::getline(in, line)) {
      line = trim(line);
      if (line.empty()) continue;
      fs::path p = line;
      if (p.is_relative()) p = o.input.parent_path() / p;
      out.push_back({line, p.string(), "", {}});
    }
  }
  return out;
}

/// The shard files of an HDF5 input: the file itself, the shards listed in a pack folder's
/// manifest.json (in its order), or every .h5/.hdf5 file of a folder (sorted).
std::vector<fs::path> hdf5_files(const fs::path& input) {
  if (!fs::is_directory(input)) return {input};
  std::vector<fs::path> files;
  const fs::path manifest = input / "manifest.json";
  if (fs::exists(manifest)) {
    try {
      const auto m = json::parse(read_file(manifest));
      for (const auto& sh : m.at("shards")) files.push_back(input / sh.at("file").get<std::string>());
    } catch (const json::exception& e) {
      throw UserError(manifest.string() + ": malformed pack manifest (" + e.what() + ")");
    }
  } else {
    for (const auto& e : fs::directory_iterator(input))
      if (e.is_regular_file() && is_hdf5_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) throw UserError(input.string() + ": no HDF5 shards (.h5) in this folder");
  return files;
}

/// Records of packed HDF5 shards (`smlab pack`): texts, or images / video clips kept in `store`
/// (`want`: "text", "image" or "video"). The id of a record is the shard's stored id (an
/// optional 'ids' dataset) or its index over all shards.
std::vector<Record> read_hdf5(const ScoreOptions& o, const std::string& want, PixelStore& store) {
  const bool want_text = want == "text";
  std::vector<Record> out;
  for (const auto& f : hdf5_files(o.input)) {
    auto sh = datasets::h5::read_shard(f);
    const int64_t n = sh.count();
    if (n == 0) continue;
    int64_t base = 0;
    if (want_text) {
      if (sh.texts.empty())
        throw UserError(f.string() + ": a shard of " + (sh.image_shape.size() == 5 ? "video clips" : "images") +
                        ", but the model takes text");
    } else {
      if (sh.image_shape.empty()) throw UserError(f.string() + ": a text shard, but the model takes " + want);
      if (want == "image" && sh.image_shape.size() != 4)
        throw UserError(f.string() + ": a shard of video clips [N, T, H, W, C]; the model takes images [N, H, W, C]");
      if (want == "video" && sh.image_shape.size() != 5)
        throw UserError(f.string() + ": a shard of images [N, H, W, C]; the model takes video clips [N, T, H, W, C]");
      const std::vector<int64_t> shape(sh.image_shape.begin() + 1, sh.image_shape.end());
      if (store.shape.empty()) store.shape = shape;
      if (shape != store.shape)
        throw UserError(f.string() + ": " + want + "s of " + dims_str(shape) + " where the earlier shards hold " +
                        dims_str(store.shape) + "; score the shards separately");
      int64_t bytes = 1;
      for (auto d : shape) bytes *= d;
      base = static_cast<int64_t>(store.data.size()) / bytes;
      store.data.insert(store.data.end(), sh.images.begin(), sh.images.end());
    }
    for (int64_t i = 0; i < n; ++i) {
      Record r;
      r.id = sh.ids.empty() ? std::to_string(out.size()) : sh.ids[i];
      if (want_text) {
        r.payload = std::move(sh.texts[i]);
      } else {
        r.payload = f.filename().string() + "#" + std::to_string(i);
        r.pixels = base + i;
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Preprocessing: records -> one input tensor for the valid ones, reasons for the others
// ------------------------------------------------------------------------------------------

struct Prepared {
  std::vector<int64_t> ok;                             ///< positions (within the chunk) that are scored
  std::vector<int64_t> lengths;                        ///< text: tokens of each ok row (at least 1)
  torch::Tensor inputs;                                ///< [ok.size(), ...]
  std::vector<std::pair<int64_t, std::string>> bad;  ///< chunk position, reason
};

/// Runs fn(i) for i in [0, n) on `workers` threads.
void parallel(int64_t n, int workers, const std::function<void(int64_t)>& fn) {
  workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(workers, n)));
  if (workers == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> ts;
  std::vector<std::exception_ptr> errors(workers);
  for (int w = 0; w < workers; ++w)
    ts.emplace_back([&, w] {
      try {
        for (int64_t i = w; i < n; i += workers) fn(i);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  for (auto& t : ts) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

class Preprocessor {
 public:
  Preprocessor(const json& meta, const std::map<std::string, std::string>& files, const fs::path& artifact, int workers)
      : in_(meta.at("input")), workers_(workers) {
    kind_ = in_.at("kind").get<std::string>();
    for (const auto& d : in_.at("shape")) shape_.push_back(d.get<int64_t>());
    if (in_.at("dtype") == "int64") {
      const auto tok = files.find(inference::kArtifactTokenizerFile);
      if (tok == files.end())
        throw UserError(artifact.string() + ": a token model without an embedded tokenizer; re-export it from a run "
                        "whose data.tokenizer is set");
      tokenizer_ = datasets::Tokenizer::from_bytes(tok->second, artifact.string() + "#" + inference::kArtifactTokenizerFile);
      max_len_ = in_.value("max_len", shape_.at(0));
      const auto norm = in_.value("normalize", std::string("none"));
      if (norm != "none" && norm != "tweeteval")
        throw UserError(artifact.string() + ": unknown text normalisation '" + norm + "' in its metadata");
      tweet_ = norm == "tweeteval";
    } else if (in_.at("dtype") == "uint8" && (kind_ == "image" || kind_ == "video")) {
      const auto& pre = in_.at("preprocess");
      resize_shorter_ = pre.value("resize_shorter", int64_t{0});
    } else if (kind_ != "features") {
      throw UserError(artifact.string() + ": scoring " + kind_ + " (" + in_.at("dtype").get<std::string>() +
                      ") inputs is not supported by this smlab yet");
    }
  }

  /// What the reader must produce: text payloads, tabular fields, or image paths.
  bool wants_text() const { return tokenizer_ != nullptr; }
  bool wants_images() const { return kind_ == "image"; }
  bool wants_video() const { return kind_ == "video"; }
  int64_t feature_width() const { return kind_ == "features" ? shape_.at(0) : 0; }
  void set_pixels(const PixelStore* store) { pixels_ = store; }

  /// Resizes the shorter side of `img` (resize_shorter, else just enough to cover h x w), crops
  /// the centre h x w and copies its h*w*c bytes to `dst`.
  void fit(const cv::Mat& img, int64_t h, int64_t w, int64_t c, uint8_t* dst) const {
    const double target = resize_shorter_ > 0 ? static_cast<double>(resize_shorter_) : 0.0;
    const double s = target > 0 ? target / std::min(img.rows, img.cols)
                                : std::max(static_cast<double>(h) / img.rows, static_cast<double>(w) / img.cols);
    const int rh = std::max<int>(static_cast<int>(h), static_cast<int>(std::lround(img.rows * s)));
    const int rw = std::max<int>(static_cast<int>(w), static_cast<int>(std::lround(img.cols * s)));
    cv::Mat resized;
    if (rh != img.rows || rw != img.cols) cv::resize(img, resized, cv::Size(rw, rh), 0, 0, cv::INTER_LINEAR);
    else resized = img;
    const cv::Mat crop = resized(cv::Rect((rw - static_cast<int>(w)) / 2, (rh - static_cast<int>(h)) / 2,
                                          static_cast<int>(w), static_cast<int>(h)))
                             .clone();
    std::memcpy(dst, crop.data, static_cast<size_t>(h * w * c));
  }

  Prepared operator()(const std::vector<Record>& recs) const {
    const int64_t n = static_cast<int64_t>(recs.size());
    std::vector<std::string> reason(n);
    for (int64_t i = 0; i < n; ++i) reason[i] = recs[i].reject;
    std::vector<int64_t> lengths;
    torch::Tensor all;
    if (tokenizer_) {
      all = torch::zeros({n, max_len_}, torch::kLong);
      auto* p = all.data_ptr<int64_t>();
      lengths.assign(n, 1);
      parallel(n, workers_, [&](int64_t i) {
        if (!reason[i].empty()) return;
        if (trim(recs[i].payload).empty()) {
          reason[i] = "empty text";
          return;
        }
        const auto ids = tokenizer_->encode(tweet_ ? datasets::normalize_tweet(recs[i].payload) : recs[i].payload);
        const int64_t m = std::min<int64_t>(static_cast<int64_t>(ids.size()), max_len_);
        for (int64_t j = 0; j < m; ++j) p[i * max_len_ + j] = ids[j];
        lengths[i] = std::max<int64_t>(1, m);
      });
    } else if (kind_ == "image" || kind_ == "video") {
      // Image [H, W, C] or clip [T, H, W, C] at the model's size; clips only from HDF5 shards.
      const bool video = kind_ == "video";
      const int64_t t = video ? shape_.at(0) : 1, h = shape_.at(video ? 1 : 0), w = shape_.at(video ? 2 : 1),
                    c = shape_.at(video ? 3 : 2);
      all = video ? torch::zeros({n, t, h, w, c}, torch::kUInt8) : torch::zeros({n, h, w, c}, torch::kUInt8);
      parallel(n, workers_, [&](int64_t i) {
        if (!reason[i].empty()) return;
        if (recs[i].pixels >= 0) {  // RGB pixels from an HDF5 shard, frame by frame
          const auto& st = *pixels_;
          const size_t d = st.shape.size();
          const int64_t frames = d == 4 ? st.shape[0] : 1;
          const int sh = static_cast<int>(st.shape[d - 3]), sw = static_cast<int>(st.shape[d - 2]),
                    sc = static_cast<int>(st.shape[d - 1]);
          if (frames != t) {
            reason[i] = "clip has " + std::to_string(frames) + " frames, the model takes " + std::to_string(t);
            return;
          }
          for (int64_t f = 0; f < t; ++f) {
            const cv::Mat src(sh, sw, CV_8UC(sc),
                              const_cast<uint8_t*>(st.data.data()) + ((recs[i].pixels * t + f) * sh * sw * sc));
            cv::Mat img;
            if (sc == c) img = src;
            else if (sc == 1 && c == 3) cv::cvtColor(src, img, cv::COLOR_GRAY2RGB);
            else if (sc == 3 && c == 1) cv::cvtColor(src, img, cv::COLOR_RGB2GRAY);
            else {
              reason[i] = "stored image has " + std::to_string(sc) + " channels, the model takes " + std::to_string(c);
              return;
            }
            fit(img, h, w, c, all[i].data_ptr<uint8_t>() + f * h * w * c);
          }
          return;
        }
#ifdef SMLAB_NO_OPENCV_CODECS
        cv::Mat img;
        reason[i] = "cannot decode image files: this smlab was built with SMLAB_WITH_OPENCV_CODECS=OFF";
        return;
#else
        cv::Mat img = cv::imread(recs[i].payload, c == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
#endif
        if (img.empty()) {
          reason[i] = fs::exists(recs[i].payload) ? "cannot decode image" : "no such file";
          return;
        }
        if (c == 3) cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
        fit(img, h, w, c, all[i].data_ptr<uint8_t>());
      });
    } else {  // features
      const int64_t width = shape_.at(0);
      all = torch::zeros({n, width}, torch::kFloat);
      auto* p = all.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        if (!reason[i].empty()) continue;
        const auto& f = recs[i].fields;
        if (static_cast<int64_t>(f.size()) != width) {
          reason[i] = "expected " + std::to_string(width) + " features, got " + std::to_string(f.size());
          continue;
        }
        for (int64_t j = 0; j < width; ++j) {
          const std::string v = trim(f[j]);
          char* end = nullptr;
          const float x = std::strtof(v.c_str(), &end);
          if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x)) {
            reason[i] = "feature " + std::to_string(j) + " '" + v.substr(0, 40) + "' is not a finite number";
            break;
          }
          p[i * width + j] = x;
        }
      }
    }
    Prepared out;
    for (int64_t i = 0; i < n; ++i) {
      if (reason[i].empty()) {
        out.ok.push_back(i);
        if (!lengths.empty()) out.lengths.push_back(lengths[i]);
      } else {
        out.bad.emplace_back(i, reason[i]);
      }
    }
    out.inputs = static_cast<int64_t>(out.ok.size()) == n ? all : all.index_select(0, torch::tensor(out.ok, torch::kLong));
    return out;
  }

 private:
  json in_;
  int workers_;
  std::string kind_;
  std::vector<int64_t> shape_;
  std::shared_ptr<const datasets::Tokenizer> tokenizer_;
  int64_t max_len_ = 0, resize_shorter_ = 0;
  bool tweet_ = false;  ///< TweetEval normalisation (@user, http) before tokenising
  const PixelStore* pixels_ = nullptr;
};

// ------------------------------------------------------------------------------------------
// Output rows
// ------------------------------------------------------------------------------------------

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

class Formatter {
 public:
  Formatter(const json& meta, bool jsonl, int64_t top_k, int64_t embed_dim) : jsonl_(jsonl), embed_dim_(embed_dim) {
    classification_ = meta.at("task") == "classification";
    probabilities_ = meta.value("outputs", std::string("logits")) == "probabilities";
    for (const auto& c : meta.at("classes")) classes_.push_back(c.get<std::string>());
    width_ = meta.at("output_dim").get<int64_t>();
    top_k_ = std::max<int64_t>(1, std::min<int64_t>(top_k, width_));
  }

  int64_t width() const { return width_; }

  std::string header() const {
    if (jsonl_) return "";
    std::string h = "id";
    if (classification_) {
      h += ",label,confidence,top_k";
      for (const auto& c : classes_) h += "," + csv_field("p_" + c);
    } else {
      for (int64_t j = 0; j < width_; ++j) h += ",value_" + std::to_string(j);
    }
    for (int64_t j = 0; j < embed_dim_; ++j) h += ",e_" + std::to_string(j);
    return h + "\n";
  }

  /// Rows for `ids` from the model outputs [n, width] (float, CPU) and, with embeddings, the
  /// classifier inputs `emb` [n, embed_dim].
  void rows(const std::vector<const std::string*>& ids, torch::Tensor out, torch::Tensor emb, std::string& dst) const {
    out = out.to(torch::kFloat).contiguous();
    if (embed_dim_ > 0) emb = emb.to(torch::kFloat).contiguous();
    const float* pe = embed_dim_ > 0 ? emb.data_ptr<float>() : nullptr;
    // The embedding of row r: JSONL "embedding" array or CSV columns e_0...
    auto embedding_json = [&](size_t r) { return std::vector<float>(pe + r * embed_dim_, pe + (r + 1) * embed_dim_); };
    auto embedding_csv = [&](size_t r) {
      std::string e;
      for (int64_t k = 0; k < embed_dim_; ++k) e += "," + num(pe[r * embed_dim_ + k]);
      return e;
    };
    torch::Tensor probs, top_p, top_i;
    if (classification_) {
      probs = probabilities_ ? out : torch::softmax(out, 1);
      std::tie(top_p, top_i) = probs.topk(top_k_, 1);
      top_i = top_i.contiguous();
      top_p = top_p.contiguous();
    }
    const float* po = (classification_ ? probs : out).data_ptr<float>();
    for (size_t r = 0; r < ids.size(); ++r) {
      const float* row = po + r * width_;
      if (!classification_) {
        if (jsonl_) {
          json j{{"id", *ids[r]}, {"values", std::vector<float>(row, row + width_)}};
          if (pe) j["embedding"] = embedding_json(r);
          dst += j.dump() + "\n";
        } else {
          dst += csv_field(*ids[r]);
          for (int64_t k = 0; k < width_; ++k) dst += "," + num(row[k]);
          if (pe) dst += embedding_csv(r);
          dst += "\n";
        }
        continue;
      }
      const int64_t* ti = top_i.data_ptr<int64_t>() + r * top_k_;
      const float* tp = top_p.data_ptr<float>() + r * top_k_;
      const std::string& label = classes_.at(ti[0]);
      if (jsonl_) {
        json top = json::array();
        for (int64_t k = 0; k < top_k_; ++k) top.push_back({{"label", classes_.at(ti[k])}, {"p", tp[k]}});
        json probs_j = json::object();
        for (int64_t k = 0; k < width_; ++k) probs_j[classes_.at(k)] = row[k];
        json j{{"id", *ids[r]}, {"label", label}, {"confidence", tp[0]}, {"top_k", top}, {"probs", probs_j}};
        if (pe) j["embedding"] = embedding_json(r);
        dst += j.dump() + "\n";
      } else {
        std::string top;
        for (int64_t k = 0; k < top_k_; ++k) top += (k ? ";" : "") + classes_.at(ti[k]) + ":" + num(tp[k]);
        dst += csv_field(*ids[r]) + "," + csv_field(label) + "," + num(tp[0]) + "," + csv_field(top);
        for (int64_t k = 0; k < width_; ++k) dst += "," + num(row[k]);
        if (pe) dst += embedding_csv(r);
        dst += "\n";
      }
    }
  }

  /// The datasets of an HDF5 output: ids, positions, then probabilities [N, C], top-k indices
  /// and probabilities [N, K] and the class names (regression: values [N, W]), and embeddings.
  std::vector<datasets::h5::Array> arrays(std::vector<std::string> ids, const torch::Tensor& positions, torch::Tensor out,
                                          const torch::Tensor& emb) const {
    using datasets::h5::Array;
    const int64_t n = static_cast<int64_t>(ids.size());
    auto floats = [](const std::string& name, const torch::Tensor& t) {
      Array a;
      a.name = name;
      a.dims = t.sizes().vec();
      const auto c = t.to(torch::kFloat).contiguous();
      a.f32.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
      return a;
    };
    auto ints = [](const std::string& name, const torch::Tensor& t) {
      Array a;
      a.type = Array::I64;
      a.name = name;
      a.dims = t.sizes().vec();
      const auto c = t.to(torch::kLong).contiguous();
      a.i64.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
      return a;
    };
    std::vector<Array> v;
    v.push_back(Array{Array::Str, "ids", {n}, {}, {}, std::move(ids)});
    v.push_back(ints("positions", positions));
    out = out.to(torch::kFloat);
    if (classification_) {
      const auto probs = probabilities_ ? out : torch::softmax(out, 1);
      const auto [tp, ti] = probs.topk(top_k_, 1);
      v.push_back(floats("probabilities", probs));
      v.push_back(ints("top_k_indices", ti));
      v.push_back(floats("top_k_probabilities", tp));
      v.push_back(Array{Array::Str, "classes", {static_cast<int64_t>(classes_.size())}, {}, {}, classes_});
    } else {
      v.push_back(floats("values", out));
    }
    if (embed_dim_ > 0) v.push_back(floats("embeddings", emb));
    return v;
  }

 private:
  bool jsonl_, classification_, probabilities_;
  std::vector<std::string> classes_;
  int64_t width_, top_k_, embed_dim_;
};

// ------------------------------------------------------------------------------------------
// Job files
// ------------------------------------------------------------------------------------------

fs::path parts_dir(const fs::path& output) { return output.string() + ".parts"; }
fs::path rejects_file(const fs::path& output) { return output.string() + ".rejects.csv"; }
fs::path done_file(const fs::path& output) { return output.string() + ".done.json"; }
fs::path chunk_file(const fs::path& parts, int64_t c, const char* what) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "chunk-%07lld.%s", static_cast<long long>(c), what);
  return parts / buf;
}
const char* kRejectHeader = "id,position,reason\n";

std::string file_fingerprint(const fs::path& p) {
  return fs::absolute(p).lexically_normal().string() + ":" + std::to_string(fs::is_regular_file(p) ? fs::file_size(p) : 0);
}

/// Appends `src` to `out`, dropping its first line when `skip_header`.
void append_file(std::string& out, const fs::path& src, bool skip_header) {
  std::string s = read_file(src);
  if (skip_header) {
    const auto nl = s.find('\n');
    s = nl == std::string::npos ? "" : s.substr(nl + 1);
  }
  out += s;
}

}  // namespace

fs::path shard_output(const fs::path& output, int64_t index, int64_t count) {
  if (count <= 1) return output;
  auto p = output;
  p.replace_filename(output.stem().string() + ".shard-" + std::to_string(index) + "-of-" + std::to_string(count) +
                     output.extension().string());
  return p;
}

ScoreResult score(const ScoreOptions& opt_in) {
  ScoreOptions o = opt_in;
  const auto t0 = std::chrono::steady_clock::now();
  const auto env = trainers::dist_env_from_environment();
  if (o.shard_count == 1 && env.world > 1) {  // under torchrun or Slurm every rank scores its own slice
    o.shard_index = env.rank;
    o.shard_count = env.world;
    if (o.device == "cuda") o.device = "cuda:" + std::to_string(env.local_rank);  // one GPU per local rank
  }
  if (o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw UsageError("--shard " + std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count) + " is out of range");
  if (o.batch_size < 1 || o.chunk_rows < 1) throw UsageError("--batch-size and --chunk-rows must be positive");
  if (o.precision != "fp32" && o.precision != "bf16" && o.precision != "fp16")
    throw UsageError("--precision must be fp32, bf16 or fp16, got '" + o.precision + "'");
  if (o.threads > 0) torch::set_num_threads(o.threads);

  const fs::path output = shard_output(o.output, o.shard_index, o.shard_count);
  std::string out_format = o.output_format;
  if (out_format == "auto")
    out_format = output.extension() == ".jsonl" ? "jsonl" : output.extension() == ".csv" ? "csv" : is_hdf5_file(output) ? "hdf5" : "";
  if (out_format == "h5") out_format = "hdf5";
  if (out_format != "csv" && out_format != "jsonl" && out_format != "hdf5")
    throw UsageError(output.string() +
                     ": cannot tell the output format from the extension; use .csv, .jsonl or .h5 or pass --output-format");
  const bool hdf5_out = out_format == "hdf5";

  const auto device = resolve_device(o.device);
  auto artifact = inference::load_artifact(o.model, device);
  Preprocessor prep(artifact.meta, artifact.files, o.model, o.workers);
  int64_t embed_dim = 0;
  if (o.embeddings) {
    const auto& e = artifact.meta.value("embed", json());
    if (!e.is_object() || !artifact.module.find_method("forward_embed"))
      throw UserError(o.model.string() + ": this artifact has no embed method (penultimate features); re-export it with this "
                      "smlab ('smlab export' adds one to models whose forward ends in a linear classifier)");
    embed_dim = e.at("dim").get<int64_t>();
  }
  const Formatter fmt(artifact.meta, out_format == "jsonl", o.top_k, embed_dim);
  // Length bucketing: only for token models whose export check found the outputs independent
  // of the padded length.
  const bool bucket = o.bucket && prep.wants_text() && artifact.meta["input"].value("variable_length", false);

  // Index the input: every record gets a fixed position.
  if (!fs::exists(o.input)) throw UserError(o.input.string() + ": no such file or folder");
  const std::string in_format = input_format(o);
  std::vector<Record> records;
  PixelStore pixels;
  if (in_format == "hdf5") {
    if (!prep.wants_images() && !prep.wants_text() && !prep.wants_video())
      throw UserError(o.model.string() + " takes " + artifact.meta["input"]["kind"].get<std::string>() +
                      " inputs: HDF5 input holds images, video clips or texts");
    records = read_hdf5(o, prep.wants_text() ? "text" : prep.wants_video() ? "video" : "image", pixels);
    if (prep.wants_video() && !pixels.shape.empty() &&
        pixels.shape[0] != artifact.meta["input"]["shape"][0].get<int64_t>())
      throw UserError(o.input.string() + ": clips of " + std::to_string(pixels.shape[0]) + " frames; " + o.model.string() +
                      " takes " + artifact.meta["input"]["shape"][0].dump() + " (re-pack with --frames " +
                      artifact.meta["input"]["shape"][0].dump() + ")");
    prep.set_pixels(&pixels);
  } else if (prep.wants_video()) {
    throw UserError(o.model.string() + " takes video clips: --input must be HDF5 clip shards ('smlab pack --kind video'), got " +
                    in_format);
  } else if (prep.wants_images()) {
    if (in_format != "images" && in_format != "list")
      throw UserError(o.model.string() + " takes images: --input must be an image folder, a .list file or HDF5 shards, got " +
                      in_format);
    records = read_images(o, in_format);
  } else if (in_format == "jsonl") {
    records = read_jsonl(o, prep.wants_text());
  } else if (in_format == "tsv" || in_format == "csv") {
    records = read_delimited(o, in_format == "csv" ? ',' : '\t', prep.wants_text(), prep.feature_width());
  } else {
    throw UserError(o.model.string() + " takes " + artifact.meta["input"]["kind"].get<std::string>() +
                    " inputs: --input must be TSV, CSV or JSONL, got " + in_format);
  }
  if (o.limit > 0 && static_cast<int64_t>(records.size()) > o.limit) records.resize(o.limit);
  const int64_t total = static_cast<int64_t>(records.size());
  const int64_t begin = total * o.shard_index / o.shard_count, end = total * (o.shard_index + 1) / o.shard_count;
  const int64_t chunks = (end - begin + o.chunk_rows - 1) / o.chunk_rows;

  json job = {{"artifact", file_fingerprint(o.model)},
              {"config_hash", artifact.meta.value("config_hash", std::string())},
              {"input", file_fingerprint(o.input)},
              {"input_format", in_format},
              {"records", total},
              {"shard", {o.shard_index, o.shard_count}},
              {"positions", {begin, end}},
              {"chunk_rows", o.chunk_rows},
              {"output_format", out_format},
              {"top_k", o.top_k}};
  // Keys added later appear only when used, so that older jobs keep their fingerprint.
  if (bucket) job["bucket"] = true;
  if (embed_dim > 0) job["embeddings"] = true;
  ScoreResult res;
  res.inputs = end - begin;
  res.chunks = chunks;
  res.output = output;

  if (fs::exists(done_file(output))) {
    const auto done = json::parse(read_file(done_file(output)));
    if (done.value("job", json()) != job)
      throw UserError(output.string() + " was finished by a different job (see " + done_file(output).string() +
                      "); remove it and its .done.json/.rejects.csv or choose another --output");
    res.rows = done["rows"];
    res.rejects = done["rejects"];
    res.chunks_resumed = chunks;
    if (!o.quiet) std::cerr << "[score] " << output.string() << " is already complete\n";
    return res;
  }
  const fs::path parts = parts_dir(output), journal = parts / "journal.jsonl";
  std::set<int64_t> done_chunks;
  if (fs::exists(journal)) {
    std::istringstream in(read_file(journal));
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (trim(line).empty()) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const std::exception&) {
        continue;  // a line cut by a crash: its chunk is simply redone
      }
      if (first) {
        if (j.value("job", json()) != job)
          throw UserError(parts.string() + " holds a different job (" + j.value("job", json()).dump() +
                          "); remove it or choose another --output");
        first = false;
      } else if (j.contains("chunk") && fs::exists(chunk_file(parts, j["chunk"], "out")) &&
                 fs::exists(chunk_file(parts, j["chunk"], "rej"))) {
        done_chunks.insert(j["chunk"].get<int64_t>());
      }
    }
    if (first) fs::remove(journal);
  } else if (fs::exists(output)) {
    throw UserError(output.string() + " exists and is not an unfinished smlab score job: not overwriting it");
  }
  fs::create_directories(parts);
  if (!fs::exists(journal)) append_line_durable(journal, json{{"job", job}}.dump());
  res.chunks_resumed = static_cast<int64_t>(done_chunks.size());
  if (!o.quiet && res.chunks_resumed > 0)
    std::cerr << "[score] resuming: " << res.chunks_resumed << " of " << chunks << " chunks already done\n";

  auto chunk_records = [&](int64_t c) {
    const int64_t a = begin + c * o.chunk_rows, b = std::min(end, a + o.chunk_rows);
    return std::vector<Record>(records.begin() + a, records.begin() + b);
  };
  std::vector<int64_t> todo;
  for (int64_t c = 0; c < chunks; ++c)
    if (!done_chunks.count(c)) todo.push_back(c);

  Progress progress(Progress::parse_mode(o.quiet ? "none" : "auto"), "score " + output.filename().string(), end - begin,
                    1);
  int64_t positions_done = 0;
  for (int64_t c : done_chunks) positions_done += std::min(end, begin + (c + 1) * o.chunk_rows) - (begin + c * o.chunk_rows);
  int64_t scored_now = 0;
  const bool cuda = device.is_cuda();
  std::future<std::pair<std::vector<Record>, Prepared>> next;
  auto launch = [&](size_t k) {
    const int64_t c = todo[k];
    return std::async(std::launch::async, [&, c] {
      auto recs = chunk_records(c);
      auto p = prep(recs);
      if (cuda) p.inputs = p.inputs.pin_memory();
      return std::make_pair(std::move(recs), std::move(p));
    });
  };
  if (!todo.empty()) next = launch(0);
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < todo.size(); ++k) {
    const int64_t c = todo[k];
    auto [recs, p] = next.get();
    if (k + 1 < todo.size()) next = launch(k + 1);  // host work for the next chunk overlaps this one
    const int64_t n_ok = static_cast<int64_t>(p.ok.size());
    // Batches over the ok rows; bucketed: in order of token length (stable), each padded only
    // to its longest member, the outputs put back at their rows.
    std::vector<int64_t> order(n_ok);
    std::iota(order.begin(), order.end(), int64_t{0});
    if (bucket)
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p.lengths[a] < p.lengths[b]; });
    auto y_all = torch::empty({n_ok, fmt.width()}), e_all = torch::empty({n_ok, embed_dim});
    for (int64_t s = 0; s < n_ok; s += o.batch_size) {
      const int64_t e = std::min(n_ok, s + o.batch_size);
      torch::Tensor x, idx;
      if (bucket) {
        idx = torch::tensor(std::vector<int64_t>(order.begin() + s, order.begin() + e), torch::kLong);
        int64_t len = 1;
        for (int64_t i = s; i < e; ++i) len = std::max(len, p.lengths[order[i]]);
        x = p.inputs.slice(1, 0, len).index_select(0, idx);
      } else {
        x = p.inputs.slice(0, s, e);
      }
      x = x.to(device, /*non_blocking=*/true);
      torch::Tensor y, emb;
      {
        AutocastScope autocast(device, o.precision);
        if (embed_dim > 0) {
          const auto t = artifact.module.get_method("forward_embed")({x}).toTuple();
          y = t->elements().at(0).toTensor();
          emb = t->elements().at(1).toTensor().to(torch::kCPU, torch::kFloat);
        } else {
          y = artifact.forward(x);
        }
      }
      y = y.to(torch::kCPU, torch::kFloat);
      if (bucket) {
        y_all.index_copy_(0, idx, y);
        if (emb.defined()) e_all.index_copy_(0, idx, emb);
      } else {
        y_all.slice(0, s, e).copy_(y);
        if (emb.defined()) e_all.slice(0, s, e).copy_(emb);
      }
    }
    std::string rows, rejects = kRejectHeader;
    const int64_t chunk_begin = begin + c * o.chunk_rows;
    for (const auto& [i, why] : p.bad)
      rejects += csv_field(recs[i].id) + "," + std::to_string(chunk_begin + i) + "," + csv_field(why) + "\n";
    if (hdf5_out) {  // a pickled (ids, positions, outputs, embeddings) tuple, joined into the .h5 at the end
      c10::impl::GenericList ids(c10::StringType::get());
      std::vector<int64_t> positions;
      for (int64_t i : p.ok) {
        ids.push_back(recs[i].id);
        positions.push_back(chunk_begin + i);
      }
      const auto bytes = torch::pickle_save(c10::ivalue::Tuple::create(
          {c10::IValue(ids), torch::tensor(positions, torch::kLong).view({-1}), y_all, e_all}));
      rows.assign(bytes.begin(), bytes.end());
    } else {
      std::vector<const std::string*> ids;
      ids.reserve(n_ok);
      for (int64_t i : p.ok) ids.push_back(&recs[i].id);
      rows = fmt.header();
      fmt.rows(ids, y_all, e_all, rows);
    }
    write_file_atomic(chunk_file(parts, c, "out"), rows);
    write_file_atomic(chunk_file(parts, c, "rej"), rejects);
    append_line_durable(journal, json{{"chunk", c}, {"rows", n_ok}, {"rejects", p.bad.size()}}.dump());
    positions_done += static_cast<int64_t>(recs.size());
    scored_now += static_cast<int64_t>(recs.size());
    progress.update(positions_done, scored_now, {{"rejects", static_cast<double>(p.bad.size())}});
  }
  progress.finish();

  // Every chunk is done: concatenate in position order.
  std::string all_rows = fmt.header(), all_rejects = kRejectHeader;
  std::vector<std::string> h5_ids;
  std::vector<torch::Tensor> h5_pos, h5_y, h5_e;
  for (int64_t c = 0; c < chunks; ++c) {
    if (hdf5_out) {
      const auto bytes = read_file(chunk_file(parts, c, "out"));
      const auto t = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toTuple();
      for (const auto& id : t->elements().at(0).toListRef()) h5_ids.push_back(id.toStringRef());
      h5_pos.push_back(t->elements().at(1).toTensor());
      h5_y.push_back(t->elements().at(2).toTensor());
      h5_e.push_back(t->elements().at(3).toTensor());
    } else {
      append_file(all_rows, chunk_file(parts, c, "out"), out_format == "csv");
    }
    append_file(all_rejects, chunk_file(parts, c, "rej"), true);
  }
  res.rows = hdf5_out ? static_cast<int64_t>(h5_ids.size())
                      : std::count(all_rows.begin(), all_rows.end(), '\n') - (out_format == "csv" ? 1 : 0);
  res.rejects = std::count(all_rejects.begin(), all_rejects.end(), '\n') - 1;
  // Sanity: every position is a row or a reject (no text field contains a raw newline: CSV
  // fields with newlines are quoted, JSON escapes them).
  if (res.rows + res.rejects != end - begin)
    throw std::logic_error("score: " + std::to_string(res.rows) + " rows + " + std::to_string(res.rejects) +
                           " rejects != " + std::to_string(end - begin) + " inputs");
  if (hdf5_out) {
    auto cat = [](const std::vector<torch::Tensor>& v, torch::Tensor empty) { return v.empty() ? empty : torch::cat(v, 0); };
    datasets::h5::write_arrays(output, fmt.arrays(std::move(h5_ids), cat(h5_pos, torch::empty({0}, torch::kLong)),
                                                  cat(h5_y, torch::empty({0, fmt.width()})),
                                                  cat(h5_e, torch::empty({0, embed_dim}))));
  } else {
    write_file_atomic(output, all_rows);
  }
  write_file_atomic(rejects_file(output), all_rejects);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_file_atomic(done_file(output), json{{"job", job},
                                            {"rows", res.rows},
                                            {"rejects", res.rejects},
                                            {"model", artifact.meta["model"]},
                                            {"device", device.str()},
                                            {"precision", o.precision},
                                            {"bucket", bucket}}
                                               .dump(2) +
                                           "\n");
  fs::remove_all(parts);
  return res;
}

json merge(const fs::path& output) {
  if (is_hdf5_file(output))
    throw UserError(output.string() + ": merging HDF5 shard outputs is not supported yet; score unsharded into .h5, or "
                    "shard into .csv/.jsonl and merge those");
  // Find the shard files of `output`.
  const std::string prefix = output.stem().string() + ".shard-", ext = output.extension().string();
  const fs::path dir = output.has_parent_path() ? output.parent_path() : fs::path(".");
  int64_t count = -1;
  std::map<int64_t, fs::path> shards;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!starts_with(name, prefix) || name.size() < ext.size() || name.substr(name.size() - ext.size()) != ext) continue;
    const auto mid = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());  // "i-of-n"
    const auto of = mid.find("-of-");
    if (of == std::string::npos || !is_index(mid.substr(0, of)) || !is_index(mid.substr(of + 4))) continue;
    const int64_t i = std::stoll(mid.substr(0, of)), n = std::stoll(mid.substr(of + 4));
    if (count >= 0 && n != count)
      throw UserError(dir.string() + ": shard files of " + output.filename().string() + " disagree on the shard count (" +
                      std::to_string(count) + " and " + std::to_string(n) + ")");
    count = n;
    shards[i] = e.path();
  }
  if (count < 1) throw UserError(output.string() + ": no shard outputs (" + prefix + "<i>-of-<n>" + ext + ") found");
  std::vector<std::string> missing;
  for (int64_t i = 0; i < count; ++i) {
    const auto p = shard_output(output, i, count);
    if (!fs::exists(done_file(p))) missing.push_back(p.filename().string() + (fs::exists(parts_dir(p)) ? " (unfinished)" : ""));
  }
  if (!missing.empty()) throw UserError("cannot merge " + output.string() + ": shard(s) not finished: " + join(missing, ", "));
  std::string rows, rejects = kRejectHeader;
  int64_t next = 0, total = -1, n_rows = 0, n_rej = 0;
  json job0;
  for (int64_t i = 0; i < count; ++i) {
    const auto p = shard_output(output, i, count);
    const auto done = json::parse(read_file(done_file(p)));
    auto job = done.at("job");
    const auto pos = job.at("positions");
    if (pos[0].get<int64_t>() != next)
      throw UserError(p.string() + " covers positions from " + pos[0].dump() + ", expected " + std::to_string(next) +
                      " (gap or overlap between shards)");
    next = pos[1].get<int64_t>();
    // Every shard must be the same job but for its slice.
    job.erase("shard");
    job.erase("positions");
    if (i == 0) job0 = job;
    else if (job != job0)
      throw UserError(p.string() + " was scored by a different job than shard 0 (" + job.dump() + " vs " + job0.dump() + ")");
    total = job.at("records").get<int64_t>();
    const bool csv = job.at("output_format") == "csv";
    append_file(rows, p, csv && i > 0);
    append_file(rejects, rejects_file(p), true);
    n_rows += done.at("rows").get<int64_t>();
    n_rej += done.at("rejects").get<int64_t>();
  }
  if (next != total)
    throw UserError("the shards of " + output.string() + " cover positions 0.." + std::to_string(next) + " of " +
                    std::to_string(total));
  write_file_atomic(output, rows);
  write_file_atomic(rejects_file(output), rejects);
  json summary = {{"job", job0}, {"rows", n_rows}, {"rejects", n_rej}, {"shards", count}};
  summary["job"]["positions"] = {0, total};
  summary["job"]["shard"] = {0, 1};
  write_file_atomic(done_file(output), summary.dump(2) + "\n");
  return summary;
}

}  // namespace smlab::score
