// Replays every seed (tests/fuzz/corpus/NAME/) and every saved fuzzer finding
// (tests/fuzz/regressions/NAME/) through the same harness functions the libFuzzer build runs
// (tests/fuzz/fuzz_NAME.cpp), in the normal build: an input that once crashed a reader must now end in
// a UserError or in success, here too. A harness swallows only smlab::UserError; anything else that
// escapes fails the test (and a crash fails it harder).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>

#include "../fuzz/fuzz_common.h"

int smlab_fuzz_config(const uint8_t*, size_t);
int smlab_fuzz_override(const uint8_t*, size_t);
int smlab_fuzz_csv(const uint8_t*, size_t);
int smlab_fuzz_idx(const uint8_t*, size_t);
int smlab_fuzz_tar(const uint8_t*, size_t);
int smlab_fuzz_hdf5(const uint8_t*, size_t);
int smlab_fuzz_metadata(const uint8_t*, size_t);
int smlab_fuzz_journal(const uint8_t*, size_t);

namespace {
namespace fs = std::filesystem;
using Harness = int (*)(const uint8_t*, size_t);

const std::map<std::string, Harness>& harnesses() {
  static const std::map<std::string, Harness> h = {
      {"config", smlab_fuzz_config}, {"override", smlab_fuzz_override}, {"csv", smlab_fuzz_csv},
      {"idx", smlab_fuzz_idx},       {"tar", smlab_fuzz_tar},           {"hdf5", smlab_fuzz_hdf5},
      {"metadata", smlab_fuzz_metadata}, {"journal", smlab_fuzz_journal}};
  return h;
}

fs::path fuzz_dir() { return fs::path(SMLAB_SOURCE_DIR) / "tests" / "fuzz"; }

/// Replays every file of `folder`/NAME/ through harness NAME; returns how many ran.
int replay(const std::string& folder) {
  int n = 0;
  for (const auto& sub : fs::directory_iterator(fuzz_dir() / folder)) {
    if (!sub.is_directory()) continue;
    const std::string name = sub.path().filename().string();
    const auto it = harnesses().find(name);
    EXPECT_NE(it, harnesses().end()) << folder << "/" << name << " names no harness";
    if (it == harnesses().end()) continue;
    for (const auto& f : fs::directory_iterator(sub.path())) {
      std::ifstream in(f.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      SCOPED_TRACE(f.path().string());
      EXPECT_NO_THROW(it->second(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++n;
    }
  }
  return n;
}

}  // namespace

TEST(FuzzRegressions, EverySeedOfEveryHarnessEndsInSuccessOrAUserError) {
  EXPECT_GE(replay("corpus"), 8 * 3);  // every harness has seeds
}

TEST(FuzzRegressions, EverySavedFindingEndsInSuccessOrAUserError) {
  EXPECT_GE(replay("regressions"), 1);
}

TEST(FuzzRegressions, OnlyUserErrorsAreExpectedEverythingElseEscapes) {
  // The harnesses' contract, which makes the replays above able to fail.
  EXPECT_NO_THROW(smlab::fuzz::run([] { throw smlab::UserError("bad input"); }));
  EXPECT_THROW(smlab::fuzz::run([] { throw std::out_of_range("stoll"); }), std::out_of_range);
  // One of the findings, re-made here: a YAML key that is a list (yaml-cpp's "bad conversion" escaped).
  const std::string yaml = "train:\n  [a, b]: 1\n";
  EXPECT_NO_THROW(smlab_fuzz_config(reinterpret_cast<const uint8_t*>(yaml.data()), yaml.size()));
}

TEST(FuzzRegressions, UnpackFilesWritesOnlyPlainRelativeNames) {
  const std::string archive = "junk\n@@ a.txt\nx\n\n@@ ../evil\ny\n@@ d/b.json\n{}\n@@ /abs\nz\n@@ e\n@@ f\nlast";
  const auto dir = smlab::fuzz::scratch();
  const auto names = smlab::fuzz::unpack_files(reinterpret_cast<const uint8_t*>(archive.data()), archive.size(), dir);
  EXPECT_EQ(names, (std::vector<std::string>{"a.txt", "d/b.json", "e", "f"}));
  std::ifstream a(dir / "a.txt"), f(dir / "f");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), "x\n");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), "last");
  EXPECT_EQ(fs::file_size(dir / "e"), 0u);
  EXPECT_FALSE(fs::exists(dir.parent_path() / "evil"));
}
