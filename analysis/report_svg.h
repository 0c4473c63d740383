// Inline SVG charts for self-contained HTML reports: line charts with several series and a legend,
// bar charts with error bars, heatmaps and reliability diagrams. Knows nothing of smlab: it takes
// numbers and labels, and returns an <svg> element as text (no external reference of any kind).
//
// Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies).
// Every drawn number can be read back by a test: each bar, heatmap cell, reliability bin and marker
// carries data-value="..." (and data-label), and each line carries its whole series as
// data-values="y0 y1 ..." (data-x="x0 x1 ..." unless x is 0, 1, 2, ...), at 12 significant digits.
// A line of more than 2000 points is drawn decimated (first, min, max and last point per pixel
// column), but its data-values still hold every point.
//
// Example:
//   smlab::analysis::svg::Chart c{"loss", "Loss", "step", "loss (cross-entropy)"};
//   std::string s = svg::line_chart(c, {{"train", {1, 2, 3}, {0.9, 0.5, 0.4}}});
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smlab::analysis::svg {

/// The CSS rules the charts rely on (grid, ticks, titles, bands); an HTML report puts them in its <style>.
const std::string& css();

/// `chart` as a standalone .svg file: the SVG namespace and css() inside it (viewers ignore a page's CSS).
std::string standalone(const std::string& chart);

/// Okabe-Ito colour i (cycled), as "#rrggbb".
std::string colour(size_t i);

/// Text escaped for XML/HTML content and attribute values (& < > " ').
std::string escape(std::string_view text);

/// A number at 12 significant digits ("nan" / "inf" for non-finite values), as data attributes hold it.
std::string number(double v);

struct Chart {
  Chart() = default;
  Chart(std::string id_, std::string title_, std::string x_label_, std::string y_label_)
      : id(std::move(id_)), title(std::move(title_)), x_label(std::move(x_label_)), y_label(std::move(y_label_)) {}
  std::string id;       ///< the <svg id>; a test finds the chart by it
  std::string title;    ///< drawn above the plot
  std::string x_label;  ///< axis titles, with units
  std::string y_label;
  int width = 640, height = 300;
  /// Explicit x tick positions and labels (dates, class names); empty: numeric ticks.
  std::vector<std::pair<double, std::string>> x_ticks;
  std::optional<double> y_min, y_max;  ///< fixed y range (e.g. 0..1 for accuracies); else from data
  bool log_y = false;                  ///< log10 y axis (values <= 0 are not drawn)
  std::string marks_label = "flag";    ///< the legend's name for line_chart's marks
};

struct Series {
  Series() = default;
  explicit Series(std::string name_) : name(std::move(name_)) {}
  std::string name;
  std::vector<double> x;  ///< empty: 0, 1, 2, ...
  std::vector<double> y;  ///< NaN leaves a gap
  bool markers = false;   ///< a circle (with data-value) per point
  bool dashed = false;
  int colour = -1;        ///< palette index; -1: the series' position
  bool in_legend = true;  ///< false: drawn without a legend entry (an interval's ends beside their mean)
};

/// A shaded x range (e.g. a labelled anomaly window).
struct Band {
  double x0 = 0, x1 = 0;
  std::string label;
};

/// A marked point (e.g. a flagged anomaly), drawn as a red triangle.
struct Mark {
  double x = 0, y = 0;
  std::string label;
};

std::string line_chart(const Chart& c, const std::vector<Series>& series, const std::vector<Band>& bands = {},
                       const std::vector<Mark>& marks = {});

struct Bar {
  Bar() = default;
  Bar(std::string label_, double value_) : label(std::move(label_)), value(value_) {}
  std::string label;
  double value = 0;
  std::optional<double> lo, hi;  ///< an error bar (e.g. a 95% CI)
  std::string note;              ///< shown in the tooltip
};

/// Vertical bars, one per label, with optional error bars.
std::string bar_chart(const Chart& c, const std::vector<Bar>& bars);

/// A dot per label with its error bar, on an axis fitted to the values and intervals (not from 0, so
/// that differences of a point or two show), and an optional dashed horizontal reference line (e.g.
/// a baseline's mean, data-value on the path of class "reference"). Dots carry class "dot".
std::string dot_chart(const Chart& c, const std::vector<Bar>& dots, std::optional<double> reference = std::nullopt);

/// A matrix as coloured cells (rows top to bottom), each cell labelled with its value; colour by
/// the value divided by its row's sum when `row_normalise` (the cell text stays the raw value).
std::string heatmap(const Chart& c, const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                    const std::vector<std::vector<double>>& values, bool row_normalise);

struct ReliabilityBin {
  double lower = 0, upper = 0;  ///< confidence range of the bin
  double confidence = 0;        ///< mean confidence of its samples
  double accuracy = 0;          ///< their accuracy
  int64_t count = 0;
};

/// Accuracy against confidence per bin, one bar group per curve (e.g. before / after temperature
/// scaling), with the diagonal of perfect calibration. Empty bins are not drawn.
std::string reliability_diagram(const Chart& c, const std::vector<std::pair<std::string, std::vector<ReliabilityBin>>>& curves);

}  // namespace smlab::analysis::svg
