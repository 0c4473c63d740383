// Small string helpers: joining, splitting, and "did you mean" suggestions.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace smlab::text {

/// Levenshtein edit distance (insert, delete, substitute all cost 1).
size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word`, or "" when none is close enough to be a plausible typo
/// (distance at most max(2, |word|/3)).
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

/// "; did you mean 'x'?" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
/// `s` with ASCII letters lower-cased (file extensions, format names).
std::string lower(std::string s);

/// Whether all of `s` is a base-10 integer (std::stoll's syntax, nothing left over); the value in *out.
bool parse_int(const std::string& s, long long* out);

/// `v` with `precision` digits after the point ("%.*f"), or "n/a" when it is not finite (report tables).
std::string fixed(double v, int precision = 3);

/// Human-readable duration: "42s", "3m05s", "1h02m".
std::string format_duration(double seconds);

}  // namespace smlab::text
