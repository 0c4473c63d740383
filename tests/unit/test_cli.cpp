// The CLI driven in-process: exit codes, --help for every verb, did-you-mean.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tools/cli/cli.h"

using smlab::cli::run;

namespace {
smlab::testing::Captured capture(const std::vector<std::string>& args) { return smlab::testing::capture_cli(args); }
}  // namespace

TEST(Cli, EveryVerbHasHelpWithUsageAndExample) {
  for (const auto& v : smlab::cli::verbs()) {
    const auto c = capture({v.spec.name, "--help"});
    EXPECT_EQ(c.rc, 0) << v.spec.name;
    EXPECT_NE(c.out.find("usage: smlab " + v.spec.name), std::string::npos) << v.spec.name;
    EXPECT_NE(c.out.find("examples:"), std::string::npos) << v.spec.name << " has no example";
  }
}

TEST(Cli, RequiredVerbsExist) {
  std::vector<std::string> names;
  for (const auto& v : smlab::cli::verbs()) names.push_back(v.spec.name);
  for (const char* want : {"train", "eval", "sweep", "export", "score", "pack", "bench", "info"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

TEST(Cli, UnknownVerbSuggestsAndExits2) {
  const auto c = capture({"trian"});
  EXPECT_EQ(c.rc, 2);
  EXPECT_NE(c.err.find("did you mean 'train'"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("usage: smlab"), std::string::npos);
}

TEST(Cli, UnknownFlagSuggestsAndExits2) {
  const auto c = capture({"info", "--jsn"});
  EXPECT_EQ(c.rc, 2);
  EXPECT_NE(c.err.find("unknown flag '--jsn'"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("did you mean '--json'"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("usage: smlab info"), std::string::npos) << c.err;
}

TEST(Cli, NoArgumentsPrintsUsageAndExits2) {
  const auto c = capture({});
  EXPECT_EQ(c.rc, 2);
  EXPECT_NE(c.err.find("verbs:"), std::string::npos);
}

TEST(Cli, InfoReportsLibTorchAndCuda) {
  const auto c = capture({"info", "--json"});
  ASSERT_EQ(c.rc, 0) << c.err;
  const auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["libtorch"], "2.11.0");
  EXPECT_EQ(j["cuda"], "13.0");
  EXPECT_TRUE(j["registries"].is_object());
}

// Issue 22, item 14: `score --threads 100000` started that many threads, and negative --threads,
// --top-k and --limit were accepted. Numeric flags are range-checked before anything runs.
TEST(Cli, ScoreNumericFlagsAreRangeChecked) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--threads", "100000"}, "--threads must be between 0 and 1024, got 100000"},
      {{"--threads", "-1"}, "--threads must be between 0 and 1024, got -1"},
      {{"--top-k", "-3"}, "--top-k must be between 1 and 1000, got -3"},
      {{"--limit", "-5"}, "--limit must be between 0 and"},
      {{"--batch-size", "0"}, "--batch-size must be between 1 and"},
      {{"--workers", "100000"}, "--workers must be between 0 and 256"}};
  for (const auto& [flags, expected] : cases) {
    std::vector<std::string> args = {"score", "--model", "nonexistent.pt", "--input", "x.csv", "--output", "y.csv"};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto c = capture(args);
    EXPECT_EQ(c.rc, 2) << flags[0];
    EXPECT_NE(c.err.find(expected), std::string::npos) << c.err;
  }
}
