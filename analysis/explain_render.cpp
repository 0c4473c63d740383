#include "analysis/explain_render.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <iomanip>
#include <sstream>
#ifndef SMLAB_NO_OPENCV_CODECS
#include <opencv2/imgcodecs.hpp>
#endif

#include "core/atomic_file.h"
#include "core/error.h"

namespace smlab::analysis::explain {
namespace {

/// One frame: uint8 [H, W, C] pixels and a float [H, W] map -> BGR overlay.
cv::Mat overlay(const torch::Tensor& pixels, const torch::Tensor& map, float peak) {
  auto px = pixels.to(torch::kCPU, torch::kByte).contiguous();
  const int h = static_cast<int>(px.size(0)), w = static_cast<int>(px.size(1)), c = static_cast<int>(px.size(2));
  cv::Mat img(h, w, c == 1 ? CV_8UC1 : CV_8UC3, px.data_ptr<uint8_t>());
  cv::Mat bgr;
  if (c == 1) cv::cvtColor(img, bgr, cv::COLOR_GRAY2BGR);
  else cv::cvtColor(img, bgr, cv::COLOR_RGB2BGR);
  auto m = (map.to(torch::kCPU, torch::kFloat).abs() / std::max(peak, 1e-12f) * 255.0).clamp(0, 255).to(torch::kByte).contiguous();
  cv::Mat mm(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_8UC1, m.data_ptr<uint8_t>());
  cv::Mat mr, heat, out;
  cv::resize(mm, mr, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  cv::applyColorMap(mr, heat, cv::COLORMAP_JET);
  cv::addWeighted(bgr, 0.5, heat, 0.5, 0.0, out);
  const int shorter = std::min(h, w);
  if (shorter < 128) {
    const double f = std::ceil(128.0 / shorter);
    cv::resize(out, out, cv::Size(), f, f, cv::INTER_NEAREST);
  }
  return out;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += ch;
    }
  }
  return o;
}

}  // namespace

bool can_write_png() {
#ifdef SMLAB_NO_OPENCV_CODECS
  return false;
#else
  return true;
#endif
}

void write_overlay_png(const std::filesystem::path& path, const torch::Tensor& pixels, const torch::Tensor& map) {
  TORCH_CHECK(pixels.dim() == map.dim() + 1, "overlay: pixels ", pixels.sizes(), " do not fit map ", map.sizes());
  const float peak = map.abs().max().item<float>();
  cv::Mat out;
  if (map.dim() == 2) {
    out = overlay(pixels, map, peak);
  } else {
    std::vector<cv::Mat> frames;
    for (int64_t t = 0; t < map.size(0); ++t) frames.push_back(overlay(pixels[t], map[t], peak));
    cv::hconcat(frames, out);
  }
#ifdef SMLAB_NO_OPENCV_CODECS
  throw UserError("this smlab was built without OpenCV's image codecs: cannot write " + path.string());
#else
  std::vector<uint8_t> png;
  if (!cv::imencode(".png", out, png)) throw UserError("cannot encode " + path.string() + " as PNG");
  write_file_atomic(path, std::string(png.begin(), png.end()));
#endif
}

std::vector<std::pair<std::string, double>> words_from_pieces(const std::vector<std::string>& pieces,
                                                              const std::vector<double>& scores) {
  TORCH_CHECK(pieces.size() == scores.size(), "words_from_pieces: ", pieces.size(), " pieces, ", scores.size(), " scores");
  static const std::string boundary = "\xE2\x96\x81";  // U+2581
  std::vector<std::pair<std::string, double>> words;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const bool starts = pieces[i].rfind(boundary, 0) == 0;
    const std::string text = starts ? pieces[i].substr(boundary.size()) : pieces[i];
    if (starts || words.empty()) words.emplace_back(text, scores[i]);
    else {
      words.back().first += text;
      words.back().second += scores[i];
    }
  }
  return words;
}

std::string highlight_rows(const std::vector<HighlightRow>& rows) {
  std::ostringstream o;
  for (const auto& r : rows) {
    double peak = 1e-12;
    for (const auto& [w, s] : r.words) peak = std::max(peak, std::abs(s));
    o << "<div><h3>" << escape(r.id) << " <small>" << escape(r.label) << "</small></h3><p>";
    for (const auto& [w, s] : r.words) {
      const double a = std::abs(s) / peak;
      o << "<span class=\"w\" data-value=\"" << std::setprecision(12) << s << "\" title=\"" << std::setprecision(6) << s
        << "\" style=\"background:rgba(" << (s >= 0 ? "220,40,40," : "40,80,220,") << a << ")\">" << escape(w) << "</span> ";
    }
    o << "</p></div>\n";
  }
  return o.str();
}

std::string highlight_html(const std::string& title, const std::vector<HighlightRow>& rows) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << escape(title) << "</title>\n"
    << "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
       "p{line-height:2}span.w{padding:2px 3px;border-radius:3px}small{color:#666}</style></head><body>\n"
    << "<h1>" << escape(title) << "</h1>\n<p><small>red: the word raises the target's score; blue: lowers it; "
    << "strength: |score| / the row's largest |score| (hover for the value)</small></p>\n"
    << highlight_rows(rows) << "</body></html>\n";
  return o.str();
}

}  // namespace smlab::analysis::explain
