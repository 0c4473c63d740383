#include "datasets/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/text.h"

namespace smlab::datasets {

std::vector<std::string> split_csv_line(const std::string& line, char delimiter, bool* closed) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"' && cur.empty()) {
      quoted = true;
    } else if (c == delimiter) {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(std::move(cur));
  if (closed) *closed = !quoted;
  return out;
}

bool parse_number(const std::string& text, double* out) {
  const std::string t = text::trim(text);
  if (t.empty()) return false;
  const char* b = t.data();
  const char* e = b + t.size();
  if (*b == '+') ++b;
  double v = 0;
  const auto r = std::from_chars(b, e, v);
  if (r.ec != std::errc() || r.ptr != e || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

char delimiter_from_name(const std::string& name) {
  if (name == "comma") return ',';
  if (name == "semicolon") return ';';
  if (name == "tab") return '\t';
  return 0;
}

int64_t CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int64_t>(i);
  std::vector<std::string> quoted;
  for (const auto& h : header) quoted.push_back("'" + h + "'");
  throw UserError(path + ": no column '" + name + "'" + text::did_you_mean(name, header) + " (columns: " +
                  text::join(quoted, ", ") + ")");
}

bool CsvTable::has_column(const std::string& name) const {
  for (const auto& h : header)
    if (h == name) return true;
  return false;
}

std::string CsvTable::where(int64_t row, int64_t col) const {
  return path + ":" + std::to_string(lines.at(row)) + ": column '" + header.at(col) + "'";
}

bool CsvTable::missing(int64_t row, int64_t col) const { return text::trim(rows.at(row).at(col)).empty(); }

double CsvTable::number(int64_t row, int64_t col) const {
  const std::string& f = rows.at(row).at(col);
  if (missing(row, col)) throw UserError(where(row, col) + ": missing value (empty field)");
  double v = 0;
  if (!parse_number(f, &v)) throw UserError(where(row, col) + ": cannot read '" + f + "' as a finite number");
  return v;
}

CsvTable read_csv(const std::filesystem::path& path, char delimiter) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path.string() + ": cannot open (" + (std::filesystem::exists(path) ? "unreadable" : "not found") + ")");
  CsvTable t;
  t.path = path.string();
  std::string line;
  int64_t lineno = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (text::trim(line).empty()) continue;
    if (!have_header) {
      if (delimiter == 0) {
        size_t best = 0;
        delimiter = ',';
        for (char c : {',', ';', '\t'}) {
          const size_t n = static_cast<size_t>(std::count(line.begin(), line.end(), c));
          if (n > best) best = n, delimiter = c;
        }
      }
      t.delimiter = delimiter;
      for (auto& h : split_csv_line(line, delimiter)) t.header.push_back(text::trim(h));
      // Trailing unnamed columns are allowed (their fields must stay empty); other names must be unique.
      for (size_t i = 0; i < t.header.size(); ++i)
        for (size_t j = i + 1; j < t.header.size(); ++j)
          if (!t.header[i].empty() && t.header[i] == t.header[j])
            throw UserError(t.path + ":" + std::to_string(lineno) + ": column name '" + t.header[i] + "' appears twice");
      have_header = true;
      continue;
    }
    auto f = split_csv_line(line, delimiter);
    const size_t want = t.header.size();
    if (f.size() > want) {
      for (size_t i = want; i < f.size(); ++i)
        if (!text::trim(f[i]).empty())
          throw UserError(t.path + ":" + std::to_string(lineno) + ": " + std::to_string(f.size()) +
                          " fields, the header has " + std::to_string(want));
      f.resize(want);
    }
    if (f.size() < want)
      throw UserError(t.path + ":" + std::to_string(lineno) + ": " + std::to_string(f.size()) + " fields, the header has " +
                      std::to_string(want));
    t.rows.push_back(std::move(f));
    t.lines.push_back(lineno);
  }
  if (!have_header) throw UserError(t.path + ": empty file (no header row)");
  return t;
}

}  // namespace smlab::datasets
