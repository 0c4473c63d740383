#include "analysis/topics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "core/device.h"
#include "core/error.h"
#include "datasets/text_prep.h"
#include "datasets/tokenizer.h"

namespace smlab::analysis {

namespace {

const std::unordered_set<std::string>& stop_list() {
  static const std::unordered_set<std::string> s = {
      "a", "about", "after", "again", "all", "am", "amp", "an", "and", "any", "are", "as", "at", "be", "because",
      "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "don", "down", "for",
      "from", "get", "got", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "if",
      "in", "into", "is", "it", "its", "just", "ll", "me", "more", "most", "my", "no", "not", "now", "of", "off",
      "on", "once", "only", "or", "other", "our", "out", "over", "re", "rt", "same", "she", "should", "so", "some",
      "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through",
      "to", "too", "under", "until", "up", "user", "ve", "very", "was", "we", "were", "what", "when", "where",
      "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "im", "it's", "via",
      "going", "also", "us", "ur"};
  return s;
}

bool word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

bool all_digits(const std::string& w) {
  return std::all_of(w.begin(), w.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::vector<std::vector<std::string>> terms_of_all(const std::vector<std::string>& texts, const TfidfOptions& o) {
  std::vector<std::vector<std::string>> out;
  out.reserve(texts.size());
  if (o.terms == "words") {
    for (const auto& t : texts) out.push_back(words_of(t, o.stop_words));
    return out;
  }
  if (o.terms != "pieces") throw UserError("topics: unknown terms '" + o.terms + "' (words, pieces)");
  if (o.tokenizer.empty()) throw UserError("topics: --terms pieces needs --tokenizer MODEL");
  const auto tok = datasets::Tokenizer::load(o.tokenizer);
  for (const auto& t : texts) {
    std::vector<std::string> ps;
    for (int id : tok->encode(datasets::normalize_tweet(t)))
      if (!tok->is_special(id)) ps.push_back(tok->piece(id));
    out.push_back(std::move(ps));
  }
  return out;
}

// The kept vocabulary: df within [min_df, max_df * n], the max_terms most frequent, sorted.
std::vector<std::string> vocabulary(const std::vector<std::vector<std::string>>& docs, const TfidfOptions& o,
                                    std::unordered_map<std::string, int64_t>& df) {
  std::unordered_map<std::string, int64_t> total;
  for (const auto& d : docs) {
    std::unordered_set<std::string> seen(d.begin(), d.end());
    for (const auto& t : seen) ++df[t];
    for (const auto& t : d) ++total[t];
  }
  const double max_count = o.max_df * static_cast<double>(docs.size());
  std::vector<std::pair<int64_t, std::string>> kept;
  for (const auto& [t, n] : df)
    if (n >= o.min_df && static_cast<double>(n) <= max_count) kept.emplace_back(total[t], t);
  if (o.max_terms > 0 && static_cast<int64_t>(kept.size()) > o.max_terms) {
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    kept.resize(static_cast<size_t>(o.max_terms));
  }
  std::vector<std::string> terms;
  for (auto& [n, t] : kept) terms.push_back(t);
  std::sort(terms.begin(), terms.end());
  return terms;
}

// Days since 1970-01-01 to a civil "YYYY-MM" (H. Hinnant's days_from_civil inverse).
std::string month_of_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld", static_cast<long long>(y), static_cast<long long>(m));
  return buf;
}

std::vector<std::pair<std::string, double>> prevalence(const torch::Tensor& share_k, const std::vector<std::string>& dates) {
  std::map<std::string, std::pair<double, int64_t>> by_month;
  const auto s = share_k.accessor<float, 1>();
  for (size_t i = 0; i < dates.size(); ++i) {
    if (dates[i].size() < 7) continue;
    auto& [sum, n] = by_month[dates[i].substr(0, 7)];
    sum += s[static_cast<int64_t>(i)];
    ++n;
  }
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [m, v] : by_month) out.emplace_back(m, v.first / static_cast<double>(v.second));
  return out;
}

}  // namespace

std::vector<std::string> words_of(const std::string& text, bool stop_words) {
  const std::string t = datasets::normalize_tweet(text);
  std::vector<std::string> out;
  std::string w;
  const auto flush = [&] {
    if (w.size() >= 2 && !all_digits(w) && !(stop_words && stop_list().count(w))) out.push_back(w);
    w.clear();
  };
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\\' && i + 5 < t.size() && t[i + 1] == 'u' &&
        std::all_of(t.begin() + static_cast<std::ptrdiff_t>(i) + 2, t.begin() + static_cast<std::ptrdiff_t>(i) + 6,
                    [](unsigned char c) { return std::isxdigit(c); })) {
      flush();  // a literal \uXXXX escape (SemEval's files) separates words
      i += 5;
      continue;
    }
    const auto c = static_cast<unsigned char>(t[i]);
    if (t[i] == '@' && t.compare(i, 5, "@user") == 0) {
      flush();
      i += 4;
      continue;
    }
    if (word_byte(c)) w += static_cast<char>(std::tolower(c));
    else flush();
  }
  flush();
  return out;
}

Tfidf tfidf(const std::vector<std::string>& texts, const TfidfOptions& o) {
  if (texts.empty()) throw UserError("topics: the corpus is empty (0 documents)");
  const auto docs = terms_of_all(texts, o);
  std::unordered_map<std::string, int64_t> df_all;
  Tfidf r;
  r.terms = vocabulary(docs, o, df_all);
  const auto n = static_cast<int64_t>(docs.size());
  if (r.terms.empty())
    throw UserError("topics: no term is left of " + std::to_string(n) + " documents with min_df = " +
                    std::to_string(o.min_df) + " and max_df = " + std::to_string(o.max_df) +
                    " (lower --min-df or raise --max-df)");
  std::unordered_map<std::string, int64_t> col;
  for (size_t j = 0; j < r.terms.size(); ++j) {
    col[r.terms[j]] = static_cast<int64_t>(j);
    r.df.push_back(df_all[r.terms[j]]);
  }
  std::vector<int64_t> rows, cols;
  std::vector<float> vals;
  for (int64_t i = 0; i < n; ++i) {
    std::map<int64_t, int64_t> counts;
    for (const auto& t : docs[static_cast<size_t>(i)])
      if (auto it = col.find(t); it != col.end()) ++counts[it->second];
    double norm = 0;
    std::vector<std::pair<int64_t, double>> row;
    for (const auto& [j, c] : counts) {
      const double idf = std::log((1.0 + n) / (1.0 + r.df[static_cast<size_t>(j)])) + 1.0;
      row.emplace_back(j, c * idf);
      norm += c * idf * c * idf;
    }
    for (const auto& [j, v] : row) {
      rows.push_back(i);
      cols.push_back(j);
      vals.push_back(static_cast<float>(v / std::sqrt(norm)));
    }
  }
  const auto nnz = static_cast<int64_t>(vals.size());
  const auto idx = torch::stack({torch::tensor(rows, torch::kLong), torch::tensor(cols, torch::kLong)}).view({2, nnz});
  const auto shape = std::vector<int64_t>{n, static_cast<int64_t>(r.terms.size())};
  r.x = torch::sparse_coo_tensor(idx, torch::tensor(vals, torch::kFloat), shape).coalesce();
  r.present = torch::sparse_coo_tensor(idx, torch::ones({nnz}, torch::kFloat), shape).coalesce();
  return r;
}

double npmi_coherence(const torch::Tensor& present, const std::vector<int64_t>& top) {
  if (top.size() < 2) return 0;
  const double n = static_cast<double>(present.size(0));
  const auto p = present.index_select(1, torch::tensor(top, torch::kLong).to(present.device())).to_dense().to(torch::kDouble);
  const auto co = torch::mm(p.t(), p).cpu();  // [N, N] document co-occurrence counts
  const auto c = co.accessor<double, 2>();
  double sum = 0;
  int64_t pairs = 0;
  for (size_t i = 0; i < top.size(); ++i)
    for (size_t j = i + 1; j < top.size(); ++j, ++pairs) {
      const auto a = static_cast<int64_t>(i), b = static_cast<int64_t>(j);
      const double pij = c[a][b] / n, pi = c[a][a] / n, pj = c[b][b] / n;
      if (pij <= 0) sum += -1;
      else if (pij >= 1) sum += 1;
      else sum += std::log(pij / (pi * pj)) / -std::log(pij);
    }
  return sum / static_cast<double>(pairs);
}

std::string snowflake_month(const std::string& id) {
  if (id.empty() || id.size() > 20 || !all_digits(id)) return "";
  const unsigned long long v = std::stoull(id);
  if (v < (1ULL << 22) * 1000ULL * 86400ULL) return "";  // before the scheme's first day
  const long long ms = static_cast<long long>(v >> 22) + 1288834974657LL;
  return month_of_days(ms / 86400000LL);
}

TopicsResult topics(const std::vector<std::string>& texts, const std::vector<std::string>& dates,
                    const TopicsOptions& o) {
  const auto tf = tfidf(texts, o.tfidf);
  const auto device = resolve_device(o.device);
  TopicsResult r;
  r.vocabulary = static_cast<int64_t>(tf.terms.size());
  r.fit = nmf(tf.x.to(device), o.nmf);
  const auto w = r.fit.w.cpu(), h = r.fit.h.cpu();
  const auto rowsum = w.sum(1, true);
  r.doc_topic = torch::where(rowsum > 0, w / rowsum.clamp_min(1e-30), torch::zeros_like(w));
  const auto arg = r.doc_topic.argmax(1);
  for (int64_t i = 0; i < w.size(0); ++i)
    r.dominant.push_back(rowsum[i][0].item<float>() > 0 ? arg[i].item<int64_t>() : -1);
  const int64_t nt = std::min<int64_t>(o.top_terms, h.size(1)), nd = std::min<int64_t>(o.top_docs, w.size(0));
  for (int64_t k = 0; k < h.size(0); ++k) {
    Topic t;
    const auto [tv, ti] = h[k].topk(nt);
    std::vector<int64_t> top;
    for (int64_t j = 0; j < nt; ++j) {
      top.push_back(ti[j].item<int64_t>());
      t.terms.emplace_back(tf.terms[static_cast<size_t>(top.back())], tv[j].item<double>());
    }
    const auto [dv, di] = w.select(1, k).topk(nd);
    for (int64_t j = 0; j < nd; ++j) t.docs.emplace_back(di[j].item<int64_t>(), dv[j].item<double>());
    t.npmi = npmi_coherence(tf.present, top);
    t.share = r.doc_topic.select(1, k).mean().item<double>();
    if (!dates.empty()) t.prevalence = prevalence(r.doc_topic.select(1, k).contiguous(), dates);
    r.topics.push_back(std::move(t));
  }
  return r;
}

}  // namespace smlab::analysis
