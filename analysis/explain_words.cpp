#include "analysis/explain_words.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace smlab::analysis::explain {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

nlohmann::json stats_json(const std::vector<WordStat>& v) {
  auto j = nlohmann::json::array();
  for (const auto& w : v) j.push_back({{"word", w.word}, {"mean", w.mean}, {"count", w.count}});
  return j;
}

}  // namespace

std::vector<ClassWords> top_words(const std::vector<WordRow>& rows, int64_t n, int64_t min_count) {
  std::vector<std::string> order;
  std::map<std::string, std::map<std::string, std::pair<double, int64_t>>> sums;  // class -> word -> (sum, count)
  std::map<std::string, int64_t> row_count;
  for (const auto& r : rows) {
    if (!sums.count(r.target)) order.push_back(r.target);
    auto& m = sums[r.target];
    ++row_count[r.target];
    for (const auto& [w, s] : r.words) {
      auto& e = m[w];
      e.first += s;
      ++e.second;
    }
  }
  std::vector<ClassWords> out;
  for (const auto& c : order) {
    std::vector<WordStat> kept;
    for (const auto& [w, e] : sums[c])
      if (e.second >= min_count) kept.push_back({w, e.second, e.first / static_cast<double>(e.second)});
    ClassWords cw{c, row_count[c], static_cast<int64_t>(kept.size()), {}, {}};
    std::stable_sort(kept.begin(), kept.end(), [](const WordStat& a, const WordStat& b) { return a.mean > b.mean; });
    const auto take = std::min<size_t>(static_cast<size_t>(std::max<int64_t>(n, 0)), kept.size());
    cw.positive.assign(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(take));
    cw.negative.assign(kept.rbegin(), kept.rbegin() + static_cast<std::ptrdiff_t>(take));
    out.push_back(std::move(cw));
  }
  return out;
}

nlohmann::json top_words_json(const std::vector<ClassWords>& t, int64_t min_count) {
  auto classes = nlohmann::json::array();
  for (const auto& c : t)
    classes.push_back({{"target", c.target}, {"rows", c.rows}, {"words", c.words},
                       {"positive", stats_json(c.positive)}, {"negative", stats_json(c.negative)}});
  return {{"min_count", min_count}, {"classes", classes}};
}

std::string top_words_csv(const std::vector<ClassWords>& t) {
  std::string out = "class,direction,rank,word,mean,count\n";
  char num[64];
  for (const auto& c : t) {
    for (const auto* dir : {"positive", "negative"}) {
      const auto& v = dir[0] == 'p' ? c.positive : c.negative;
      for (size_t i = 0; i < v.size(); ++i) {
        std::snprintf(num, sizeof num, "%.9g", v[i].mean);
        out += csv_field(c.target) + "," + dir + "," + std::to_string(i + 1) + "," + csv_field(v[i].word) + "," + num +
               "," + std::to_string(v[i].count) + "\n";
      }
    }
  }
  return out;
}

}  // namespace smlab::analysis::explain
