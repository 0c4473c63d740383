// `smlab topics`: NMF topic models of a text collection (analysis/topics.h).
#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/topics.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "inference/readers.h"
#include "tools/cli/cli.h"

namespace smlab::cli {

namespace {

struct Corpus {
  std::vector<std::string> ids, texts, dates;
  int64_t rejected = 0;
};

Corpus read_corpus(const Args& args) {
  inference::ReadOptions ro;
  ro.input = args.positional(0);
  ro.id_field = args.get("id-field");
  ro.text_field = args.get("text-field");
  const std::string date = args.get("date-field");
  if (!date.empty() && date != "snowflake") ro.extra_field = date;
  inference::InputSpec spec;
  spec.kind = models::InputKind::Tokens;
  spec.dtype = inference::DType::Int64;
  spec.tokens = inference::TokenPreprocess{};
  const auto format = inference::detect_input_format(ro.input, args.get("input-format"));
  auto in = inference::read_input(ro, format, spec, "topics");
  Corpus c;
  for (auto& r : in.records) {
    if (!r.reject.empty()) {
      ++c.rejected;
      continue;
    }
    if (date == "snowflake") c.dates.push_back(analysis::snowflake_month(r.id));
    else if (!date.empty()) c.dates.push_back(r.extra);
    c.ids.push_back(std::move(r.id));
    c.texts.push_back(std::move(r.payload));
  }
  if (const int64_t limit = args.get_int("limit"); limit > 0 && static_cast<int64_t>(c.texts.size()) > limit) {
    c.ids.resize(static_cast<size_t>(limit));
    c.texts.resize(static_cast<size_t>(limit));
    if (!c.dates.empty()) c.dates.resize(static_cast<size_t>(limit));
  }
  return c;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

nlohmann::json topic_json(const analysis::Topic& t, size_t k, const Corpus& c) {
  nlohmann::json terms = nlohmann::json::array(), docs = nlohmann::json::array(), prev = nlohmann::json::array();
  for (const auto& [w, v] : t.terms) terms.push_back({w, v});
  for (const auto& [d, v] : t.docs)
    docs.push_back({{"id", c.ids[static_cast<size_t>(d)]}, {"text", c.texts[static_cast<size_t>(d)]}, {"weight", v}});
  for (const auto& [m, v] : t.prevalence) prev.push_back({m, v});
  return {{"topic", k}, {"terms", terms}, {"npmi", t.npmi}, {"share", t.share}, {"docs", docs}, {"prevalence", prev}};
}

void write_outputs(const std::filesystem::path& dir, const analysis::TopicsResult& r, const Corpus& c,
                   const analysis::TopicsOptions& o) {
  std::filesystem::create_directories(dir);
  nlohmann::json topics = nlohmann::json::array();
  double mean_npmi = 0;
  std::ostringstream terms_csv, docs_csv;
  terms_csv << "topic,rank,term,weight\n";
  for (size_t k = 0; k < r.topics.size(); ++k) {
    topics.push_back(topic_json(r.topics[k], k, c));
    mean_npmi += r.topics[k].npmi / static_cast<double>(r.topics.size());
    for (size_t i = 0; i < r.topics[k].terms.size(); ++i)
      terms_csv << k << "," << i + 1 << "," << csv_field(r.topics[k].terms[i].first) << "," << r.topics[k].terms[i].second << "\n";
  }
  docs_csv << "id,topic";
  for (size_t k = 0; k < r.topics.size(); ++k) docs_csv << ",share_" << k;
  docs_csv << "\n";
  const auto s = r.doc_topic.accessor<float, 2>();
  for (size_t i = 0; i < c.ids.size(); ++i) {
    docs_csv << csv_field(c.ids[i]) << "," << r.dominant[i];
    for (int64_t k = 0; k < s.size(1); ++k) docs_csv << "," << s[static_cast<int64_t>(i)][k];
    docs_csv << "\n";
  }
  const nlohmann::json j = {{"documents", c.ids.size()}, {"rejected", c.rejected}, {"vocabulary", r.vocabulary},
                            {"terms", o.tfidf.terms}, {"k", o.nmf.k}, {"solver", o.nmf.solver},
                            {"init", o.nmf.init}, {"iterations", r.fit.iterations},
                            {"objective", r.fit.objective.back()}, {"reconstruction_error", r.fit.reconstruction_error()},
                            {"mean_npmi", mean_npmi}, {"dated", !c.dates.empty()}, {"topics", topics}};
  write_file_atomic(dir / "topics.json", j.dump(2) + "\n");
  write_file_atomic(dir / "topics.csv", terms_csv.str());
  write_file_atomic(dir / "doc_topics.csv", docs_csv.str());
}

int run_topics(const Args& args) {
  analysis::TopicsOptions o;
  o.tfidf.terms = args.get("terms");
  o.tfidf.tokenizer = args.get("tokenizer");
  o.tfidf.min_df = args.get_int("min-df", 1, 1 << 30);
  o.tfidf.max_df = args.get_double("max-df");
  if (!(o.tfidf.max_df > 0 && o.tfidf.max_df <= 1)) throw UsageError("--max-df must be in (0, 1], got " + args.get("max-df"));
  o.tfidf.max_terms = args.get_int("max-terms", 0, 1 << 30);
  o.tfidf.stop_words = !args.has("keep-stop-words");
  o.nmf.k = args.get_int("k", 1, 1 << 20);
  o.nmf.solver = args.get("solver");
  o.nmf.init = args.get("init");
  o.nmf.max_iter = args.get_int("max-iter", 1, 1 << 30);
  o.nmf.tol = args.get_double("tol");
  o.nmf.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.top_terms = args.get_int("top-terms", 2, 1000);
  o.top_docs = args.get_int("top-docs", 0, 1000);
  o.device = args.get("device");
  const auto corpus = read_corpus(args);
  const auto r = analysis::topics(corpus.texts, corpus.dates, o);
  const std::filesystem::path out = args.get("output");
  write_outputs(out, r, corpus, o);
  std::printf("%zu documents (%lld rejected), %lld terms, k = %lld, %s: %lld iterations, ||X - WH|| = %.4f\n",
              corpus.texts.size(), static_cast<long long>(corpus.rejected), static_cast<long long>(r.vocabulary),
              static_cast<long long>(o.nmf.k), o.nmf.solver.c_str(), static_cast<long long>(r.fit.iterations),
              r.fit.reconstruction_error());
  for (size_t k = 0; k < r.topics.size(); ++k) {
    std::vector<std::string> words;
    for (const auto& [w, v] : r.topics[k].terms) words.push_back(w);
    std::printf("topic %2zu  share %5.1f%%  NPMI %+.3f  %s\n", k, 100 * r.topics[k].share, r.topics[k].npmi,
                text::join(words, " ").c_str());
  }
  std::cout << "written: " << (out / "topics.json").string() << ", topics.csv, doc_topics.csv\n";
  return 0;
}

}  // namespace

Verb topics_verb() {
  VerbSpec s;
  s.name = "topics";
  s.summary = "NMF topic model of a text collection: top terms, representative posts, prevalence over time, NPMI";
  s.description =
      "Reads texts as `smlab score` does (TSV, CSV or JSONL; --id-field, --text-field), builds TF-IDF over\n"
      "words (links dropped, mentions and a small English stop list removed) or SentencePiece pieces\n"
      "(--terms pieces --tokenizer MODEL), keeps terms in at least --min-df documents and at most --max-df\n"
      "of them, and factorises it with NMF (--solver hals or mu; NNDSVD-a start) into --k topics, in\n"
      "LibTorch on --device. For each topic: its top terms, its most representative documents, its mean\n"
      "share of the documents, its coherence (mean NPMI of its top-term pairs over document co-occurrence\n"
      "in the same corpus; -1 to 1, higher is more coherent) and, with --date-field, its mean share per\n"
      "month (a column or JSON key holding YYYY-MM..., or `snowflake` to read the month from tweet ids).\n"
      "Writes <output>/topics.json, topics.csv (topic, rank, term, weight) and doc_topics.csv (id, dominant\n"
      "topic, shares).";
  s.positionals = {{"input", "TSV, CSV or JSONL file of texts"}};
  s.flags = {{"output", "DIR", "output folder", "topics"},
             {"k", "K", "number of topics", "10"},
             {"id-field", "F", "id column name or 0-based index / JSON key (\"line\": line numbers)", "id"},
             {"text-field", "F", "text column name or 0-based index / JSON key", "text"},
             {"date-field", "F", "date column / JSON key (YYYY-MM...), or `snowflake` for tweet ids", ""},
             {"input-format", "FMT", "tsv, csv, jsonl or auto (from the extension)", "auto"},
             {"terms", "T", "words or pieces", "words"},
             {"tokenizer", "MODEL", "SentencePiece model for --terms pieces", ""},
             {"min-df", "N", "keep terms in at least N documents", "5"},
             {"max-df", "F", "keep terms in at most this share of documents", "0.5"},
             {"max-terms", "N", "keep the N most frequent terms after the df filter (0 = all)", "20000"},
             {"keep-stop-words", "", "words: keep stop words", ""},
             {"solver", "S", "hals or mu", "hals"},
             {"init", "I", "nndsvda, nndsvd or random", "nndsvda"},
             {"max-iter", "N", "NMF iterations at most", "200"},
             {"tol", "T", "stop when 10 iterations lower the objective by less than T of its start (0 = never)", "1e-4"},
             {"seed", "S", "seed of --init random", "0"},
             {"top-terms", "N", "terms listed and scored per topic", "10"},
             {"top-docs", "N", "representative documents per topic", "5"},
             {"limit", "N", "use only the first N texts (0 = all)", "0"},
             {"device", "DEV", "auto, cpu, cuda or cuda:N", "auto"}};
  s.examples = {
      "smlab topics ../shared/datasets/semeval2017_task4a/train_pool/twitter-2016train-A.tsv --id-field 0 --text-field 2 "
      "--date-field snowflake --k 20 --output runs/topics_semeval",
      "smlab topics posts.jsonl --text-field body --date-field created_at --k 8 --solver mu"};
  return {s, run_topics};
}

}  // namespace smlab::cli
