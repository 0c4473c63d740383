// Fuzzes the score journal (inference/journal.cpp): a finished job's .done.json (finished_job), the
// journal of an unfinished job (Journal's constructor reading out.parts/journal.jsonl and its chunk
// files), and `score merge` over shard outputs with their .done.json and .rejects.csv files (merge).
// Input: a small archive of files (fuzz_common.h unpack_files) written into one folder, e.g.
// "@@ out.shard-0-of-2.csv", "@@ out.shard-0-of-2.csv.done.json", ..., "@@ j.csv.parts/journal.jsonl".
#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "inference/journal.h"
#include "inference/writers.h"

int smlab_fuzz_journal(const uint8_t* data, size_t size) {
  using namespace smlab;
  static const bool registered = [] {
    if (!inference::writer_registry().contains("csv")) inference::register_writers();  // once (register_all in the test build)
    return true;
  }();
  (void)registered;
  const auto dir = fuzz::scratch();
  fuzz::unpack_files(data, size, dir);
  const nlohmann::json job = {{"input", "in.csv"}, {"model", "m.pt"}, {"records", 4}};
  fuzz::run([&] { (void)inference::finished_job(dir / "out.csv", job); });
  fuzz::run([&] {
    inference::Journal journal(dir / "j.csv", job);
    (void)journal.done();
  });
  fuzz::run([&] { (void)inference::merge(dir / "out.csv"); });
  fuzz::run([&] { (void)inference::merge(dir / "out.jsonl"); });
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_journal)
