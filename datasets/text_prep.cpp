#include "datasets/text_prep.h"

#include <torch/torch.h>

#include "datasets/pack.h"
#include "datasets/tokenizer.h"

namespace smlab::datasets {
namespace {

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string decode_entities(const std::string& s) {
  static const std::pair<const char*, const char*> entities[] = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&apos;", "'"}};
  if (s.find('&') == std::string::npos) return s;
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    bool hit = false;
    if (s[i] == '&') {
      for (const auto& [from, to] : entities) {
        const size_t n = std::char_traits<char>::length(from);
        if (s.compare(i, n, from) == 0) {
          out += to;
          i += n;
          hit = true;
          break;
        }
      }
    }
    if (!hit) out += s[i++];
  }
  return out;
}

// Splits UTF-8 into code points (each as its byte string); invalid bytes count as one each.
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (i + n > s.size()) n = 1;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string normalize_tweet(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && ascii_space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !ascii_space(text[j])) ++j;
    if (j == i) break;
    const std::string_view word(text.data() + i, j - i);
    i = j;
    size_t p = 0;
    while (p < word.size() && word[p] == '"') ++p;
    std::string_view keep = word;
    if (p < word.size() && word[p] == '@' && word.size() - p > 1) keep = "@user";
    else if (word.substr(0, 4) == "http") continue;
    if (!out.empty()) out += ' ';
    out.append(keep);
  }
  return out;
}

std::string match_key(const std::string& text) {
  const std::string t = normalize_tweet(decode_entities(unescape_unicode(text)));
  std::string key;
  key.reserve(t.size());
  for (char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) key += ch;
    else if (c >= 'A' && c <= 'Z') key += static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

torch::Tensor char_ngram_table(const Tokenizer& tok, const std::vector<int64_t>& ns, int64_t buckets, int64_t per_piece,
                               int64_t* truncated) {
  TORCH_CHECK(buckets > 0 && per_piece > 0, "char_ngram_table: buckets and per_piece must be positive");
  const int64_t v = tok.vocab_size();
  auto table = torch::zeros({v, per_piece}, torch::kInt64);
  auto* t = table.data_ptr<int64_t>();
  int64_t cut = 0;
  for (int64_t id = 0; id < v; ++id) {
    if (tok.is_special(static_cast<int>(id))) continue;
    auto cps = code_points(tok.piece(static_cast<int>(id)));
    cps.insert(cps.begin(), "<");
    cps.push_back(">");
    int64_t k = 0;
    bool full = false;
    for (const int64_t n : ns) {
      TORCH_CHECK(n >= 1, "char n-gram sizes must be >= 1, got ", n);
      for (size_t s = 0; s + static_cast<size_t>(n) <= cps.size(); ++s) {
        if (k == per_piece) {
          full = true;
          break;
        }
        std::string g;
        for (int64_t q = 0; q < n; ++q) g += cps[s + q];
        t[id * per_piece + k++] = v + static_cast<int64_t>(fnv1a(g) % static_cast<uint64_t>(buckets));
      }
    }
    cut += full;
  }
  if (truncated) *truncated = cut;
  return table;
}

}  // namespace smlab::datasets
