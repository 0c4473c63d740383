#include "analysis/report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace smlab::analysis::svg {
namespace {

constexpr double kLeft = 70, kRight = 16, kTop = 48, kBottom = 48;

/// A coordinate at 2 decimals: enough for a screen, short in the file.
std::string px(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

/// A tick label: up to 4 significant digits, no trailing zeros.
std::string tick_text(double v) {
  if (std::abs(v) < 1e-12) return "0";
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

/// About `n` round tick values covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int n = 5) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag, step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
  return t;
}

/// The plot area of a chart and its data-to-pixel maps.
struct Frame {
  double x0, x1, y0, y1;  ///< data range
  double left, right, top, bottom;  ///< pixels
  bool log_y = false;
  double X(double x) const { return left + (x - x0) / (x1 - x0) * (right - left); }
  double Y(double y) const {
    const double v = log_y ? std::log10(y) : y;
    return bottom - (v - y0) / (y1 - y0) * (bottom - top);
  }
};

Frame make_frame(const Chart& c, double x0, double x1, double y0, double y1) {
  if (c.y_min) y0 = *c.y_min;
  if (c.y_max) y1 = *c.y_max;
  if (c.log_y) {
    y0 = std::log10(std::max(y0, 1e-300));
    y1 = std::log10(std::max(y1, 1e-300));
  }
  if (!(x1 > x0)) x0 -= 0.5, x1 += 0.5;
  if (!(y1 > y0)) y0 -= std::max(0.5, std::abs(y0) * 0.1), y1 += std::max(0.5, std::abs(y1) * 0.1);
  if (!c.y_min && !c.y_max && !c.log_y) {  // a little headroom
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
  }
  return {x0, x1, y0, y1, kLeft, c.width - kRight, kTop, c.height - kBottom, c.log_y};
}

std::string open_svg(const Chart& c, const std::string& kind) {
  std::ostringstream s;
  s << "<svg class=\"chart\" data-kind=\"" << kind << "\" id=\"" << escape(c.id)
    << "\" width=\"" << c.width << "\" height=\"" << c.height << "\" viewBox=\"0 0 " << c.width << " " << c.height
    << "\" role=\"img\" aria-label=\"" << escape(c.title) << "\">\n<title>" << escape(c.title) << "</title>\n"
    << "<text class=\"title\" x=\"" << c.width / 2 << "\" y=\"18\" text-anchor=\"middle\">" << escape(c.title) << "</text>\n";
  return s.str();
}

/// Axes, grid lines, tick labels and axis titles.
std::string axes(const Chart& c, const Frame& f) {
  std::ostringstream s;
  s << "<g class=\"axes\">\n";
  for (double t : nice_ticks(f.y0, f.y1)) {
    const double y = f.bottom - (t - f.y0) / (f.y1 - f.y0) * (f.bottom - f.top);
    s << "<line class=\"grid\" x1=\"" << px(f.left) << "\" x2=\"" << px(f.right) << "\" y1=\"" << px(y) << "\" y2=\"" << px(y)
      << "\"/><text x=\"" << px(f.left - 6) << "\" y=\"" << px(y + 4) << "\" text-anchor=\"end\">"
      << (f.log_y ? tick_text(std::pow(10.0, t)) : tick_text(t)) << "</text>\n";
  }
  std::vector<std::pair<double, std::string>> xt = c.x_ticks;
  if (xt.empty())
    for (double t : nice_ticks(f.x0, f.x1, std::max(2, c.width / 110))) xt.push_back({t, tick_text(t)});
  for (const auto& [t, label] : xt) {
    if (t < f.x0 - 1e-9 || t > f.x1 + 1e-9) continue;
    s << "<line class=\"tick\" x1=\"" << px(f.X(t)) << "\" x2=\"" << px(f.X(t)) << "\" y1=\"" << px(f.bottom) << "\" y2=\""
      << px(f.bottom + 4) << "\"/><text x=\"" << px(f.X(t)) << "\" y=\"" << px(f.bottom + 17) << "\" text-anchor=\"middle\">"
      << escape(label) << "</text>\n";
  }
  s << "<rect class=\"frame\" x=\"" << px(f.left) << "\" y=\"" << px(f.top) << "\" width=\"" << px(f.right - f.left)
    << "\" height=\"" << px(f.bottom - f.top) << "\"/>\n"
    << "<text class=\"axis-title\" x=\"" << px((f.left + f.right) / 2) << "\" y=\"" << c.height - 8
    << "\" text-anchor=\"middle\">" << escape(c.x_label) << "</text>\n"
    << "<text class=\"axis-title\" transform=\"translate(14," << px((f.top + f.bottom) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << escape(c.y_label) << "</text>\n</g>\n";
  return s.str();
}

/// One row of legend entries under the title.
std::string legend(const std::vector<std::pair<std::string, std::string>>& entries, double left) {
  std::ostringstream s;
  s << "<g class=\"legend\">";
  double x = left;
  for (const auto& [name, style] : entries) {
    s << "<g class=\"legend-entry\"><rect x=\"" << px(x) << "\" y=\"27\" width=\"14\" height=\"10\" " << style << "/><text x=\""
      << px(x + 18) << "\" y=\"36\">" << escape(name) << "</text></g>";
    x += 30 + 7.0 * static_cast<double>(name.size());
  }
  s << "</g>\n";
  return s.str();
}

std::string join_numbers(const std::vector<double>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + number(v[i]);
  return out;
}

/// The indices of the points to draw: all of them up to 2000, else first/min/max/last per pixel column.
std::vector<size_t> drawn_points(const std::vector<double>& xs, const std::vector<double>& ys, const Frame& f) {
  std::vector<size_t> keep;
  if (ys.size() <= 2000) {
    for (size_t i = 0; i < ys.size(); ++i) keep.push_back(i);
    return keep;
  }
  long column = std::numeric_limits<long>::min();
  size_t lo = 0, hi = 0, last = 0;
  auto flush = [&] {
    for (size_t i : {lo, hi, last})
      if (keep.empty() || keep.back() != i) keep.push_back(i);
  };
  for (size_t i = 0; i < ys.size(); ++i) {
    const long col = std::lround(f.X(xs[i]));
    if (col != column) {
      if (column != std::numeric_limits<long>::min()) flush();
      column = col, lo = hi = last = i;
      keep.push_back(i);
      continue;
    }
    if (ys[i] < ys[lo]) lo = i;
    if (ys[i] > ys[hi]) hi = i;
    last = i;
  }
  flush();
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  return keep;
}

std::string polyline(const Series& s, const std::vector<double>& xs, const Frame& f, const std::string& col) {
  std::ostringstream o;
  o << "<g class=\"series\" data-name=\"" << escape(s.name) << "\" data-values=\"" << join_numbers(s.y) << "\"";
  if (!s.x.empty()) o << " data-x=\"" << join_numbers(s.x) << "\"";
  o << ">";
  std::string pts;
  auto emit = [&] {
    if (!pts.empty())
      o << "<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"1.6\"" << (s.dashed ? " stroke-dasharray=\"5 3\"" : "")
        << " points=\"" << pts << "\"/>";
    pts.clear();
  };
  for (size_t i : drawn_points(xs, s.y, f)) {
    const bool ok = std::isfinite(s.y[i]) && (!f.log_y || s.y[i] > 0);
    if (!ok) {
      emit();
      continue;
    }
    pts += px(f.X(xs[i])) + "," + px(f.Y(s.y[i])) + " ";
  }
  emit();
  if (s.markers)
    for (size_t i = 0; i < s.y.size(); ++i)
      if (std::isfinite(s.y[i]) && (!f.log_y || s.y[i] > 0))
        o << "<circle class=\"point\" cx=\"" << px(f.X(xs[i])) << "\" cy=\"" << px(f.Y(s.y[i])) << "\" r=\"3\" fill=\"" << col
          << "\" data-value=\"" << number(s.y[i]) << "\" data-x=\"" << number(xs[i]) << "\"><title>" << escape(s.name)
          << ": " << tick_text(xs[i]) << ", " << number(s.y[i]) << "</title></circle>";
  o << "</g>\n";
  return o.str();
}

}  // namespace

std::string colour(size_t i) {
  static const char* okabe_ito[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
  return okabe_ito[i % 8];
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[40];
  std::snprintf(b, sizeof b, "%.12g", v);
  return b;
}

std::string line_chart(const Chart& c, const std::vector<Series>& series, const std::vector<Band>& bands,
                       const std::vector<Mark>& marks) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  std::vector<std::vector<double>> xs;
  for (const auto& s : series) {
    xs.push_back(s.x);
    if (xs.back().empty())
      for (size_t i = 0; i < s.y.size(); ++i) xs.back().push_back(static_cast<double>(i));
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || (c.log_y && s.y[i] <= 0)) continue;
      x0 = std::min(x0, xs.back()[i]), x1 = std::max(x1, xs.back()[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  const Frame f = make_frame(c, x0, x1, y0, y1);
  std::ostringstream o;
  o << open_svg(c, "line");
  for (const auto& b : bands) {
    const double a = std::clamp(f.X(b.x0), f.left, f.right), z = std::clamp(f.X(b.x1), f.left, f.right);
    o << "<rect class=\"band\" x=\"" << px(a) << "\" y=\"" << px(f.top) << "\" width=\"" << px(std::max(1.0, z - a))
      << "\" height=\"" << px(f.bottom - f.top) << "\" data-x0=\"" << number(b.x0) << "\" data-x1=\"" << number(b.x1)
      << "\"><title>" << escape(b.label) << "</title></rect>\n";
  }
  o << axes(c, f);
  std::vector<std::pair<std::string, std::string>> entries;
  for (size_t k = 0; k < series.size(); ++k) {
    const std::string col = colour(series[k].colour >= 0 ? static_cast<size_t>(series[k].colour) : k);
    o << polyline(series[k], xs[k], f, col);
    if (series[k].in_legend) entries.push_back({series[k].name, "fill=\"" + col + "\""});
  }
  for (const auto& m : marks)
    if (std::isfinite(m.y))
      o << "<path class=\"mark\" d=\"M" << px(f.X(m.x)) << "," << px(f.Y(m.y) - 9) << " l-5,-8 h10 z\" fill=\"#D55E00\" data-value=\""
        << number(m.y) << "\" data-x=\"" << number(m.x) << "\"><title>" << escape(m.label) << "</title></path>\n";
  if (!bands.empty()) entries.push_back({bands.front().label.empty() ? "window" : "labelled window", "class=\"band\""});
  if (!marks.empty()) entries.push_back({c.marks_label, "fill=\"#D55E00\""});
  o << legend(entries, f.left) << "</svg>\n";
  return o.str();
}

namespace {

/// One x tick per category, its label cut to fit its slot (about 6.5 px a character); a longer one
/// keeps its end ("…AAPL" tells series apart better than "Twitter_vo…"); the tooltip keeps all of it.
void category_ticks(Chart& c, const std::vector<Bar>& bars) {
  const double n = static_cast<double>(std::max<size_t>(1, bars.size()));
  const size_t fit = static_cast<size_t>(std::max(3.0, (c.width - kLeft - kRight) / n / 6.5));
  for (size_t i = 0; i < bars.size(); ++i) {
    const std::string& l = bars[i].label;
    c.x_ticks.push_back({static_cast<double>(i), l.size() <= fit ? l : "\u2026" + l.substr(l.size() - (fit - 1))});
  }
}

/// The whisker of `b` (lo..hi) at pixel column x, or "".
std::string errorbar(const Bar& b, double x, const Frame& f) {
  if (!(b.lo && b.hi && std::isfinite(*b.lo) && std::isfinite(*b.hi))) return "";
  std::ostringstream o;
  o << "<path class=\"errorbar\" d=\"M" << px(x) << "," << px(f.Y(*b.lo)) << " V" << px(f.Y(*b.hi)) << " M" << px(x - 5) << ","
    << px(f.Y(*b.lo)) << " h10 M" << px(x - 5) << "," << px(f.Y(*b.hi)) << " h10\" stroke=\"#000\" fill=\"none\" data-lo=\""
    << number(*b.lo) << "\" data-hi=\"" << number(*b.hi) << "\"/>";
  return o.str();
}

}  // namespace

const std::string& css() {
  static const std::string rules =
      "svg.chart { background: #fff; border: 1px solid #e2e2e2; font-size: 11px; }\n"
      "svg .title { font-size: 13px; font-weight: 600; } svg .axis-title { font-size: 12px; }\n"
      "svg .grid { stroke: #e6e6e6; } svg .tick { stroke: #444; } svg .frame { fill: none; stroke: #444; }\n"
      "svg .band, svg rect.band { fill: #E69F00; fill-opacity: 0.22; }\n";
  return rules;
}

std::string standalone(const std::string& chart) {
  const auto at = chart.find("<svg ");
  if (at == std::string::npos) return chart;
  const auto end = chart.find(">\n", at);
  std::string out = chart.substr(0, at) + "<svg xmlns=\"http://www.w3.org/2000/svg\" " + chart.substr(at + 5, end + 2 - at - 5);
  out += "<style>svg { font-family: system-ui, \"DejaVu Sans\", sans-serif; }\n" + css() + "</style>\n";
  return out + chart.substr(end + 2);
}

std::string bar_chart(const Chart& c, const std::vector<Bar>& bars) {
  double y0 = 0, y1 = 0;
  for (const auto& b : bars) {
    for (double v : {b.value, b.lo.value_or(b.value), b.hi.value_or(b.value)})
      if (std::isfinite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  }
  Chart cc = c;
  if (!cc.y_min && !cc.y_max && y0 >= 0 && y1 > 0) cc.y_min = 0, cc.y_max = y1 * 1.05;  // bars stand on 0
  const double n = static_cast<double>(std::max<size_t>(1, bars.size()));
  category_ticks(cc, bars);
  Frame f = make_frame(cc, -0.5, n - 0.5, y0, y1);
  std::ostringstream o;
  o << open_svg(cc, "bar") << axes(cc, f);
  const double w = (f.right - f.left) / n * 0.7;
  for (size_t i = 0; i < bars.size(); ++i) {
    const auto& b = bars[i];
    const double x = f.X(static_cast<double>(i));
    o << "<g class=\"bar-group\">";
    if (std::isfinite(b.value)) {
      const double ya = f.Y(std::max(0.0, b.value)), yb = f.Y(std::min(0.0, b.value));
      o << "<rect class=\"bar\" x=\"" << px(x - w / 2) << "\" y=\"" << px(ya) << "\" width=\"" << px(w) << "\" height=\""
        << px(std::max(0.5, yb - ya)) << "\" fill=\"" << colour(0) << "\" data-label=\"" << escape(b.label) << "\" data-value=\""
        << number(b.value) << "\"><title>" << escape(b.label) << ": " << number(b.value) << (b.note.empty() ? "" : " (" + escape(b.note) + ")")
        << "</title></rect>";
    }
    o << errorbar(b, x, f) << "</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string dot_chart(const Chart& c, const std::vector<Bar>& dots, std::optional<double> reference) {
  double y0 = INFINITY, y1 = -INFINITY;
  for (const auto& b : dots)
    for (double v : {b.value, b.lo.value_or(b.value), b.hi.value_or(b.value)})
      if (std::isfinite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  if (reference && std::isfinite(*reference)) y0 = std::min(y0, *reference), y1 = std::max(y1, *reference);
  if (!std::isfinite(y0)) y0 = 0, y1 = 1;
  Chart cc = c;
  const double n = static_cast<double>(std::max<size_t>(1, dots.size()));
  category_ticks(cc, dots);
  Frame f = make_frame(cc, -0.5, n - 0.5, y0, y1);  // the data's range (padded), not from 0
  std::ostringstream o;
  o << open_svg(cc, "dot") << axes(cc, f);
  if (reference && std::isfinite(*reference))
    o << "<path class=\"reference\" d=\"M" << px(f.left) << "," << px(f.Y(*reference)) << " H" << px(f.right)
      << "\" stroke=\"#777\" stroke-dasharray=\"4 3\" fill=\"none\" data-value=\"" << number(*reference) << "\"/>\n";
  for (size_t i = 0; i < dots.size(); ++i) {
    const auto& b = dots[i];
    const double x = f.X(static_cast<double>(i));
    o << "<g class=\"dot-group\">" << errorbar(b, x, f);
    if (std::isfinite(b.value))
      o << "<circle class=\"dot\" cx=\"" << px(x) << "\" cy=\"" << px(f.Y(b.value)) << "\" r=\"5\" fill=\"" << colour(0)
        << "\" data-label=\"" << escape(b.label) << "\" data-value=\"" << number(b.value) << "\"><title>" << escape(b.label) << ": "
        << number(b.value) << (b.note.empty() ? "" : " (" + escape(b.note) + ")") << "</title></circle>";
    o << "</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string heatmap(const Chart& c, const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                    const std::vector<std::vector<double>>& values, bool row_normalise) {
  Chart cc = c;
  const double nr = static_cast<double>(std::max<size_t>(1, rows.size())), nc = static_cast<double>(std::max<size_t>(1, cols.size()));
  const double cell = std::clamp(std::min((c.width - 130.0) / nc, 420.0 / nr), 8.0, 48.0);
  cc.width = std::max(460, static_cast<int>(130 + cell * nc + 20)), cc.height = static_cast<int>(kTop + cell * nr + 60);
  std::ostringstream o;
  o << open_svg(cc, "heatmap");
  const double left = 120, top = kTop;
  double vmax = 0;
  for (const auto& r : values)
    for (double v : r) vmax = std::max(vmax, v);
  for (size_t i = 0; i < values.size() && i < rows.size(); ++i) {
    double sum = 0;
    for (double v : values[i]) sum += v;
    o << "<text x=\"" << px(left - 6) << "\" y=\"" << px(top + (i + 0.5) * cell + 4) << "\" text-anchor=\"end\">" << escape(rows[i])
      << "</text>\n";
    for (size_t j = 0; j < values[i].size() && j < cols.size(); ++j) {
      const double v = values[i][j], t = row_normalise ? (sum > 0 ? v / sum : 0) : (vmax > 0 ? v / vmax : 0);
      // white to Okabe-Ito blue (#0072B2)
      const int r = static_cast<int>(255 - t * 255), g = static_cast<int>(255 - t * (255 - 114)), b = static_cast<int>(255 - t * (255 - 178));
      char fill[16];
      std::snprintf(fill, sizeof fill, "#%02x%02x%02x", r, g, b);
      o << "<rect class=\"cell\" x=\"" << px(left + j * cell) << "\" y=\"" << px(top + i * cell) << "\" width=\"" << px(cell)
        << "\" height=\"" << px(cell) << "\" fill=\"" << fill << "\" stroke=\"#fff\" data-row=\"" << i << "\" data-col=\"" << j
        << "\" data-value=\"" << number(v) << "\"><title>" << escape(rows[i]) << " -> " << escape(cols[j]) << ": " << number(v) << "</title></rect>";
      if (cell >= 22)
        o << "<text class=\"cell-text\" x=\"" << px(left + (j + 0.5) * cell) << "\" y=\"" << px(top + (i + 0.5) * cell + 4)
          << "\" text-anchor=\"middle\" fill=\"" << (t > 0.55 ? "#fff" : "#000") << "\">" << tick_text(v) << "</text>";
    }
    o << "\n";
  }
  for (size_t j = 0; j < cols.size(); ++j)
    o << "<text x=\"" << px(left + (j + 0.5) * cell) << "\" y=\"" << px(top + nr * cell + 14) << "\" text-anchor=\"middle\">"
      << escape(cols[j].size() > 8 ? cols[j].substr(0, 7) + "." : cols[j]) << "</text>";
  o << "\n<text class=\"axis-title\" x=\"" << px(left + nc * cell / 2) << "\" y=\"" << cc.height - 10 << "\" text-anchor=\"middle\">"
    << escape(c.x_label) << "</text><text class=\"axis-title\" transform=\"translate(14," << px(top + nr * cell / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << escape(c.y_label) << "</text>\n</svg>\n";
  return o.str();
}

std::string reliability_diagram(const Chart& c, const std::vector<std::pair<std::string, std::vector<ReliabilityBin>>>& curves) {
  Chart cc = c;
  cc.y_min = 0, cc.y_max = 1;
  const Frame f = make_frame(cc, 0, 1, 0, 1);
  std::ostringstream o;
  o << open_svg(cc, "reliability") << axes(cc, f);
  o << "<line class=\"diagonal\" x1=\"" << px(f.X(0)) << "\" y1=\"" << px(f.Y(0)) << "\" x2=\"" << px(f.X(1)) << "\" y2=\""
    << px(f.Y(1)) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n";
  std::vector<std::pair<std::string, std::string>> entries;
  const double groups = static_cast<double>(std::max<size_t>(1, curves.size()));
  for (size_t k = 0; k < curves.size(); ++k) {
    const std::string col = colour(k);
    entries.push_back({curves[k].first, "fill=\"" + col + "\""});
    o << "<g class=\"series\" data-name=\"" << escape(curves[k].first) << "\">";
    for (const auto& b : curves[k].second) {
      if (b.count <= 0) continue;
      const double bw = (f.X(b.upper) - f.X(b.lower)) / groups, x = f.X(b.lower) + k * bw;
      o << "<rect class=\"bin\" x=\"" << px(x + 0.5) << "\" y=\"" << px(f.Y(b.accuracy)) << "\" width=\"" << px(std::max(1.0, bw - 1))
        << "\" height=\"" << px(f.Y(0) - f.Y(b.accuracy)) << "\" fill=\"" << col << "\" fill-opacity=\"0.8\" data-value=\""
        << number(b.accuracy) << "\" data-confidence=\"" << number(b.confidence) << "\" data-count=\"" << b.count << "\"><title>"
        << escape(curves[k].first) << ": confidence " << tick_text(b.lower) << "-" << tick_text(b.upper) << ", mean "
        << number(b.confidence) << ", accuracy " << number(b.accuracy) << ", " << b.count << " samples</title></rect>";
    }
    o << "</g>\n";
  }
  entries.push_back({"perfect calibration", "fill=\"#555\""});
  o << legend(entries, f.left) << "</svg>\n";
  return o.str();
}

}  // namespace smlab::analysis::svg
