// The most confidently wrong examples of an eval_*.json with their inputs: the text of a text
// dataset, a thumbnail of an image, the frames of a clip (PNG data: URIs), the values of a feature
// row. The evaluated split is rebuilt from the run's config.yaml (the data only, no model).
#include <torch/torch.h>

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "analysis/report_detail.h"
#include "core/config.h"
#include "datasets/dataset.h"
#include "datasets/text_tsv.h"

namespace smlab::analysis::report_detail {

std::string base64(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int s : {18, 12, 6, 0}) out += t[(v >> s) & 63];
  }
  if (i + 1 == size) {
    const unsigned v = bytes[i] << 16;
    out += t[(v >> 18) & 63], out += t[(v >> 12) & 63], out += "==";
  } else if (i + 2 == size) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += t[(v >> 18) & 63], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += '=';
  }
  return out;
}

namespace {


/// One image [C, H, W] (any range; stretched to 0..255 per image) as an <img> with a PNG data: URI,
/// at most 96 pixels on its longer side, shown at least 64 pixels wide.
std::string thumbnail(const torch::Tensor& chw) {
  auto x = chw.detach().to(torch::kCPU, torch::kFloat);
  if (x.size(0) != 1 && x.size(0) != 3) x = x.slice(0, 0, 1);
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  x = ((x - lo) / std::max(hi - lo, 1e-12) * 255).clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(x.size(0)), w = static_cast<int>(x.size(1)), c = static_cast<int>(x.size(2));
  cv::Mat m(h, w, c == 3 ? CV_8UC3 : CV_8UC1, x.data_ptr<uint8_t>());
  cv::Mat img = m.clone();
  if (c == 3) cv::cvtColor(img, img, cv::COLOR_RGB2BGR);
  const int longest = std::max(h, w);
  if (longest > 96) cv::resize(img, img, cv::Size(w * 96 / longest, h * 96 / longest), 0, 0, cv::INTER_AREA);
  std::vector<uchar> png;
  cv::imencode(".png", img, png);
  const int shown = std::max(64, img.cols);
  return "<img class=\"thumb\" width=\"" + std::to_string(shown) + "\" alt=\"input\" src=\"data:image/png;base64," + base64(std::string_view(reinterpret_cast<const char*>(png.data()), png.size())) + "\">";
}

/// The input of sample `index` as HTML.
std::string input_html(const datasets::Dataset& data, const std::vector<std::string>* texts, int64_t index) {
  if (index < 0 || index >= data.size()) return "(index out of range)";
  if (texts) return index < static_cast<int64_t>(texts->size()) ? html::escape((*texts)[index]) : "(no text)";
  const auto x = data.get({index}).input[0];
  if (x.dim() == 3) return thumbnail(x);
  if (x.dim() == 4) {  // a clip [C, T, H, W]: up to 4 frames evenly spaced
    std::string out;
    const int64_t T = x.size(1), n = std::min<int64_t>(4, T);
    for (int64_t k = 0; k < n; ++k) out += thumbnail(x.select(1, n > 1 ? k * (T - 1) / (n - 1) : 0));
    return out;
  }
  const auto flat = x.flatten().to(torch::kDouble);
  std::string out;
  for (int64_t i = 0; i < std::min<int64_t>(12, flat.size(0)); ++i) out += (i ? ", " : "") + fmt(flat[i].item<double>(), 4);
  if (flat.size(0) > 12) out += ", ... (" + std::to_string(flat.size(0)) + " values)";
  return html::escape(out);
}

datasets::Split split_of(const std::string& name) {
  return name == "train" ? datasets::Split::Train : name == "val" ? datasets::Split::Val : datasets::Split::Test;
}

}  // namespace

std::string wrong_examples(const fs::path& run, const json& eval, const HtmlReportOptions& o, html::Page& page) {
  const json& list = get(eval, "most_confidently_wrong");
  if (!list.is_array() || list.empty()) return html::para("No wrong predictions listed in the eval file.");
  const std::string split = get(eval, "split").is_string() ? get(eval, "split").get<std::string>() : "test";
  std::shared_ptr<datasets::Dataset> data;
  std::vector<std::string> texts;
  std::string problem = o.examples ? "" : "inputs left out (--no-examples)";
  if (o.examples) try {
      const auto cfg = config::load(run / "config.yaml");
      data = datasets::build(cfg, split_of(split));
      if (data->info().vocab_size > 0) texts = datasets::read_text_split(cfg, split_of(split)).texts;
    } catch (const std::exception& e) {
      problem = std::string("inputs not shown: cannot rebuild the ") + split + " split from config.yaml (" + e.what() + ")";
      data.reset();
    }
  if (!problem.empty()) page.note_missing(problem);
  std::string out = html::para("The " + split + " samples the model got wrong with the highest confidence (index = position in the split).");
  if (!problem.empty()) out += html::missing(problem);
  out += "<table class=\"wrong\"><thead><tr><th>#</th><th>index</th><th>true</th><th>predicted</th><th>confidence</th>"
         "<th>p(true)</th><th>input</th></tr></thead><tbody>\n";
  int shown = 0;
  for (const auto& w : list) {
    if (shown >= o.max_examples) break;
    std::string input = "-";
    if (data) try {
        input = input_html(*data, texts.empty() ? nullptr : &texts, get(w, "index").is_number() ? get(w, "index").get<int64_t>() : -1);
      } catch (const std::exception& e) {
        input = html::escape(std::string("(cannot read: ") + e.what() + ")");
      }
    out += "<tr><td>" + std::to_string(++shown) + "</td><td class=\"num\">" + cell(w, "index") + "</td><td>" +
           html::escape(cell(w, "target_name")) + "</td><td>" + html::escape(cell(w, "predicted_name")) + "</td><td class=\"num\" data-value=\"" +
           fmt(num(w, "confidence"), 12) + "\">" + cell(w, "confidence") + "</td><td class=\"num\">" + cell(w, "target_probability") +
           "</td><td>" + input + "</td></tr>\n";
  }
  return out + "</tbody></table>\n";
}

}  // namespace smlab::analysis::report_detail
