// text_tsv: text classification from TSV/CSV files (SemEval-2017 4A "id<TAB>label<TAB>text"),
// TweetEval "<split>_text.txt" + "<split>_labels.txt", folders of such files, or text folders
// written by `smlab pack`. Texts are optionally normalised (TweetEval style), the training
// source can drop texts that also occur in the evaluation sources and merge its own duplicates,
// and everything is tokenised once, at construction, with a SentencePiece model into
// [N, max_len] int64 ids (truncated; padded with 0), so get() is a thread-safe gather. With
// char_ngrams, DatasetInfo also carries a table of hashed character n-gram ids per piece, which
// the text models look up themselves.
// Class ids follow data.classes, else the train source's mapping.txt / packed classes, else the
// sorted distinct train labels.
#include "datasets/text_tsv.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/dataset.h"
#include "datasets/pack.h"
#include "datasets/split.h"
#include "datasets/text_prep.h"
#include "datasets/masked_pieces.h"
#include "datasets/tokenizer.h"

namespace smlab::datasets {
namespace fs = std::filesystem;
namespace {

struct Source {
  std::vector<std::string> labels, texts, sources;
  std::vector<std::string> classes;  // from mapping.txt or a manifest
  int64_t skipped = 0;               // bad records dropped (skip_bad)
};

Source read_source(const std::string& path, const config::Config& cfg) {
  Source s;
  if (fs::is_directory(path) && fs::exists(fs::path(path) / "manifest.json")) {
    PackedData p = read_packed(path, cfg.get<bool>("data.verify"));
    if (p.kind != "text") throw UserError(path + ": packed " + p.kind + " data, text_tsv needs text");
    s.classes = p.classes;
    for (int64_t i = 0; i < p.count(); ++i) {
      s.labels.push_back(p.classes[p.labels[i]]);
      s.sources.push_back(path + "#" + std::to_string(i));
    }
    s.texts = std::move(p.texts);
    return s;
  }
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path)) {
      const auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".tsv" || ext == ".csv")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw UserError(path + ": no .tsv or .csv files (and no manifest.json)");
  } else {
    if (!fs::exists(path)) throw UserError(path + ": not found");
    files.push_back(path);
  }
  TextReadOptions o;
  o.label_column = cfg.get<int>("data.label_column");
  o.text_column = cfg.get<int>("data.text_column");
  const auto d = cfg.get<std::string>("data.delimiter");
  o.delimiter = d == "tab" ? '\t' : d == "comma" ? ',' : 0;
  o.unescape = cfg.get<bool>("data.unescape");
  o.skip_bad = cfg.get<bool>("data.skip_bad");
  for (const auto& f : files) {
    std::vector<BadRecord> skipped;
    std::vector<std::string> mapping;
    for (auto& r : read_text_records(f, o, &skipped, &mapping)) {
      s.labels.push_back(std::move(r.label));
      s.texts.push_back(std::move(r.text));
      s.sources.push_back(std::move(r.source));
    }
    s.skipped += static_cast<int64_t>(skipped.size());
    if (!mapping.empty()) s.classes = mapping;
  }
  return s;
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(s.begin() + i, ',');
  return s;
}

// Token ids held in memory; a batch is cut to its longest text when `trim` (the text models give
// the same result for any amount of trailing padding, so this only saves work).
class TokenDataset : public TensorDataset {
 public:
  TokenDataset(torch::Tensor ids, torch::Tensor labels, DatasetInfo info, bool trim)
      : TensorDataset(std::move(ids), std::move(labels), std::move(info)), trim_(trim) {}
  Batch get(const std::vector<int64_t>& indices) const override {
    Batch b = TensorDataset::get(indices);
    if (trim_ && b.input.size(0) > 0) {
      const int64_t longest = (b.input != 0).sum(1).max().item<int64_t>();
      if (longest < b.input.size(1)) b.input = b.input.narrow(1, 0, std::max<int64_t>(longest, 1)).contiguous();
    }
    return b;
  }

 private:
  bool trim_;
};

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

int64_t subset_seed(const config::Config& cfg) {
  const int64_t s = cfg.get<int64_t>("data.subset_seed");
  return s >= 0 ? s : cfg.get<int64_t>("experiment.seed");
}

std::optional<std::vector<int64_t>> training_rows(const config::Config& cfg, int64_t n) {
  const auto rows_file = cfg.get<std::string>("data.train_rows");
  const auto limit = cfg.get<int64_t>("data.train_limit");
  if (!rows_file.empty() && limit > 0)
    throw UserError("data.train_rows and data.train_limit are both set; use one (train_rows " + rows_file +
                      ", train_limit " + std::to_string(limit) + ")");
  if (limit > 0) {
    if (limit >= n) return std::nullopt;
    const int64_t seed = subset_seed(cfg);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed) * 7919 + 17);
    const auto idx = std::get<0>(torch::randperm(n, gen, torch::kInt64).narrow(0, 0, limit).sort());
    return std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + limit);
  }
  if (rows_file.empty()) return std::nullopt;
  if (!fs::exists(rows_file)) throw UserError("data.train_rows: " + rows_file + ": not found");
  std::istringstream in(read_file(rows_file));
  std::vector<int64_t> rows;
  std::vector<char> seen(static_cast<size_t>(n), 0);
  std::string line;
  for (int64_t ln = 1; std::getline(in, line); ++ln) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    long long r = -1;
    if (!text::parse_int(line, &r) || r < 0)
      throw UserError(rows_file + ":" + std::to_string(ln) + ": '" + line + "' is not a row number (0-based, one per line)");
    if (r >= n)
      throw UserError(rows_file + ":" + std::to_string(ln) + ": row " + std::to_string(r) + " is past the " +
                      with_commas(n) + " training texts (rows are 0-based)");
    if (seen[static_cast<size_t>(r)]++) throw UserError(rows_file + ":" + std::to_string(ln) + ": row " + std::to_string(r) + " is listed twice");
    rows.push_back(r);
  }
  if (rows.empty()) throw UserError("data.train_rows: " + rows_file + " lists no rows");
  std::sort(rows.begin(), rows.end());
  return rows;
}

namespace {

std::shared_ptr<Dataset> make(const config::Config& cfg, Split split) {
  TextSplit d = read_text_split(cfg, split);
  if (split == Split::Train) std::cerr << "[smlab] text_tsv " << d.report << "\n";
  const auto tok = Tokenizer::load(resolve_tokenizer(cfg, split == Split::Train ? &d : nullptr));
  if (split == Split::Train) {
    // After the tokenizer: `tokenizer: auto` learns its pieces from every training text (unlabelled
    // use), so all subsets of one pool share one tokenizer and one vocabulary.
    if (const auto keep = training_rows(cfg, static_cast<int64_t>(d.texts.size()))) {
      TextSplit sub;
      for (auto r : *keep) {
        sub.texts.push_back(std::move(d.texts[static_cast<size_t>(r)]));
        sub.labels.push_back(d.labels[static_cast<size_t>(r)]);
      }
      std::cerr << "[smlab] text_tsv: training on " << with_commas(static_cast<int64_t>(keep->size())) << " of the "
                << with_commas(static_cast<int64_t>(d.texts.size())) << " training texts ("
                << (cfg.get<std::string>("data.train_rows").empty()
                        ? "data.train_limit, subset_seed " + std::to_string(subset_seed(cfg))
                        : "data.train_rows " + cfg.get<std::string>("data.train_rows"))
                << ")\n";
      d.texts = std::move(sub.texts);
      d.labels = std::move(sub.labels);
    }
  }
  const int64_t max_len = cfg.get<int64_t>("data.max_len");
  auto ids = tok->encode_batch(d.texts, max_len, 0);
  DatasetInfo info;
  info.task = Task::Classification;
  info.num_classes = static_cast<int64_t>(d.classes.size());
  info.class_names = d.classes;
  info.input_shape = {max_len};
  info.vocab_size = tok->vocab_size();
  info.tokenizer = tok->path().string();
  const auto ns = cfg.get<std::vector<int64_t>>("data.char_ngrams");
  if (!ns.empty()) {
    const int64_t buckets = cfg.get<int64_t>("data.ngram_buckets"), per = cfg.get<int64_t>("data.ngrams_per_piece");
    int64_t truncated = 0;
    const auto table = char_ngram_table(*tok, ns, buckets, per, &truncated);
    if (split == Split::Train)
      std::cerr << "[smlab] text_tsv: character n-grams " << [&] {
        std::string s;
        for (auto n : ns) {
          if (!s.empty()) s += ',';
          s += std::to_string(n);
        }
        return s;
      }() << " hashed into " << buckets << " buckets, at most " << per << " per piece (" << truncated << " of "
                << tok->vocab_size() << " pieces have more and keep the first " << per << ")\n";
    info.piece_ngrams = table;
    info.ngram_buckets = buckets;
  }
  if (cfg.get<std::string>("data.objective") == "masked_piece") {
    info.num_classes = info.vocab_size;
    info.class_names.clear();
    for (int64_t v = 0; v < info.vocab_size; ++v) info.class_names.push_back(tok->piece(static_cast<int>(v)));
    if (split == Split::Train)
      std::cerr << "[smlab] text_tsv: objective masked_piece: each text hides one piece per epoch, the target is its id "
                   "(" << info.vocab_size << " classes)\n";
    return std::make_shared<MaskedPieceDataset>(ids, info, cfg.get<uint64_t>("experiment.seed"), split != Split::Train,
                                                cfg.get<bool>("data.trim_batches"));
  }
  return std::make_shared<TokenDataset>(ids, torch::tensor(d.labels, torch::kInt64), info,
                                        cfg.get<bool>("data.trim_batches"));
}

}  // namespace

TextSplit read_text_split(const config::Config& cfg, Split split) {
  const std::string train = cfg.get<std::string>("data.train");
  const std::string val_path = cfg.get<std::string>("data.val"), test_path = cfg.get<std::string>("data.test");
  const auto plan = detail::plan_split(split, train, val_path, test_path, cfg.get<double>("data.val_fraction"), "text_tsv");
  const bool tweet = cfg.get<std::string>("data.normalize") == "tweeteval";

  Source src = read_source(plan.path, cfg);
  TextSplit out;
  // Class ids: configured, else from the train source (so every split agrees).
  std::vector<std::string> classes = cfg.get<std::vector<std::string>>("data.classes");
  if (cfg.get<std::string>("data.objective") == "masked_piece") {
    // Unlabelled use: whatever the files say, every text is one class ("text") here; the
    // dataset's targets are the hidden pieces (MaskedPieceDataset, built in make()).
    classes = {"text"};
    std::fill(src.labels.begin(), src.labels.end(), "text");
  } else if (classes.empty()) {
    const Source tr = plan.path == train ? Source{} : read_source(train, cfg);
    const Source& t = plan.path == train ? src : tr;
    classes = t.classes;
    if (classes.empty()) {
      std::set<std::string> u(t.labels.begin(), t.labels.end());
      classes.assign(u.begin(), u.end());
    }
  }
  std::map<std::string, int64_t> idx;
  for (size_t i = 0; i < classes.size(); ++i) idx[classes[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> labels;
  std::vector<std::string> texts;
  int64_t unknown = 0;
  for (size_t i = 0; i < src.labels.size(); ++i) {
    auto it = idx.find(src.labels[i]);
    if (it == idx.end()) {
      if (cfg.get<bool>("data.skip_bad")) {
        ++unknown;
        continue;
      }
      throw UserError(src.sources[i] + ": label '" + src.labels[i] + "' is not one of the classes [" +
                      [&] {
                        std::string s;
                        for (const auto& c : classes) s += (s.empty() ? "" : ", ") + c;
                        return s;
                      }() +
                      "]");
    }
    labels.push_back(it->second);
    texts.push_back(tweet ? normalize_tweet(src.texts[i]) : std::move(src.texts[i]));
  }
  std::string report = split_name(split) + " split from " + plan.path + ": " + with_commas(static_cast<int64_t>(src.labels.size())) +
                       " records";
  if (src.skipped || unknown)
    report += ", " + with_commas(src.skipped + unknown) + " bad records skipped (skip_bad)";

  if (plan.path == train) {
    // Exclusion: drop training texts that also occur in the given sources (by match_key).
    std::vector<std::string> excl = cfg.get<std::vector<std::string>>("data.exclude");
    if (cfg.get<bool>("data.exclude_eval")) {
      for (const auto& p : {val_path, test_path})
        if (!p.empty() && p != train && std::find(excl.begin(), excl.end(), p) == excl.end()) excl.push_back(p);
    }
    if (!excl.empty()) {
      std::unordered_set<std::string> keys;
      for (const auto& p : excl) {
        const Source e = read_source(p, cfg);
        for (const auto& t : e.texts) keys.insert(match_key(t));
      }
      std::vector<int64_t> l2;
      std::vector<std::string> t2;
      for (size_t i = 0; i < texts.size(); ++i) {
        if (keys.count(match_key(texts[i]))) continue;
        l2.push_back(labels[i]);
        t2.push_back(std::move(texts[i]));
      }
      std::string names;
      for (const auto& p : excl) {  // "sentiment/val_text.txt": TweetEval's file names repeat per task
        const fs::path f(p);
        const std::string dir = f.parent_path().filename().string();
        names += (names.empty() ? "" : ", ") + (dir.empty() ? "" : dir + "/") + f.filename().string();
      }
      report += ", " + with_commas(static_cast<int64_t>(texts.size() - t2.size())) + " removed as texts of " + names;
      labels.swap(l2);
      texts.swap(t2);
    }
    // De-duplication: one copy per match_key when all copies agree on the label, none otherwise.
    if (cfg.get<bool>("data.dedup")) {
      std::unordered_map<std::string, std::pair<size_t, bool>> first;  // key -> (first index, labels agree)
      std::vector<std::string> keys(texts.size());
      for (size_t i = 0; i < texts.size(); ++i) {
        keys[i] = match_key(texts[i]);
        auto [it, fresh] = first.try_emplace(keys[i], i, true);
        if (!fresh && labels[it->second.first] != labels[i]) it->second.second = false;
      }
      std::vector<int64_t> l2;
      std::vector<std::string> t2;
      int64_t conflicting_records = 0, conflicting_texts = 0;
      for (const auto& [k, v] : first) conflicting_texts += !v.second;
      for (size_t i = 0; i < texts.size(); ++i) {
        const auto& [at, agree] = first.at(keys[i]);
        if (!agree) {
          ++conflicting_records;
          continue;
        }
        if (at != i) continue;
        l2.push_back(labels[i]);
        t2.push_back(std::move(texts[i]));
      }
      const int64_t dups = static_cast<int64_t>(texts.size() - t2.size()) - conflicting_records;
      report += ", " + with_commas(dups) + " duplicate copies merged, " + with_commas(conflicting_records) +
                " records of " + with_commas(conflicting_texts) + " texts with conflicting labels dropped";
      labels.swap(l2);
      texts.swap(t2);
    }
  }
  if (plan.hold_out) {
    const auto keep = detail::hold_out_indices(static_cast<int64_t>(labels.size()), cfg.get<double>("data.val_fraction"),
                                               cfg.get<uint64_t>("data.seed"), plan.take_held_out);
    std::vector<int64_t> l2;
    std::vector<std::string> t2;
    for (auto k : keep) {
      l2.push_back(labels[k]);
      t2.push_back(std::move(texts[k]));
    }
    report += ", " + std::string(plan.take_held_out ? "held out " : "after holding out validation: ") +
              with_commas(static_cast<int64_t>(l2.size())) + (plan.take_held_out ? "" : " kept");
    labels.swap(l2);
    texts.swap(t2);
  }
  if (labels.empty()) throw UserError(plan.path + ": the " + split_name(split) + " split is empty");
  std::vector<int64_t> per(classes.size(), 0);
  for (auto l : labels) ++per[static_cast<size_t>(l)];
  report += " -> " + with_commas(static_cast<int64_t>(labels.size())) + " (";
  for (size_t c = 0; c < classes.size(); ++c) report += (c ? " " : "") + classes[c] + " " + with_commas(per[c]);
  report += ")";
  out.texts = std::move(texts);
  out.labels = std::move(labels);
  out.classes = std::move(classes);
  out.report = std::move(report);
  return out;
}

fs::path resolve_tokenizer(const config::Config& cfg, const TextSplit* train) {
  const std::string tok = cfg.get<std::string>("data.tokenizer");
  if (tok.empty())
    throw UserError("text_tsv: data.tokenizer is required (a SentencePiece .model, see 'smlab tokenizer train', or 'auto')");
  if (tok != "auto") return tok;
  TextSplit own;
  if (!train) {
    own = read_text_split(cfg, Split::Train);
    train = &own;
  }
  const int64_t vocab = cfg.get<int64_t>("data.tokenizer_vocab");
  const std::string type = cfg.get<std::string>("data.tokenizer_type");
  const std::string norm = cfg.get<std::string>("data.tokenizer_normalization");
  uint64_t h = fnv1a(type + ":" + std::to_string(vocab) + ":" + norm);
  for (const auto& t : train->texts) h = fnv1a(t + "\n", h);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  const fs::path prefix = fs::path(cfg.get<std::string>("data.tokenizer_cache")) / (type + std::to_string(vocab) + "-" + hex);
  fs::path model = prefix;
  model += ".model";
  if (!fs::exists(model)) {
    TokenizerTrainOptions o;
    o.model_prefix = prefix.string();
    o.vocab_size = static_cast<int>(vocab);
    o.model_type = type;
    o.normalization = norm;
    std::cerr << "[smlab] text_tsv: training a " << type << " tokenizer of " << vocab << " pieces on "
              << with_commas(static_cast<int64_t>(train->texts.size())) << " training texts -> " << model.string() << "\n";
    train_tokenizer(train->texts, o);
  }
  return model;
}

void register_text_tsv() {
  registry().add(
      "text_tsv",
      {"labelled text (TSV/CSV, TweetEval, or packed) tokenised by SentencePiece into [B,max_len] int64 ids, pad 0",
       config::Schema()
           .string("train", "", "TSV/CSV file, folder of them, TweetEval *_text.txt, or packed text folder")
           .string("val", "", "validation source (default: val_fraction of train)")
           .string("test", "", "test source (default: the validation split)")
           .number("val_fraction", 0.1, "share of train held out for validation when val is empty", 0.0, 0.9)
           .integer("seed", 0, "seed of the train/validation hold-out", 0)
           .string("tokenizer", "",
                   "SentencePiece .model file (smlab tokenizer train), or auto: train one on the training texts "
                   "(tokenizer_vocab, tokenizer_type) and cache it under tokenizer_cache")
           .integer("tokenizer_vocab", 8000, "tokenizer: auto: vocabulary size", 4)
           .choice("tokenizer_type", "unigram", {"unigram", "bpe", "word", "char"}, "tokenizer: auto: SentencePiece model type")
           .choice("tokenizer_normalization", "nmt_nfkc", {"nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity"},
                   "tokenizer: auto: SentencePiece normalisation rule; the _cf rules also fold case")
           .string("tokenizer_cache", "runs/tokenizers", "tokenizer: auto: folder of the cached models")
           .integer("max_len", 64, "tokens per text: longer texts are truncated, shorter padded with id 0", 1)
           .boolean("trim_batches", false,
                    "cut each batch to its longest text (drops all-padding columns; smlab's text models are "
                    "padding-invariant, so this only saves work)")
           .choice("normalize", "none", {"none", "tweeteval"},
                   "text normalisation of every split; tweeteval: @mentions -> @user, words starting with http dropped, "
                   "whitespace collapsed (as TweetEval's released text)")
           .boolean("exclude_eval", false,
                    "drop training texts that also occur in the data.val or data.test source (matched after "
                    "normalisation, ignoring case, punctuation, mentions and links)")
           .list("exclude", config::Type::StringList, "[]", "further sources whose texts are dropped from the training data")
           .boolean("dedup", false,
                    "merge training texts that occur more than once (same match as exclude_eval): one copy is kept "
                    "when all copies have the same label, none when they disagree")
           .list("char_ngrams", config::Type::IntList, "[]",
                 "character n-gram sizes (e.g. [3, 4]) hashed per piece; text models then embed each piece as "
                 "the mean of its own and its n-grams' vectors (fastText style); [] = off",
                 1, 10)
           .integer("ngram_buckets", 20000, "hash buckets of the character n-grams (extra embedding rows)", 1)
           .integer("ngrams_per_piece", 12, "character n-gram ids kept per piece", 1, 256)
           .integer("train_limit", 0,
                    "train on a seeded random subset of this many training texts (0 = all; small-set recipes); "
                    "the tokenizer still learns from all of them", 0)
           .integer("subset_seed", 0, "seed of the train_limit subset; -1: experiment.seed (a new subset per seed)", -1)
           .string("train_rows", "",
                   "file of 0-based row numbers of the training split to train on, one per line (active learning: "
                   "the labelled rows); the tokenizer still learns from all rows")
           .choice("objective", "classify", {"classify", "masked_piece"},
                   "classify: predict each text's label; masked_piece: self-supervised pretraining, each text hides "
                   "one piece (a new one every epoch) and the target is its id (labels are ignored; "
                   "datasets/masked_pieces.h)")
           .integer("label_column", 1, "0-based label column (TSV/CSV)", 0)
           .integer("text_column", 2, "0-based text column (TSV/CSV)", 0)
           .choice("delimiter", "auto", {"auto", "tab", "comma"}, "column delimiter; auto: comma for .csv, else tab")
           .list("classes", config::Type::StringList, "[]", "class names in id order (default: from the train data)")
           .boolean("unescape", false, "decode \\uXXXX escapes (SemEval-2017 downloaded files) to UTF-8")
           .boolean("skip_bad", false, "drop bad rows and unknown labels instead of failing")
           .boolean("verify", true, "packed sources: check shard sizes and CRC-32"),
       make});
}

}  // namespace smlab::datasets
