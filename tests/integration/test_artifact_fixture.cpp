// Artifacts written before the typed contract still score: tests/fixtures/artifacts/format1_mlp.pt
// carries format-1 metadata (made by make_format1_mlp.py, beside it); it is loaded into the typed
// ArtifactSpec and scored by today's `smlab score`, and the scores must equal the ones stored with it
// (computed in PyTorch, independently of smlab) within 1e-6, with the malformed rows rejected. Saved
// again, the artifact is format 2 and scores the same.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/text.h"
#include "inference/export.h"
#include "score_helpers.h"
#include "test_util.h"

namespace fs = std::filesystem;
using smlab::testing::lines_of;
using smlab::testing::run_score;

namespace {

fs::path fixture(const std::string& name) { return fs::path(smlab::testing::source_dir()) / "tests/fixtures/artifacts" / name; }

/// Every field of `got` equals `want`'s: text fields exactly, numbers within 1e-6 (top_k entries too).
void expect_same_scores(const fs::path& got_file, const fs::path& want_file) {
  const auto got = lines_of(got_file), want = lines_of(want_file);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got[0], want[0]);
  for (size_t r = 1; r < want.size(); ++r) {
    SCOPED_TRACE(want[r]);
    const auto g = smlab::text::split(got[r], ','), w = smlab::text::split(want[r], ',');
    ASSERT_EQ(g.size(), w.size());
    EXPECT_EQ(g[0], w[0]);  // id
    EXPECT_EQ(g[1], w[1]);  // label
    EXPECT_NEAR(std::stod(g[2]), std::stod(w[2]), 1e-6);
    const auto gt = smlab::text::split(g[3], ';'), wt = smlab::text::split(w[3], ';');
    ASSERT_EQ(gt.size(), wt.size());
    for (size_t k = 0; k < wt.size(); ++k) {
      const auto gk = smlab::text::split(gt[k], ':'), wk = smlab::text::split(wt[k], ':');
      EXPECT_EQ(gk[0], wk[0]);
      EXPECT_NEAR(std::stod(gk[1]), std::stod(wk[1]), 1e-6);
    }
    for (size_t c = 4; c < w.size(); ++c) EXPECT_NEAR(std::stod(g[c]), std::stod(w[c]), 1e-6);
  }
}

}  // namespace

TEST(ArtifactFixture, Format1ArtifactLoadsIntoTheTypedSpecAndScoresAsStored) {
  smlab::register_all();
  const auto a = smlab::inference::load_artifact(fixture("format1_mlp.pt"));
  EXPECT_EQ(a.spec.format, 1);
  EXPECT_EQ(a.spec.model, "mlp");
  EXPECT_EQ(a.spec.input.kind, smlab::models::InputKind::Features);
  EXPECT_EQ(a.spec.input.dtype, smlab::inference::DType::Float32);
  EXPECT_EQ(a.spec.input.shape, std::vector<int64_t>({16}));
  EXPECT_FALSE(a.spec.input.pixels.has_value());
  EXPECT_EQ(a.spec.output.classes, std::vector<std::string>({"class0", "class1", "class2", "class3"}));
  EXPECT_EQ(a.spec.output.outputs, smlab::inference::OutputKind::Logits);
  EXPECT_EQ(a.spec.checkpoint, "last");

  const auto dir = smlab::testing::temp_dir();
  ASSERT_EQ(run_score({"--model", fixture("format1_mlp.pt").string(), "--input", fixture("format1_mlp.input.csv").string(),
                       "--output", (dir / "v1.csv").string()}),
            0);
  expect_same_scores(dir / "v1.csv", fixture("format1_mlp.scores.csv"));
  const auto rej = lines_of(dir / "v1.csv.rejects.csv");
  ASSERT_EQ(rej.size(), 3u);
  EXPECT_EQ(rej[1], "row-3,3,\"expected 16 features, got 3\"");
  EXPECT_EQ(rej[2], "row-6,6,feature 0 'abc' is not a finite number");

  // Saved again it is written in today's format, with the same contract and the same scores.
  smlab::inference::save_artifact(a, dir / "v2.pt");
  const auto b = smlab::inference::load_artifact(dir / "v2.pt");
  EXPECT_EQ(b.spec.format, smlab::inference::kArtifactFormat);
  EXPECT_EQ(b.spec.to_json(), a.spec.to_json());
  ASSERT_EQ(run_score({"--model", (dir / "v2.pt").string(), "--input", fixture("format1_mlp.input.csv").string(),
                       "--output", (dir / "v2.csv").string()}),
            0);
  EXPECT_EQ(smlab::read_file(dir / "v2.csv"), smlab::read_file(dir / "v1.csv"));
}

// The reader registry refuses an input format that cannot feed the artifact's input kind, naming the
// formats that can, and an unknown format with the registry's did-you-mean.
TEST(ArtifactFixture, ReadersThatCannotFeedTheInputKindAreRefused) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  smlab::inference::ScoreOptions o;
  o.model = fixture("format1_mlp.pt");
  o.input = fixture("format1_mlp.input.csv");
  o.output = dir / "x.csv";
  o.quiet = true;
  o.input_format = "images";
  smlab::testing::expect_user_error([&] { smlab::inference::score(o); },
                                    {"format1_mlp.pt takes features inputs", "csv, jsonl, tsv", "got images"});
  o.input_format = "jsnl";
  smlab::testing::expect_user_error([&] { smlab::inference::score(o); }, {"unknown input format 'jsnl'", "jsonl"});
  EXPECT_FALSE(fs::exists(dir / "x.csv"));
}

// The same, for an artifact exported by the old smlab binary itself (see tests/fixtures/artifacts/README.md):
// today's scorer reproduces the old scorer's rows, which carry 6 significant digits.
TEST(ArtifactFixture, ArtifactExportedByTheOldBinaryScoresAsTheOldScorerDid) {
  smlab::register_all();
  const auto a = smlab::inference::load_artifact(fixture("format1_smlab_quickstart.pt"));
  EXPECT_EQ(a.spec.format, 1);
  EXPECT_EQ(a.spec.model, "mlp");
  EXPECT_EQ(a.spec.output.classes, std::vector<std::string>({"class_0", "class_1", "class_2", "class_3"}));
  const auto dir = smlab::testing::temp_dir();
  ASSERT_EQ(run_score({"--model", fixture("format1_smlab_quickstart.pt").string(), "--input",
                       fixture("format1_smlab_quickstart.input.csv").string(), "--output", (dir / "new.csv").string()}),
            0);
  expect_same_scores(dir / "new.csv", fixture("format1_smlab_quickstart.scores.csv"));
}
