// Scoring preprocessors built from the InputSpec (preprocess.h).
#include "inference/preprocess.h"

#ifndef SMLAB_NO_OPENCV_CODECS
#include <opencv2/imgcodecs.hpp>
#endif
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "cuda/ops.h"
#include "datasets/image_limits.h"
#include "datasets/text_prep.h"
#include "datasets/tokenizer.h"
#include "inference/export.h"

namespace smlab::inference {
namespace fs = std::filesystem;
using models::InputKind;
using text::trim;

namespace {

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

/// Splits the rows of `all` into scored (empty reason) and rejected ones.
Prepared collect(torch::Tensor all, const std::vector<std::string>& reason, const std::vector<int64_t>& lengths) {
  Prepared out;
  const int64_t n = static_cast<int64_t>(reason.size());
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

std::vector<std::string> record_reasons(const std::vector<Record>& recs) {
  std::vector<std::string> reason(recs.size());
  for (size_t i = 0; i < recs.size(); ++i) reason[i] = recs[i].reject;
  return reason;
}

class TokenPreprocessor : public Preprocessor {
 public:
  TokenPreprocessor(const InputSpec& spec, const std::map<std::string, std::string>& files, const fs::path& artifact,
                    int workers)
      : t_(*spec.tokens), workers_(workers) {
    const auto tok = files.find(t_.tokenizer.empty() ? kArtifactTokenizerFile : t_.tokenizer);
    if (tok == files.end())
      throw UserError(artifact.string() + ": a token model without an embedded tokenizer; re-export it from a run "
                      "whose data.tokenizer is set");
    tokenizer_ = datasets::Tokenizer::from_bytes(tok->second, artifact.string() + "#" + tok->first);
  }

  bool variable_length() const override { return t_.variable_length; }

  Prepared operator()(const std::vector<Record>& recs, const PixelStore&) const override {
    const int64_t n = static_cast<int64_t>(recs.size()), L = t_.max_len;
    auto reason = record_reasons(recs);
    auto all = torch::full({n, L}, t_.pad_id, torch::kLong);
    auto* p = all.data_ptr<int64_t>();
    std::vector<int64_t> lengths(n, 1);
    const bool tweet = t_.normalize == TextNormalize::TweetEval;
    parallel(n, workers_, [&](int64_t i) {
      if (!reason[i].empty()) return;
      if (trim(recs[i].payload).empty()) {
        reason[i] = "empty text";
        return;
      }
      const auto ids = tokenizer_->encode(tweet ? datasets::normalize_tweet(recs[i].payload) : recs[i].payload);
      const int64_t m = std::min<int64_t>(static_cast<int64_t>(ids.size()), L);
      for (int64_t j = 0; j < m; ++j) p[i * L + j] = ids[j];
      lengths[i] = std::max<int64_t>(1, m);
    });
    return collect(all, reason, lengths);
  }

 private:
  TokenPreprocess t_;
  int workers_;
  std::shared_ptr<const datasets::Tokenizer> tokenizer_;
};

/// Images [H, W, C] or clips [T, H, W, C] at the model's size. Files are decoded with OpenCV
/// (images only); packed pixels come from the PixelStore, frame by frame.
class PixelPreprocessor : public Preprocessor {
 public:
  PixelPreprocessor(const InputSpec& spec, int workers) : p_(*spec.pixels), workers_(workers) {
    video_ = spec.kind == InputKind::Video;
    const auto& s = spec.shape;
    t_ = video_ ? s.at(0) : 1;
    h_ = s.at(s.size() - 3);
    w_ = s.at(s.size() - 2);
    c_ = s.at(s.size() - 1);
    p_.crop = {h_, w_};
  }

  Prepared operator()(const std::vector<Record>& recs, const PixelStore& pixels) const override {
    const int64_t n = static_cast<int64_t>(recs.size());
    auto reason = record_reasons(recs);
    auto all = video_ ? torch::zeros({n, t_, h_, w_, c_}, torch::kUInt8) : torch::zeros({n, h_, w_, c_}, torch::kUInt8);
    parallel(n, workers_, [&](int64_t i) {
      if (!reason[i].empty()) return;
      reason[i] = recs[i].pixels >= 0 ? from_store(pixels, recs[i].pixels, all[i]) : from_file(recs[i].payload, all[i]);
    });
    return collect(all, reason, {});
  }

 private:
  /// `img` (uint8 HWC, any channel count OpenCV can convert) with the model's channels.
  std::string to_channels(const cv::Mat& src, cv::Mat& img) const {
    const int sc = src.channels();
    if (sc == c_) img = src;
    else if (sc == 1 && c_ == 3) cv::cvtColor(src, img, cv::COLOR_GRAY2RGB);
    else if (sc == 3 && c_ == 1) cv::cvtColor(src, img, cv::COLOR_RGB2GRAY);
    else return "stored image has " + std::to_string(sc) + " channels, the model takes " + std::to_string(c_);
    return "";
  }

  /// Frames [T, H, W, C] of the model's channels -> resized and cropped into `dst`.
  void fit(const torch::Tensor& frames, torch::Tensor dst) const {
    dst.view({t_, h_, w_, c_}).copy_(eval_pixels(frames, p_));
  }

  std::string from_store(const PixelStore& st, int64_t index, torch::Tensor dst) const {
    const size_t d = st.shape.size();
    const int64_t frames = d == 4 ? st.shape[0] : 1;
    const int sh = static_cast<int>(st.shape[d - 3]), sw = static_cast<int>(st.shape[d - 2]);
    const int sc = static_cast<int>(st.shape[d - 1]);
    if (frames != t_) return "clip has " + std::to_string(frames) + " frames, the model takes " + std::to_string(t_);
    auto buf = torch::empty({t_, sh, sw, c_}, torch::kUInt8);
    for (int64_t f = 0; f < t_; ++f) {
      const cv::Mat src(sh, sw, CV_8UC(sc), const_cast<uint8_t*>(st.data.data()) + ((index * t_ + f) * sh * sw * sc));
      cv::Mat img;
      if (auto why = to_channels(src, img); !why.empty()) return why;
      const cv::Mat cont = img.isContinuous() ? img : img.clone();
      std::memcpy(buf[f].data_ptr<uint8_t>(), cont.data, static_cast<size_t>(sh) * sw * c_);
    }
    fit(buf, dst);
    return "";
  }

  std::string from_file(const std::string& path, torch::Tensor dst) const {
#ifdef SMLAB_NO_OPENCV_CODECS
    (void)path;
    (void)dst;
    return "cannot decode image files: this smlab was built with SMLAB_WITH_OPENCV_CODECS=OFF";
#else
    if (!fs::is_regular_file(path)) return fs::exists(path) ? "not a regular file" : "no such file";
    const std::string bytes = read_file(path);
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
    if (auto why = datasets::image_size_problem(b, bytes.size()); !why.empty()) return why;
    cv::Mat img;
    try {
      const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<unsigned char*>(b));
      img = cv::imdecode(raw, c_ == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    } catch (const cv::Exception&) {
      img.release();
    }
    if (img.empty()) return "cannot decode image";
    if (c_ == 3) cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
    if (!img.isContinuous()) img = img.clone();
    const auto t = torch::from_blob(img.data, {1, img.rows, img.cols, c_}, torch::kUInt8);
    fit(t, dst);
    return "";
#endif
  }

  PixelPreprocess p_;
  int workers_;
  bool video_ = false;
  int64_t t_ = 1, h_ = 0, w_ = 0, c_ = 3;
};

/// Tabular rows: every field a finite float.
class FeaturePreprocessor : public Preprocessor {
 public:
  explicit FeaturePreprocessor(const InputSpec& spec) : width_(spec.shape.at(0)) {}

  Prepared operator()(const std::vector<Record>& recs, const PixelStore&) const override {
    const int64_t n = static_cast<int64_t>(recs.size());
    auto reason = record_reasons(recs);
    auto all = torch::zeros({n, width_}, torch::kFloat);
    auto* p = all.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      if (!reason[i].empty()) continue;
      const auto& f = recs[i].fields;
      if (static_cast<int64_t>(f.size()) != width_) {
        reason[i] = "expected " + std::to_string(width_) + " features, got " + std::to_string(f.size());
        continue;
      }
      for (int64_t j = 0; j < width_; ++j) {
        const std::string v = trim(f[j]);
        char* end = nullptr;
        const float x = std::strtof(v.c_str(), &end);
        if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x)) {
          reason[i] = "feature " + std::to_string(j) + " '" + v.substr(0, 40) + "' is not a finite number";
          break;
        }
        p[i * width_ + j] = x;
      }
    }
    return collect(all, reason, {});
  }

 private:
  int64_t width_;
};

}  // namespace

int64_t covering_resize(int64_t H, int64_t W, int64_t h, int64_t w, int64_t resize_shorter) {
  // augment_eval (torchvision's rule): the shorter side -> r, the longer -> int(r * long / short).
  const bool tall = H > W;
  const int64_t s = tall ? W : H, l = tall ? H : W;      // source shorter / longer side
  const int64_t cs = tall ? w : h, cl = tall ? h : w;    // crop along the shorter / longer side
  int64_t r = std::max<int64_t>({resize_shorter, cs, 1});
  r = std::max<int64_t>(r, static_cast<int64_t>(std::ceil(static_cast<double>(cl) * s / l)));
  while (static_cast<int64_t>(static_cast<double>(r) * static_cast<double>(l) / static_cast<double>(s)) < cl) ++r;
  return r;
}

torch::Tensor eval_pixels(const torch::Tensor& images_nhwc, const PixelPreprocess& p) {
  TORCH_CHECK(images_nhwc.dim() == 4 && images_nhwc.scalar_type() == torch::kUInt8,
              "eval_pixels: expected uint8 [N, H, W, C], got ", images_nhwc.sizes());
  TORCH_CHECK(p.crop.size() == 2, "eval_pixels: crop must be {h, w}, got ", p.crop.size(), " values");
  const int64_t H = images_nhwc.size(1), W = images_nhwc.size(2), C = images_nhwc.size(3);
  const int64_t h = p.crop[0], w = p.crop[1];
  TORCH_CHECK(C == 1 || C == 3, "eval_pixels: 1 or 3 channels, got ", C);
  const int64_t r = covering_resize(H, W, h, w, p.resize_shorter);
  if (H == h && W == w && r == std::min(H, W)) return images_nhwc;  // the op would be the identity
  const auto rgb = C == 3 ? images_nhwc : images_nhwc.expand({-1, -1, -1, 3});
  // mean 0, std 1: the op's output is the resized pixel / 255 on [0, 1], channels-last memory.
  const auto v = ops::augment_eval(rgb.contiguous(), r, h, w, {0.0, 0.0, 0.0}, {1.0, 1.0, 1.0}, /*channels_last=*/true);
  auto u8 = v.permute({0, 2, 3, 1}).mul(255.0f).round_().clamp_(0, 255).to(torch::kUInt8);
  if (C == 1) u8 = u8.slice(3, 0, 1);
  return u8.contiguous();
}

std::unique_ptr<Preprocessor> make_preprocessor(const InputSpec& spec, const std::map<std::string, std::string>& files,
                                                const fs::path& artifact, int workers) {
  if (spec.tokens) return std::make_unique<TokenPreprocessor>(spec, files, artifact, workers);
  if (spec.pixels && (spec.kind == InputKind::Image || spec.kind == InputKind::Video))
    return std::make_unique<PixelPreprocessor>(spec, workers);
  if (spec.kind == InputKind::Features && spec.dtype == DType::Float32 && spec.shape.size() == 1)
    return std::make_unique<FeaturePreprocessor>(spec);
  throw UserError(artifact.string() + ": scoring " + models::input_kind_name(spec.kind) + " (" + dtype_name(spec.dtype) +
                  ") inputs is not supported by this smlab yet");
}

}  // namespace smlab::inference
