// A small CSV reader for numeric tables and time series (csv_table, time_series_windows,
// `smlab segment`): a header row, then one record per line. Handles a UTF-8 byte-order mark,
// CRLF line ends, double-quoted fields ("" inside quotes is a quote) and blank lines (skipped).
// Every error names the file and line, and the column when one is involved:
//   data.csv:17: column 'like': cannot read 'n/a' as a number
//
// Example:
//   auto t = smlab::datasets::read_csv("dataset_Facebook.csv");   // delimiter sniffed: ';'
//   const int64_t like = t.column("like");
//   double v = t.number(0, like);
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace smlab::datasets {

struct CsvTable {
  std::string path;
  char delimiter = ',';
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  ///< every row has header.size() fields
  std::vector<int64_t> lines;                  ///< 1-based line number of each row in the file

  int64_t size() const { return static_cast<int64_t>(rows.size()); }
  /// Index of the column called `name`; throws UserError naming the file and listing the columns.
  int64_t column(const std::string& name) const;
  bool has_column(const std::string& name) const;
  /// "file:line: column 'name'" for messages.
  std::string where(int64_t row, int64_t col) const;
  /// The field as a finite number. Throws UserError (file:line, column, the text) for an empty
  /// field ("missing value") and for text that is not a finite number.
  double number(int64_t row, int64_t col) const;
  /// Whether the field is empty (after trimming spaces).
  bool missing(int64_t row, int64_t col) const;
};

/// Reads `path`. `delimiter` 0 sniffs the header line: the most frequent of ',', ';' and TAB.
/// A row with more fields than the header is an error unless the extra fields are empty; a row
/// with fewer fields is an error. Throws UserError naming the file (and line).
CsvTable read_csv(const std::filesystem::path& path, char delimiter = 0);

/// Splits one line at `delimiter` with RFC 4180 quoting: a field that starts with a double quote
/// runs to its closing quote ("" inside is a quote); a quote inside an unquoted field is literal.
/// `closed`, when given, is set to false for an unterminated quote.
std::vector<std::string> split_csv_line(const std::string& line, char delimiter, bool* closed = nullptr);

/// Parses a whole string as a finite double ("12", "-3.5e2", " 7 "); false otherwise.
bool parse_number(const std::string& text, double* out);

/// "comma"/"semicolon"/"tab"/"auto" (config values) -> the character, 0 for auto.
char delimiter_from_name(const std::string& name);

}  // namespace smlab::datasets
