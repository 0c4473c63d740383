// `smlab score`: outputs against the artifact run directly (the oracle), rejects with reasons,
// exactly-once output after SIGKILL and rerun, shards that merge into the unsharded output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "core/text.h"
#include "datasets/tokenizer.h"
#include "inference/export.h"
#include "score_helpers.h"
#include "test_util.h"
#include "tools/cli/cli.h"
#include "inference/scorer.h"

namespace fs = std::filesystem;
using smlab::models::InputKind;

namespace {

using smlab::testing::export_to;
using smlab::testing::lines_of;
using smlab::testing::run_score;

/// A CSV of `n` rows "id,f0..f15" with a few bad rows mixed in; returns the good features by id.
std::map<std::string, std::vector<float>> write_features(const fs::path& p, int64_t n, int64_t* bad_rows) {
  std::map<std::string, std::vector<float>> good;
  std::ostringstream s;
  s << "id";
  for (int j = 0; j < 16; ++j) s << ",f" << j;
  s << "\n";
  torch::manual_seed(5);
  auto x = torch::randn({n, 16});
  *bad_rows = 0;
  for (int64_t i = 0; i < n; ++i) {
    const std::string id = "row-" + std::to_string(i);
    if (i % 97 == 13) {  // too few fields
      s << id << ",1,2,3\n";
      ++*bad_rows;
      continue;
    }
    if (i % 97 == 50) {  // not a number
      s << id << ",abc";
      for (int j = 1; j < 16; ++j) s << ",0";
      s << "\n";
      ++*bad_rows;
      continue;
    }
    s << id;
    std::vector<float> v;
    for (int j = 0; j < 16; ++j) {
      v.push_back(x[i][j].item<float>());
      s << "," << smlab::text::trim(std::to_string(v.back()));
    }
    // std::to_string prints 6 decimals: the oracle uses the same rounded values.
    for (auto& f : v) f = std::stof(std::to_string(f));
    good[id] = v;
    s << "\n";
  }
  smlab::write_file_atomic(p, s.str());
  return good;
}

}  // namespace

TEST(Score, TabularRowsMatchTheArtifactAndBadRowsAreRejectedWithReasons) {
  const auto dir = smlab::testing::temp_dir();
  auto model = export_to(dir / "mlp.pt", "mlp", smlab::models::example_info(InputKind::Features, 4));
  int64_t bad = 0;
  const auto good = write_features(dir / "in.csv", 500, &bad);
  ASSERT_EQ(run_score({"--model", (dir / "mlp.pt").string(), "--input", (dir / "in.csv").string(), "--output",
                       (dir / "out.csv").string(), "--chunk-rows", "64", "--batch-size", "16", "--top-k", "2"}),
            0);
  const auto rows = lines_of(dir / "out.csv");
  ASSERT_EQ(rows.size(), good.size() + 1);
  EXPECT_EQ(rows[0], "id,label,confidence,top_k,p_class0,p_class1,p_class2,p_class3");
  std::set<std::string> seen;
  torch::NoGradGuard ng;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto f = smlab::text::split(rows[r], ',');
    ASSERT_EQ(f.size(), 8u) << rows[r];
    ASSERT_TRUE(seen.insert(f[0]).second) << "duplicate id " << f[0];
    ASSERT_TRUE(good.count(f[0])) << f[0];
    const auto p = torch::softmax(model->forward(torch::tensor(good.at(f[0])).view({1, 16})), 1)[0];
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(std::stod(f[4 + k]), p[k].item<double>(), 2e-6) << rows[r];
    const int64_t best = p.argmax().item<int64_t>();
    EXPECT_EQ(f[1], "class" + std::to_string(best));
    EXPECT_NEAR(std::stod(f[2]), p[best].item<double>(), 2e-6);
  }
  const auto rej = lines_of(dir / "out.csv.rejects.csv");
  ASSERT_EQ(static_cast<int64_t>(rej.size()), bad + 1);
  EXPECT_EQ(rej[0], "id,position,reason");
  EXPECT_NE(rej[1].find("row-13,13,\"expected 16 features, got 3\""), std::string::npos) << rej[1];
  EXPECT_NE(rej[2].find("row-50,50,feature 0 'abc' is not a finite number"), std::string::npos) << rej[2];
  EXPECT_FALSE(fs::exists(dir / "out.csv.parts")) << "parts are removed once the output is complete";

  // A rerun of a finished job changes nothing; a different job on the same output is refused.
  const auto before = smlab::read_file(dir / "out.csv");
  ASSERT_EQ(run_score({"--model", (dir / "mlp.pt").string(), "--input", (dir / "in.csv").string(), "--output",
                       (dir / "out.csv").string(), "--chunk-rows", "64", "--batch-size", "16", "--top-k", "2"}),
            0);
  EXPECT_EQ(smlab::read_file(dir / "out.csv"), before);
  EXPECT_EQ(run_score({"--model", (dir / "mlp.pt").string(), "--input", (dir / "in.csv").string(), "--output",
                       (dir / "out.csv").string(), "--chunk-rows", "32"}),
            2);
}

TEST(Score, TextRowsUseTheEmbeddedTokenizer) {
  const auto dir = smlab::testing::temp_dir();
  // A small SentencePiece model over generated sentences.
  {
    std::ofstream c(dir / "corpus.txt");
    const char* words[] = {"good", "bad", "movie", "great", "awful", "happy", "sad", "day", "night", "love"};
    for (int i = 0; i < 400; ++i) c << words[i % 10] << " " << words[(i * 7) % 10] << " " << words[(i * 3) % 10] << "\n";
  }
  smlab::datasets::TokenizerTrainOptions t;
  t.input = dir / "corpus.txt";
  t.model_prefix = (dir / "tok").string();
  t.vocab_size = 40;
  smlab::datasets::train_tokenizer(t);
  auto info = smlab::models::example_info(InputKind::Tokens, 3);
  info.vocab_size = 40;
  auto model = export_to(dir / "text.pt", "text_cnn", info,
                         {"data.name=text_tsv", "data.tokenizer=" + (dir / "tok.model").string(), "data.max_len=16"});
  smlab::write_file_atomic(dir / "in.jsonl",
                           "{\"id\": \"a\", \"text\": \"good movie\"}\n"
                           "{\"id\": 7, \"text\": \"awful night\"}\n"
                           "not json at all\n"
                           "{\"id\": \"empty\", \"text\": \"   \"}\n"
                           "{\"id\": \"notext\"}\n"
                           "{\"id\": \"b\", \"text\": \"happy happy day\"}\n");
  ASSERT_EQ(run_score({"--model", (dir / "text.pt").string(), "--input", (dir / "in.jsonl").string(), "--output",
                       (dir / "out.jsonl").string()}),
            0);
  const auto rows = lines_of(dir / "out.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  auto tok = smlab::datasets::Tokenizer::load(dir / "tok.model");
  const std::vector<std::string> texts = {"good movie", "awful night", "happy happy day"};
  const std::vector<std::string> ids = {"a", "7", "b"};
  torch::NoGradGuard ng;
  const auto p = torch::softmax(model->forward(tok->encode_batch(texts, 16)), 1);
  for (size_t i = 0; i < 3; ++i) {
    const auto j = nlohmann::json::parse(rows[i]);
    EXPECT_EQ(j["id"], ids[i]);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(j["probs"]["class" + std::to_string(k)].get<double>(), p[i][k].item<double>(), 1e-6);
  }
  const auto rej = lines_of(dir / "out.jsonl.rejects.csv");
  ASSERT_EQ(rej.size(), 4u);
  EXPECT_NE(rej[1].find("3,2,\"line 3: not JSON"), std::string::npos) << rej[1];
  EXPECT_EQ(rej[2], "empty,3,empty text");
  EXPECT_EQ(rej[3], "notext,4,line 5: no string field 'text'");
}

TEST(Score, ImageFoldersAreDecodedResizedAndUndecodableFilesRejected) {
  const auto dir = smlab::testing::temp_dir();
  auto info = smlab::models::example_info(InputKind::Image, 3);
  info.pixels = true;
  auto model = export_to(dir / "img.pt", "small_cnn", info);
  fs::create_directories(dir / "imgs" / "sub");
  cv::Mat a(32, 32, CV_8UC3), b(48, 64, CV_8UC3);
  cv::randu(a, 0, 255);
  cv::randu(b, 0, 255);
  cv::imwrite((dir / "imgs" / "a.png").string(), a);
  cv::imwrite((dir / "imgs" / "sub" / "b.png").string(), b);
  smlab::write_file_atomic(dir / "imgs" / "broken.jpg", "not an image");
  ASSERT_EQ(run_score({"--model", (dir / "img.pt").string(), "--input", (dir / "imgs").string(), "--output",
                       (dir / "out.csv").string()}),
            0);
  const auto rows = lines_of(dir / "out.csv");
  ASSERT_EQ(rows.size(), 3u);  // header, a.png, sub/b.png
  EXPECT_EQ(smlab::text::split(rows[1], ',')[0], "a.png");
  EXPECT_EQ(smlab::text::split(rows[2], ',')[0], "sub/b.png");
  // a.png is already 32x32: the artifact sees its RGB pixels unchanged.
  cv::Mat rgb;
  cv::cvtColor(a, rgb, cv::COLOR_BGR2RGB);
  const auto x = torch::from_blob(rgb.data, {1, 32, 32, 3}, torch::kUInt8).permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0;
  torch::NoGradGuard ng;
  const auto p = torch::softmax(model->forward(x), 1)[0];
  const auto f = smlab::text::split(rows[1], ',');
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(std::stod(f[4 + k]), p[k].item<double>(), 2e-6);
  const auto rej = lines_of(dir / "out.csv.rejects.csv");
  ASSERT_EQ(rej.size(), 2u);
  EXPECT_EQ(rej[1], "broken.jpg,1,cannot decode image");  // positions follow the sorted paths
}

TEST(Score, ShardsMergeIntoTheUnshardedOutput) {
  const auto dir = smlab::testing::temp_dir();
  export_to(dir / "mlp.pt", "mlp", smlab::models::example_info(InputKind::Features, 4));
  int64_t bad = 0;
  write_features(dir / "in.csv", 300, &bad);
  const std::vector<std::string> common = {"--model", (dir / "mlp.pt").string(), "--input", (dir / "in.csv").string(),
                                           "--chunk-rows", "40"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = common;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  ASSERT_EQ(run_score(with({"--output", (dir / "whole.csv").string()})), 0);
  fs::create_directories(dir / "sharded");
  const auto out = (dir / "sharded" / "scores.csv").string();
  ASSERT_EQ(run_score(with({"--output", out, "--shard", "0/3"})), 0);
  ASSERT_EQ(run_score(with({"--output", out, "--shard", "2/3"})), 0);
  // Shard 1 is missing: merge refuses and names it.
  try {
    smlab::inference::merge(out);
    FAIL() << "merge should refuse a missing shard";
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("scores.shard-1-of-3.csv"), std::string::npos) << e.what();
  }
  ASSERT_EQ(run_score(with({"--output", out, "--shard", "1/3"})), 0);
  ASSERT_EQ(smlab::cli::run({"score", "merge", "--output", out}), 0);
  EXPECT_EQ(smlab::read_file(out), smlab::read_file(dir / "whole.csv"));
  EXPECT_EQ(smlab::read_file(out + ".rejects.csv"), smlab::read_file(dir / "whole.csv.rejects.csv"));
}

// SIGKILL a scoring process mid-job, rerun the same command: the output equals an
// uninterrupted run's, byte for byte (every input exactly once, in order).
TEST(Score, KilledJobResumesWithEveryRowExactlyOnce) {
  const auto dir = smlab::testing::temp_dir();
  export_to(dir / "mlp.pt", "mlp", smlab::models::example_info(InputKind::Features, 4), {"model.hidden=[256, 256]"});
  int64_t bad = 0;
  write_features(dir / "in.csv", 60000, &bad);
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"score", "--model", (dir / "mlp.pt").string(), "--input", (dir / "in.csv").string(),
                                    "--output", out, "--chunk-rows", "500", "--batch-size", "100", "--threads", "1",
                                    "--quiet"};
  };
  ASSERT_EQ(smlab::cli::run(args((dir / "ref.csv").string())), 0);
  const auto out = (dir / "out.csv").string();
  const fs::path journal = out + ".parts/journal.jsonl";
  const pid_t pid = smlab::testing::spawn_smlab(args(out));
  ASSERT_GT(pid, 0);
  // Wait until a few chunks are journaled, then kill without warning.
  bool killed = false;
  for (int i = 0; i < 60000 && !killed; ++i) {
    if (fs::exists(journal) && lines_of(journal).size() >= 6) {
      ::kill(pid, SIGKILL);
      killed = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(killed && WIFSIGNALED(status)) << "the job finished before it could be killed";
  ASSERT_FALSE(fs::exists(out + ".done.json"));
  const auto journaled = lines_of(journal).size() - 1;
  ASSERT_LT(journaled, 120u) << "killed too late to test a resume";
  // Rerun the same command.
  ASSERT_EQ(smlab::cli::run(args(out)), 0);
  EXPECT_EQ(smlab::read_file(out), smlab::read_file(dir / "ref.csv"));
  EXPECT_EQ(smlab::read_file(out + ".rejects.csv"), smlab::read_file(dir / "ref.csv.rejects.csv"));
  const auto done = nlohmann::json::parse(smlab::read_file(out + ".done.json"));
  EXPECT_EQ(done["rows"].get<int64_t>() + done["rejects"].get<int64_t>(), 60000);
  EXPECT_EQ(done["rejects"].get<int64_t>(), bad);
}
