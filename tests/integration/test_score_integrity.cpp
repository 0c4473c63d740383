// A scoring job is identified by the content of its artifact and input, not by their path and size
// (issue 22, item 5): an artifact re-exported in place with new weights, or an input edited in place,
// with the same size, is another job. Before, such a rerun resumed (or confirmed) the old job and
// mixed rows of the old model into the output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "inference/export.h"
#include "inference/journal.h"
#include "score_helpers.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

fs::path fixture(const std::string& name) { return fs::path(smlab::testing::source_dir()) / "tests/fixtures/artifacts" / name; }

}  // namespace

TEST(ScoreIntegrity, AnInputEditedInPlaceWithTheSameSizeIsAnotherJob) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  fs::copy_file(fixture("format1_smlab_quickstart.input.csv"), dir / "in.csv");
  smlab::testing::score_quietly(fixture("format1_smlab_quickstart.pt"), dir / "in.csv", dir / "out.csv");
  std::string text = smlab::read_file(dir / "in.csv");
  const auto digit = text.find_first_of("123456789", text.find('\n') + 1);  // a digit of the first data row
  ASSERT_NE(digit, std::string::npos);
  text[digit] = text[digit] == '9' ? '8' : static_cast<char>(text[digit] + 1);
  const auto size = fs::file_size(dir / "in.csv");
  smlab::write_file_atomic(dir / "in.csv", text);
  ASSERT_EQ(fs::file_size(dir / "in.csv"), size);
  smlab::testing::expect_user_error(
      [&] { smlab::testing::score_quietly(fixture("format1_smlab_quickstart.pt"), dir / "in.csv", dir / "out.csv"); },
      {(dir / "out.csv").string(), "was finished by a different job"});
}

TEST(ScoreIntegrity, AnArtifactReexportedInPlaceWithTheSameSizeIsAnotherJob) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  fs::copy_file(fixture("format1_smlab_quickstart.pt"), dir / "model.pt");
  smlab::testing::score_quietly(dir / "model.pt", fixture("format1_smlab_quickstart.input.csv"), dir / "out.csv");
  auto a = smlab::inference::load_artifact(dir / "model.pt");
  {
    torch::NoGradGuard ng;
    for (auto p : a.module.parameters()) p.add_(0.01f);  // new weights, same shapes
  }
  smlab::inference::save_artifact(a, dir / "model2.pt");
  // Saved again it becomes format 2; re-save the original the same way so only the weights differ.
  smlab::inference::save_artifact(smlab::inference::load_artifact(fixture("format1_smlab_quickstart.pt")), dir / "model.pt");
  fs::remove(dir / "out.csv");
  fs::remove(dir / "out.csv.done.json");
  fs::remove(dir / "out.csv.rejects.csv");
  smlab::testing::score_quietly(dir / "model.pt", fixture("format1_smlab_quickstart.input.csv"), dir / "out.csv");
  ASSERT_EQ(fs::file_size(dir / "model2.pt"), fs::file_size(dir / "model.pt")) << "the re-export should keep the size";
  fs::rename(dir / "model2.pt", dir / "model.pt");  // re-exported in place
  smlab::testing::expect_user_error(
      [&] { smlab::testing::score_quietly(dir / "model.pt", fixture("format1_smlab_quickstart.input.csv"), dir / "out.csv"); },
      {"was finished by a different job"});
}

// Issue 22, item 6: `score merge` trusted each shard's .done.json; a truncated shard was merged
// ("50000 rows, 0 rejects") into an output ending in a partial row. Each shard file is now checked
// against its own counts, and nothing is written when one fails.
TEST(ScoreIntegrity, MergeRefusesATruncatedShard) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  const auto out = (dir / "scores.csv").string();
  for (const char* shard : {"0/2", "1/2"})
    ASSERT_EQ(smlab::testing::run_score({"--model", fixture("format1_smlab_quickstart.pt").string(), "--input",
                                         fixture("format1_smlab_quickstart.input.csv").string(), "--output", out,
                                         "--shard", shard}),
              0);
  const fs::path shard1 = dir / "scores.shard-1-of-2.csv";
  const std::string whole = smlab::read_file(shard1);
  smlab::write_file_atomic(shard1, whole.substr(0, whole.size() - 10));  // a partial last row
  smlab::testing::expect_user_error([&] { smlab::inference::merge(out); },
                                    {shard1.string(), "partial one", "truncated or edited", "rerun shard 1/2"});
  EXPECT_FALSE(fs::exists(out));
  const auto cut = whole.substr(0, whole.rfind('\n', whole.size() - 2) + 1);  // one whole row fewer
  smlab::write_file_atomic(shard1, cut);
  smlab::testing::expect_user_error([&] { smlab::inference::merge(out); }, {shard1.string(), "counts 10 rows plus a header"});
  smlab::write_file_atomic(shard1, whole);
  EXPECT_EQ(smlab::inference::merge(out)["rows"], 20);
}

// Issue 22: two scorers on one output crashed each other ("filesystem error: cannot remove all"). The
// second is now refused by <output>.lock, naming it, and the first's output is whole.
TEST(ScoreIntegrity, ASecondScorerOnTheSameOutputIsRefusedByItsLock) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  const fs::path out = dir / "out.csv";
  {
    const auto held = smlab::inference::lock_output(out);  // stands for a scorer at work
    smlab::testing::expect_user_error(
        [&] { smlab::testing::score_quietly(fixture("format1_smlab_quickstart.pt"), fixture("format1_smlab_quickstart.input.csv"), out); },
        {out.string(), "being written by another smlab process", "out.csv.lock"});
    smlab::testing::expect_user_error([&] { smlab::inference::merge(out); }, {"being written by another"});
    EXPECT_FALSE(fs::exists(smlab::inference::parts_dir(out))) << "the refused scorer started a journal";
  }
  EXPECT_FALSE(fs::exists(dir / "out.csv.lock")) << "a released output lock leaves its file behind";
  smlab::testing::score_quietly(fixture("format1_smlab_quickstart.pt"), fixture("format1_smlab_quickstart.input.csv"), out);
  EXPECT_TRUE(fs::exists(smlab::inference::done_file(out)));
  EXPECT_FALSE(fs::exists(dir / "out.csv.lock"));
}

// Issue 22: `score --output DIR` said it "cannot tell the format" of an existing directory.
TEST(ScoreIntegrity, AnOutputThatIsADirectoryIsNamedAsSuch) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  fs::create_directories(dir / "results");
  smlab::testing::expect_user_error(
      [&] { smlab::testing::score_quietly(fixture("format1_smlab_quickstart.pt"), fixture("format1_smlab_quickstart.input.csv"), dir / "results"); },
      {"--output " + (dir / "results").string() + " is a directory", "results/scores.csv"});
}
