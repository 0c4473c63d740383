#include "analysis/report_html.h"

#include <sstream>

#include "analysis/report_svg.h"

namespace smlab::analysis::html {
namespace {

// System fonts only; colours from the Okabe-Ito palette of report_svg.
constexpr const char* kStyle = R"css(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1a1a1a;
       margin: 0 auto; max-width: 1280px; padding: 16px 28px 48px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 18px; border-bottom: 2px solid #0072B2; padding-bottom: 2px;
       margin-top: 32px; } .subtitle { color: #555; margin: 0 0 12px; }
nav.toc { background: #f4f7fa; border: 1px solid #d8e0e8; padding: 8px 16px; display: inline-block; }
nav.toc ol { margin: 4px 0; padding-left: 20px; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef2f6; } td.num { text-align: right; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 8px; overflow-x: auto; max-height: 420px; font-size: 12px; }
.missing { background: #fff4e0; border-left: 4px solid #E69F00; padding: 6px 10px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
img.thumb { image-rendering: pixelated; border: 1px solid #ccc; margin-right: 2px; }
)css";

}  // namespace

std::string escape(std::string_view text) { return svg::escape(text); }

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows, size_t numeric_from) {
  std::ostringstream o;
  o << "<table><thead><tr>";
  for (const auto& h : header) o << "<th>" << escape(h) << "</th>";
  o << "</tr></thead><tbody>\n";
  for (const auto& r : rows) {
    o << "<tr>";
    for (size_t i = 0; i < r.size(); ++i) o << (i >= numeric_from ? "<td class=\"num\">" : "<td>") << escape(r[i]) << "</td>";
    o << "</tr>\n";
  }
  o << "</tbody></table>\n";
  return o.str();
}

std::string pre(std::string_view text) { return "<pre>" + escape(text) + "</pre>\n"; }

std::string para(std::string_view text) { return "<p>" + escape(text) + "</p>\n"; }

std::string missing(std::string_view text) { return "<p class=\"missing\">" + escape(text) + "</p>\n"; }

std::string grid(const std::vector<std::string>& items) {
  std::string out = "<div class=\"grid\">\n";
  for (const auto& i : items) out += "<div>" + i + "</div>\n";
  return out + "</div>\n";
}

Page::Page(std::string title, std::string subtitle) : title_(std::move(title)), subtitle_(std::move(subtitle)) {}

void Page::section(const std::string& id, const std::string& title, const std::string& body) {
  ids_.push_back(id);
  titles_.push_back(title);
  bodies_.push_back(body);
}

std::string Page::render() const {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n"
    << "<title>" << escape(title_) << "</title>\n<style>" << kStyle << svg::css() << "</style></head>\n<body>\n<h1>" << escape(title_) << "</h1>\n";
  if (!subtitle_.empty()) o << "<p class=\"subtitle\">" << escape(subtitle_) << "</p>\n";
  o << "<nav class=\"toc\" id=\"toc\"><strong>Contents</strong><ol>\n";
  if (!missing_.empty()) o << "<li><a href=\"#missing\">What is missing</a></li>\n";
  for (size_t i = 0; i < ids_.size(); ++i) o << "<li><a href=\"#" << escape(ids_[i]) << "\">" << escape(titles_[i]) << "</a></li>\n";
  o << "</ol></nav>\n";
  if (!missing_.empty()) {
    o << "<section id=\"missing\"><h2>What is missing</h2><ul>\n";
    for (const auto& m : missing_) o << "<li class=\"missing\">" << escape(m) << "</li>\n";
    o << "</ul></section>\n";
  }
  for (size_t i = 0; i < ids_.size(); ++i)
    o << "<section id=\"" << escape(ids_[i]) << "\"><h2>" << escape(titles_[i]) << "</h2>\n" << bodies_[i] << "</section>\n";
  o << "<footer><p class=\"subtitle\">Written by smlab report. Self-contained: no network access needed.</p></footer>\n</body></html>\n";
  return o.str();
}

}  // namespace smlab::analysis::html
