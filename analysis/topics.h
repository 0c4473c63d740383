// `smlab topics`: what a collection of posts is about. TF-IDF over words or SentencePiece pieces,
// NMF (analysis/nmf.h) into k topics, and for each topic its top terms, its most representative
// documents, its prevalence over time (where the documents have dates) and its coherence (NPMI
// over document co-occurrence of its top terms, on the same corpus: Bouma 2009, Roeder et al. 2015).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/nmf.h"

namespace smlab::analysis {

struct TfidfOptions {
  std::string terms = "words";  ///< words | pieces (SentencePiece, needs tokenizer)
  std::filesystem::path tokenizer;
  int64_t min_df = 2;        ///< keep terms in at least this many documents
  double max_df = 0.5;       ///< ... and in at most this share of them
  int64_t max_terms = 20000; ///< the most frequent terms after the df filter (0: all)
  bool stop_words = true;    ///< words: drop a built-in English stop list, "user", "rt", "amp"
};

/// Documents x terms: TF-IDF as scikit-learn's TfidfVectorizer computes it (raw counts, smooth
/// idf = ln((1 + n) / (1 + df)) + 1, each row l2-normalised), sparse COO [n, V] float32.
struct Tfidf {
  torch::Tensor x;              ///< [n, V] sparse
  torch::Tensor present;        ///< [n, V] sparse 0/1: the term occurs in the document
  std::vector<std::string> terms;
  std::vector<int64_t> df;
};

/// Terms of one text: lower-cased ASCII words of 2+ characters (letters, digits, '_', UTF-8),
/// after normalize_tweet (links dropped, mentions made "@user") and \uXXXX escapes split out;
/// numbers and stop words dropped when asked.
std::vector<std::string> words_of(const std::string& text, bool stop_words);

/// Throws UserError for an empty corpus or no term left after the filters (naming them).
Tfidf tfidf(const std::vector<std::string>& texts, const TfidfOptions& o);

struct TopicsOptions {
  TfidfOptions tfidf;
  NmfOptions nmf;
  int64_t top_terms = 10;  ///< terms listed (and scored for coherence) per topic
  int64_t top_docs = 5;    ///< representative documents per topic
  std::string device = "cpu";
};

struct Topic {
  std::vector<std::pair<std::string, double>> terms;  ///< top terms with their H weights
  std::vector<std::pair<int64_t, double>> docs;       ///< document index, W weight
  double npmi = 0;                                    ///< mean NPMI over the top-term pairs
  double share = 0;                                   ///< mean share of the documents' topic weight
  std::vector<std::pair<std::string, double>> prevalence;  ///< month -> mean share, where dated
};

struct TopicsResult {
  std::vector<Topic> topics;
  std::vector<int64_t> dominant;  ///< per document: its largest topic, -1 when all weights are 0
  torch::Tensor doc_topic;        ///< [n, k] shares (rows sum to 1 or are 0)
  NmfResult fit;
  int64_t vocabulary = 0;
};

/// `dates`: per document "YYYY-MM..." or "" (empty vector: no dates).
TopicsResult topics(const std::vector<std::string>& texts, const std::vector<std::string>& dates,
                    const TopicsOptions& o);

/// Mean NPMI of the term pairs of `top` (column ids), from the 0/1 document-term matrix; a pair
/// that never co-occurs counts -1.
double npmi_coherence(const torch::Tensor& present, const std::vector<int64_t>& top);

/// The UTC month "YYYY-MM" of a Twitter (snowflake) id, "" when it is not one (before 2010-11).
std::string snowflake_month(const std::string& id);

}  // namespace smlab::analysis
