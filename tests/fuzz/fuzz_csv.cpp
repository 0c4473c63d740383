// Fuzzes the delimited-text readers: datasets::read_csv / split_csv_line (datasets/csv.cpp: csv_table,
// time series, `smlab segment`), datasets::read_text_records (datasets/pack_read.cpp: the text_tsv
// dataset's and `pack --kind text`'s TSV/CSV reader, TweetEval *_text.txt + labels + mapping.txt),
// and the score input readers for tsv, csv and jsonl (inference/readers.cpp).
// Input: one option byte, then the file. Option bits 0-1 pick the delimiter of read_csv (sniffed,
// ',', ';', TAB), bit 2 skip_bad, bit 3 unescape, bits 4-5 the text column, bits 6-7 the id field of
// the score readers. A TweetEval input is the text file, "\n#--- labels\n", the labels, optionally
// "\n#--- mapping\n" and mapping.txt.
#include <string>
#include <vector>

#include "datasets/csv.h"
#include "datasets/pack.h"
#include "fuzz_common.h"
#include "inference/readers.h"

namespace {

void read_csv_table(const std::filesystem::path& p, uint8_t opt) {
  const char delims[] = {0, ',', ';', '\t'};
  const auto t = smlab::datasets::read_csv(p, delims[opt & 3]);
  for (int64_t r = 0; r < t.size(); ++r)
    for (int64_t c = 0; c < static_cast<int64_t>(t.header.size()); ++c)
      smlab::fuzz::run([&] {
        if (!t.missing(r, c)) (void)t.number(r, c);
      });
  if (!t.header.empty()) (void)t.column(t.header.back());
}

void read_score_inputs(const std::filesystem::path& p, uint8_t opt) {
  using namespace smlab::inference;
  static const bool registered = [] {
    if (!reader_registry().contains("tsv")) register_readers();  // once (register_all in the test build)
    return true;
  }();
  (void)registered;
  const char* ids[] = {"id", "line", "0", "2"};
  ReadOptions o;
  o.input = p;
  o.id_field = ids[(opt >> 6) & 3];
  o.text_field = (opt & 0x10) ? "1" : "text";
  InputSpec text;
  text.kind = smlab::models::InputKind::Tokens;
  text.dtype = DType::Int64;
  text.shape = {16};
  text.tokens = TokenPreprocess{};
  InputSpec rows;
  rows.kind = smlab::models::InputKind::Features;
  rows.shape = {3};
  for (const char* format : {"tsv", "csv", "jsonl"})
    for (const InputSpec* spec : {&text, &rows})
      smlab::fuzz::run([&] { (void)read_input(o, format, *spec, "fuzz.pt"); });
}

}  // namespace

int smlab_fuzz_csv(const uint8_t* data, size_t size) {
  using namespace smlab;
  if (size < 1) return 0;
  const uint8_t opt = data[0];
  const auto parts = fuzz::split_parts(data + 1, size - 1, "\n#--- labels\n", 2);
  const auto dir = fuzz::scratch();
  const std::string& body = parts[0];
  for (const char* name : {"t.csv", "t.tsv", "t.jsonl"}) fuzz::write_file(dir / name, body);
  fuzz::run([&] { read_csv_table(dir / "t.csv", opt); });
  fuzz::run([&] {
    for (const auto& line : fuzz::split_parts(reinterpret_cast<const uint8_t*>(body.data()), body.size(), "\n", 64))
      (void)datasets::split_csv_line(line, (opt & 1) ? ';' : ',');
  });
  datasets::TextReadOptions r;
  r.skip_bad = opt & 4;
  r.unescape = opt & 8;
  r.label_column = (opt >> 4) & 1;
  r.text_column = 1 + ((opt >> 5) & 1);
  std::vector<datasets::BadRecord> skipped;
  std::vector<std::string> mapping;
  for (const char* name : {"t.csv", "t.tsv"})
    fuzz::run([&] { (void)datasets::read_text_records(dir / name, r, &skipped, &mapping); });
  if (parts.size() > 1) {  // TweetEval: train_text.txt + train_labels.txt (+ mapping.txt)
    const auto lm = fuzz::split_parts(reinterpret_cast<const uint8_t*>(parts[1].data()), parts[1].size(),
                                      "\n#--- mapping\n", 2);
    fuzz::write_file(dir / "train_text.txt", body);
    fuzz::write_file(dir / "train_labels.txt", lm[0]);
    if (lm.size() > 1) fuzz::write_file(dir / "mapping.txt", lm[1]);
    fuzz::run([&] { (void)datasets::read_text_records(dir / "train_text.txt", r, &skipped, &mapping); });
  }
  read_score_inputs(dir / "t.tsv", opt);
  read_score_inputs(dir / "t.csv", opt);
  read_score_inputs(dir / "t.jsonl", opt);
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_csv)
