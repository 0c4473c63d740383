// text_tsv: text classification from TSV/CSV files (SemEval-2017 4A "id<TAB>label<TAB>text"),
// TweetEval "<split>_text.txt" + "<split>_labels.txt", folders of such files, or text folders
// written by `smlab pack`. Texts are tokenised once, at construction, with a SentencePiece model
// into [N, max_len] int64 ids (truncated; padded with 0), so get() is a thread-safe gather.
// Class ids follow data.classes, else the train source's mapping.txt / packed classes, else the
// sorted distinct train labels.
#include <torch/torch.h>

#include <set>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/pack.h"
#include "datasets/split.h"
#include "datasets/tokenizer.h"

namespace smlab::datasets {
namespace fs = std::filesystem;
namespace {

struct Source {
  std::vector<std::string> labels, texts, sources;
  std::vector<std::string> classes;  // from mapping.txt or a manifest
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
    if (!mapping.empty()) s.classes = mapping;
  }
  return s;
}

std::shared_ptr<Dataset> make(const config::Config& cfg, Split split) {
  const std::string train = cfg.get<std::string>("data.train");
  const auto plan = detail::plan_split(split, train, cfg.get<std::string>("data.val"), cfg.get<std::string>("data.test"),
                                       cfg.get<double>("data.val_fraction"), "text_tsv");
  const std::string tok_path = cfg.get<std::string>("data.tokenizer");
  if (tok_path.empty()) throw UserError("text_tsv: data.tokenizer is required (a SentencePiece .model; see 'smlab tokenizer train')");
  const auto tok = Tokenizer::load(tok_path);

  Source src = read_source(plan.path, cfg);
  // Class ids: configured, else from the train source (so every split agrees).
  std::vector<std::string> classes = cfg.get<std::vector<std::string>>("data.classes");
  if (classes.empty()) {
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
  for (size_t i = 0; i < src.labels.size(); ++i) {
    auto it = idx.find(src.labels[i]);
    if (it == idx.end()) {
      if (cfg.get<bool>("data.skip_bad")) continue;
      throw UserError(src.sources[i] + ": label '" + src.labels[i] + "' is not one of the classes [" +
                      [&] {
                        std::string s;
                        for (const auto& c : classes) s += (s.empty() ? "" : ", ") + c;
                        return s;
                      }() +
                      "]");
    }
    labels.push_back(it->second);
    texts.push_back(std::move(src.texts[i]));
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
    labels.swap(l2);
    texts.swap(t2);
  }
  if (labels.empty()) throw UserError(plan.path + ": the " + split_name(split) + " split is empty");
  const int64_t max_len = cfg.get<int64_t>("data.max_len");
  auto ids = tok->encode_batch(texts, max_len, 0);
  DatasetInfo info;
  info.task = Task::Classification;
  info.num_classes = static_cast<int64_t>(classes.size());
  info.class_names = classes;
  info.input_shape = {max_len};
  info.vocab_size = tok->vocab_size();
  return std::make_shared<TensorDataset>(ids, torch::tensor(labels, torch::kInt64), info);
}

}  // namespace

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
           .string("tokenizer", "", "SentencePiece .model file (smlab tokenizer train)")
           .integer("max_len", 64, "tokens per text: longer texts are truncated, shorter padded with id 0", 1)
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
