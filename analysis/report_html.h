// A self-contained HTML page for reports: a title, a table of contents, sections with ids, tables,
// preformatted text and notes about what is missing. The stylesheet is inline; the page references
// nothing outside itself (no script, font, image or stylesheet URL), so it opens from a file with no
// network. Knows nothing of smlab.
//
// Example:
//   smlab::analysis::html::Page page("Run runs/quickstart/latest");
//   page.section("curves", "Training curves", svg::line_chart(...));
//   page.section("per-class", "Per-class metrics", html::missing("no eval_*.json: run `smlab eval RUN`"));
//   write_file_atomic("report.html", page.render());
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace smlab::analysis::html {

/// Text escaped for HTML content and attribute values.
std::string escape(std::string_view text);

/// A table; header and cells are plain text (escaped here). `numeric_from`: columns from this index
/// on are right-aligned.
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  size_t numeric_from = 1);

/// A <pre> block of plain text.
std::string pre(std::string_view text);

/// A paragraph of plain text.
std::string para(std::string_view text);

/// A highlighted note that something is missing and how to get it (class "missing").
std::string missing(std::string_view text);

/// Charts side by side where the page is wide enough.
std::string grid(const std::vector<std::string>& items);

class Page {
 public:
  explicit Page(std::string title, std::string subtitle = "");
  /// Appends a section (an <section id=...> with an <h2>); `body` is HTML.
  void section(const std::string& id, const std::string& title, const std::string& body);
  /// Records something missing: listed at the top of the page ("what is missing").
  void note_missing(const std::string& text) { missing_.push_back(text); }
  const std::vector<std::string>& section_ids() const { return ids_; }
  const std::vector<std::string>& missing_notes() const { return missing_; }
  std::string render() const;

 private:
  std::string title_, subtitle_;
  std::vector<std::string> ids_, titles_, bodies_, missing_;
};

}  // namespace smlab::analysis::html
