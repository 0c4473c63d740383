// The words that most raise and most lower each class over many explained texts: the mean
// attribution of a word over its occurrences in the rows whose explained target is that class,
// for words seen at least `min_count` times there (`smlab explain --top-words N`).
//
//   auto t = explain::top_words(rows, 20, 5);   // per class: the 20 highest and 20 lowest means
//   write_file_atomic("top_words.csv", explain::top_words_csv(t));
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace smlab::analysis::explain {

struct WordRow {
  std::string target;                                  ///< the explained class's name
  std::vector<std::pair<std::string, double>> words;   ///< (word, score), as explain sums pieces to words
};

struct WordStat {
  std::string word;
  int64_t count = 0;  ///< occurrences in the class's rows
  double mean = 0;    ///< mean score over them
};

struct ClassWords {
  std::string target;
  int64_t rows = 0, words = 0;  ///< rows of the class, distinct words kept (count >= min_count)
  std::vector<WordStat> positive;  ///< the `n` highest means, highest first
  std::vector<WordStat> negative;  ///< the `n` lowest means, lowest first
};

/// Per class in order of first appearance; ties in the mean go by word (byte order; reversed in `negative`).
std::vector<ClassWords> top_words(const std::vector<WordRow>& rows, int64_t n, int64_t min_count);

nlohmann::json top_words_json(const std::vector<ClassWords>& t, int64_t min_count);
/// class,direction,rank,word,mean,count (RFC 4180 quoting of the word).
std::string top_words_csv(const std::vector<ClassWords>& t);

}  // namespace smlab::analysis::explain
