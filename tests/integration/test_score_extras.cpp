// `smlab score` beyond the basics: length bucketing for text (same scores as padding to
// max_len), penultimate-feature embeddings (the artifact's `embed` against the C++ model), and
// packed HDF5 shards in and an HDF5 file out.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "core/text.h"
#include "datasets/hdf5_io.h"
#include "datasets/pack.h"
#include "datasets/tokenizer.h"
#include "inference/export.h"
#include "score_helpers.h"
#include "test_util.h"
#include "tools/cli/cli.h"
#include "inference/scorer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using smlab::models::InputKind;

namespace {

using smlab::testing::export_to;
using smlab::testing::lines_of;
using smlab::testing::run_score;
using smlab::testing::score_quietly;

const char* kWords[] = {"good", "bad", "movie", "great", "awful", "happy", "sad", "day", "night", "love",
                        "the", "a", "very", "not", "really", "so", "film", "plot", "actor", "music"};

/// A tokenizer over generated sentences in `dir`/tok.model.
fs::path make_tokenizer(const fs::path& dir) {
  {
    std::ofstream c(dir / "corpus.txt");
    for (int i = 0; i < 600; ++i)
      c << kWords[i % 20] << " " << kWords[(i * 7) % 20] << " " << kWords[(i * 3) % 20] << " " << kWords[(i * 11) % 20] << "\n";
  }
  smlab::datasets::TokenizerTrainOptions t;
  t.input = dir / "corpus.txt";
  t.model_prefix = (dir / "tok").string();
  t.vocab_size = 60;
  smlab::datasets::train_tokenizer(t);
  return dir / "tok.model";
}

/// `n` texts of 1 to 90 words (some longer than max_len 64 tokens), as id<TAB>text lines; a few empty.
void write_texts(const fs::path& p, int n) {
  std::mt19937 rng(7);
  std::ostringstream s;
  for (int i = 0; i < n; ++i) {
    const int words = i % 50 == 0 ? 90 : 1 + static_cast<int>(rng() % (i % 3 == 0 ? 30 : 8));
    s << "t" << i << "\t";
    if (i % 97 == 5) {  // empty text: a reject, in its position
      s << "\n";
      continue;
    }
    for (int w = 0; w < words; ++w) s << (w ? " " : "") << kWords[rng() % 20];
    s << "\n";
  }
  smlab::write_file_atomic(p, s.str());
}

/// The penultimate features of `model` (the input of its Linear `fc_name`): the classifier is
/// temporarily made the identity.
torch::Tensor penultimate(smlab::models::Model& model, const std::string& fc_name, const torch::Tensor& x) {
  std::shared_ptr<torch::nn::LinearImpl> fc;
  for (const auto& m : model.named_modules())
    if (m.key() == fc_name) fc = std::dynamic_pointer_cast<torch::nn::LinearImpl>(m.value());
  if (!fc) throw std::runtime_error("no Linear '" + fc_name + "'");
  const auto w = fc->weight, b = fc->bias;
  const int64_t d = w.size(1);
  fc->weight = torch::eye(d);
  fc->bias = torch::zeros({d});
  torch::NoGradGuard ng;
  auto f = model.forward(x);
  fc->weight = w;
  fc->bias = b;
  return f;
}

std::map<std::string, json> jsonl_by_id(const fs::path& p) {
  std::map<std::string, json> out;
  for (const auto& l : lines_of(p)) {
    auto j = json::parse(l);
    out[j["id"].get<std::string>()] = j;
  }
  return out;
}

}  // namespace

// Bucketed scoring (batches sorted by token length, padded to their longest member) gives the
// same rows, in the same order, as padding every batch to max_len, for both text families.
TEST(ScoreExtras, BucketedTextScoresEqualUnbucketedScores) {
  const auto dir = smlab::testing::temp_dir();
  const auto tok = make_tokenizer(dir);
  write_texts(dir / "in.tsv", 700);
  for (const std::string name : {"text_cnn", "bilstm"}) {
    SCOPED_TRACE(name);
    auto info = smlab::models::example_info(InputKind::Tokens, 3);
    info.vocab_size = 60;
    info.input_shape = {64};
    const auto art = dir / (name + ".pt");
    export_to(art, name, info, {"data.name=text_tsv", "data.tokenizer=" + tok.string(), "data.max_len=64"});
    const auto spec = smlab::inference::load_artifact(art).spec;
    ASSERT_TRUE(spec.input.tokens && spec.input.tokens->variable_length) << spec.input.to_json().dump();
    const std::vector<std::string> common = {"--model", art.string(), "--input", (dir / "in.tsv").string(), "--id-field",
                                             "0", "--text-field", "1", "--chunk-rows", "300", "--batch-size", "16"};
    auto with = [&](std::vector<std::string> extra) {
      auto a = common;
      a.insert(a.end(), extra.begin(), extra.end());
      return a;
    };
    const auto b = dir / (name + "-bucketed.jsonl"), u = dir / (name + "-unbucketed.jsonl");
    ASSERT_EQ(run_score(with({"--output", b.string()})), 0);
    ASSERT_EQ(run_score(with({"--output", u.string(), "--no-bucket"})), 0);
    EXPECT_TRUE(json::parse(smlab::read_file(b.string() + ".done.json"))["bucket"].get<bool>());
    EXPECT_FALSE(json::parse(smlab::read_file(u.string() + ".done.json"))["bucket"].get<bool>());
    const auto rb = lines_of(b), ru = lines_of(u);
    ASSERT_EQ(rb.size(), ru.size());
    ASSERT_GT(rb.size(), 680u);
    double worst = 0;
    for (size_t i = 0; i < rb.size(); ++i) {
      const auto jb = json::parse(rb[i]), ju = json::parse(ru[i]);
      ASSERT_EQ(jb["id"], ju["id"]) << "row " << i << ": output order must not change";
      for (const auto& [cls, p] : ju["probs"].items())
        worst = std::max(worst, std::abs(jb["probs"][cls].get<double>() - p.get<double>()));
    }
    EXPECT_LE(worst, 1e-5);
    EXPECT_EQ(smlab::read_file(b.string() + ".rejects.csv"), smlab::read_file(u.string() + ".rejects.csv"));
    EXPECT_EQ(lines_of(b.string() + ".rejects.csv").size(), 1u + 8u);  // i % 97 == 5 for i < 700
  }
}

// An artifact whose metadata does not vouch for variable lengths is always scored at max_len.
TEST(ScoreExtras, BucketingIsOffWhenTheArtifactDoesNotAllowIt) {
  const auto dir = smlab::testing::temp_dir();
  const auto tok = make_tokenizer(dir);
  write_texts(dir / "in.tsv", 50);
  auto info = smlab::models::example_info(InputKind::Tokens, 3);
  info.vocab_size = 60;
  info.input_shape = {64};
  export_to(dir / "a.pt", "text_cnn", info, {"data.name=text_tsv", "data.tokenizer=" + tok.string(), "data.max_len=64"});
  auto a = smlab::inference::load_artifact(dir / "a.pt");
  a.spec.input.tokens->variable_length = false;
  smlab::inference::save_artifact(a, dir / "fixed.pt");
  ASSERT_EQ(run_score({"--model", (dir / "fixed.pt").string(), "--input", (dir / "in.tsv").string(), "--id-field", "0",
                       "--text-field", "1", "--output", (dir / "out.csv").string()}),
            0);
  EXPECT_FALSE(json::parse(smlab::read_file(dir / "out.csv.done.json"))["bucket"].get<bool>());
}

// The artifact's `embed` is the C++ model's penultimate features, and its classifier applied to
// them gives the logits, for text and ResNet models; `--embeddings` writes them per row.
TEST(ScoreExtras, EmbeddingsAreThePenultimateFeatures) {
  const auto dir = smlab::testing::temp_dir();
  const auto tok = make_tokenizer(dir);
  struct Case {
    std::string name;
    InputKind kind;
  };
  for (const auto& c : std::vector<Case>{{"text_cnn", InputKind::Tokens}, {"bilstm", InputKind::Tokens},
                                         {"resnet18", InputKind::Image}}) {
    SCOPED_TRACE(c.name);
    auto info = smlab::models::example_info(c.kind, 4);
    std::vector<std::string> ov;
    if (c.kind == InputKind::Tokens) {
      info.vocab_size = 60;
      ov = {"data.name=text_tsv", "data.tokenizer=" + tok.string(), "data.max_len=16"};
    } else {
      info.pixels = true;
    }
    const auto art = dir / (c.name + ".pt");
    auto model = export_to(art, c.name, info, ov);
    auto a = smlab::inference::load_artifact(art);
    ASSERT_TRUE(a.spec.output.embed.has_value()) << a.spec.to_json().dump();
    EXPECT_EQ(a.spec.output.embed->classifier, "fc");
    torch::manual_seed(9);
    const auto raw = smlab::inference::example_raw_input(a.spec.input, 5);
    const auto x = c.kind == InputKind::Image ? raw.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0 : raw;
    torch::NoGradGuard ng;
    const auto feats = penultimate(*model, "fc", x);
    const auto emb = a.module.run_method("embed", raw).toTensor();
    ASSERT_EQ(emb.sizes(), feats.sizes());
    EXPECT_EQ(emb.size(1), a.spec.output.embed->dim);
    EXPECT_LE(smlab::inference::relative_error(emb, feats), 1e-5);
    std::shared_ptr<torch::nn::LinearImpl> fc;
    for (const auto& m : model->named_modules())
      if (m.key() == "fc") fc = std::dynamic_pointer_cast<torch::nn::LinearImpl>(m.value());
    ASSERT_TRUE(fc);
    EXPECT_LE(smlab::inference::relative_error(fc->forward(emb), model->forward(x)), 1e-5);
    const auto both = a.module.run_method("forward_embed", raw).toTuple();
    EXPECT_LE(smlab::inference::relative_error(both->elements()[0].toTensor(), a.forward(raw)), 1e-6);
    EXPECT_LE(smlab::inference::relative_error(both->elements()[1].toTensor(), emb), 1e-6);
  }

  // Through `smlab score --embeddings` (JSONL keeps full float precision).
  smlab::write_file_atomic(dir / "in.jsonl", "{\"id\": \"a\", \"text\": \"good movie\"}\n"
                                             "{\"id\": \"b\", \"text\": \"really not a very good plot\"}\n"
                                             "{\"id\": \"c\", \"text\": \"\"}\n");
  ASSERT_EQ(run_score({"--model", (dir / "bilstm.pt").string(), "--input", (dir / "in.jsonl").string(), "--output",
                       (dir / "emb.jsonl").string(), "--embeddings"}),
            0);
  auto a = smlab::inference::load_artifact(dir / "bilstm.pt");
  auto tk = smlab::datasets::Tokenizer::load(tok);
  const auto rows = jsonl_by_id(dir / "emb.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  const auto e = a.module.run_method("embed", tk->encode_batch({"good movie", "really not a very good plot"}, 16)).toTensor();
  for (int i = 0; i < 2; ++i) {
    const auto& v = rows.at(i == 0 ? "a" : "b")["embedding"];
    ASSERT_EQ(static_cast<int64_t>(v.size()), e.size(1));
    for (int64_t k = 0; k < e.size(1); ++k) EXPECT_NEAR(v[k].get<double>(), e[i][k].item<double>(), 1e-6);
  }
  // CSV: columns e_0...
  ASSERT_EQ(run_score({"--model", (dir / "bilstm.pt").string(), "--input", (dir / "in.jsonl").string(), "--output",
                       (dir / "emb.csv").string(), "--embeddings"}),
            0);
  const auto header = smlab::text::split(lines_of(dir / "emb.csv")[0], ',');
  EXPECT_EQ(header[header.size() - static_cast<size_t>(e.size(1))], "e_0");
  EXPECT_EQ(header.back(), "e_" + std::to_string(e.size(1) - 1));

  // An artifact without the method is refused with a clear message.
  a.spec.output.embed.reset();
  smlab::inference::save_artifact(a, dir / "old.pt");
  smlab::testing::expect_user_error(
      [&] { score_quietly(dir / "old.pt", dir / "in.jsonl", dir / "old.jsonl", true); },
      {"old.pt", "has no embed method", "re-export"});
}

// Packed image shards (a `smlab pack` folder, and one shard with stored ids) in; HDF5 out with
// ids, positions, probabilities, top-k and embeddings, equal to the artifact on the stored pixels.
/// `n` random 32x32 PNGs in dir/raw/{cat,dog}/, packed 4 per shard into dir/packed; returns the shard count.
static int64_t pack_random_pngs(const fs::path& dir, int n, uint64_t seed) {
  cv::RNG rng(seed);
  for (int i = 0; i < n; ++i) {
    const fs::path d = dir / "raw" / (i % 2 ? "cat" : "dog");
    fs::create_directories(d);
    cv::Mat m(32, 32, CV_8UC3);
    rng.fill(m, cv::RNG::UNIFORM, 0, 255);
    cv::imwrite((d / ("img" + std::to_string(i) + ".png")).string(), m);
  }
  smlab::datasets::PackOptions po;
  po.shard_size = 4;
  return smlab::datasets::pack(dir / "raw", dir / "packed", po).shards;
}

TEST(ScoreExtras, PackedShardsInAndHdf5Out) {
  const auto dir = smlab::testing::temp_dir();
  auto info = smlab::models::example_info(InputKind::Image, 3);
  info.pixels = true;
  export_to(dir / "img.pt", "resnet18", info);
  auto a = smlab::inference::load_artifact(dir / "img.pt");
  // A class-folder tree of 32x32 PNGs, packed into two shards.
  ASSERT_EQ(pack_random_pngs(dir, 7, 3), 2);
  const auto packed = smlab::datasets::read_packed(dir / "packed");
  ASSERT_EQ(run_score({"--model", (dir / "img.pt").string(), "--input", (dir / "packed").string(), "--output",
                       (dir / "out.h5").string(), "--embeddings", "--top-k", "2", "--chunk-rows", "3"}),
            0);
  EXPECT_FALSE(fs::exists(dir / "out.h5.parts"));
  const auto arrays = smlab::datasets::h5::read_arrays(
      dir / "out.h5", {"ids", "positions", "probabilities", "top_k_indices", "top_k_probabilities", "classes", "embeddings"});
  ASSERT_EQ(arrays[0].strings, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6"}));
  EXPECT_EQ(arrays[1].i64, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  ASSERT_EQ(arrays[2].dims, (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(arrays[3].dims, (std::vector<int64_t>{7, 2}));
  EXPECT_EQ(arrays[5].strings, (std::vector<std::string>{"class0", "class1", "class2"}));
  const auto x = torch::from_blob(const_cast<uint8_t*>(packed.images.data()), {7, 32, 32, 3}, torch::kUInt8).clone();
  torch::NoGradGuard ng;
  const auto p = torch::softmax(a.forward(x), 1);
  const auto e = a.module.run_method("embed", x).toTensor();
  ASSERT_EQ(arrays[6].dims, (std::vector<int64_t>{7, e.size(1)}));
  for (int64_t i = 0; i < 7; ++i) {
    for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(arrays[2].f32[i * 3 + k], p[i][k].item<float>(), 1e-6);
    EXPECT_EQ(arrays[3].i64[i * 2], p[i].argmax().item<int64_t>());
    EXPECT_NEAR(arrays[4].f32[i * 2], p[i].max().item<float>(), 1e-6);
    for (int64_t k = 0; k < e.size(1); k += 37) EXPECT_NEAR(arrays[6].f32[i * e.size(1) + k], e[i][k].item<float>(), 1e-5);
  }

  // One shard with stored ids and a different image size (resized and centre-cropped like a file).
  smlab::datasets::h5::Shard sh;
  sh.image_shape = {2, 40, 48, 3};
  sh.images.resize(2 * 40 * 48 * 3);
  for (size_t i = 0; i < sh.images.size(); ++i) sh.images[i] = static_cast<uint8_t>((i * 31) % 251);
  sh.labels = {0, 1};
  sh.ids = {"img-a", "img-b"};
  smlab::datasets::h5::write_shard(dir / "one.h5", sh);
  ASSERT_EQ(run_score({"--model", (dir / "img.pt").string(), "--input", (dir / "one.h5").string(), "--output",
                       (dir / "one.csv").string()}),
            0);
  const auto rows = lines_of(dir / "one.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(smlab::text::split(rows[1], ',')[0], "img-a");
  EXPECT_EQ(smlab::text::split(rows[2], ',')[0], "img-b");

  // Video clip shards are not images: refused, naming the shard.
  smlab::datasets::h5::Shard clips;
  clips.image_shape = {1, 2, 8, 8, 3};
  clips.images.assign(2 * 8 * 8 * 3, 7);
  clips.labels = {0};
  smlab::datasets::h5::write_shard(dir / "clips.h5", clips);
  smlab::testing::expect_user_error(
      [&] { score_quietly(dir / "img.pt", dir / "clips.h5", dir / "clips.csv"); },
      {"clips.h5", "video clips"});
}

// Packed text shards (with stored ids) score like the same texts from a TSV, and the HDF5
// output holds the same rows as the CSV.
TEST(ScoreExtras, PackedTextShardsAndHdf5MatchCsv) {
  const auto dir = smlab::testing::temp_dir();
  const auto tok = make_tokenizer(dir);
  auto info = smlab::models::example_info(InputKind::Tokens, 3);
  info.vocab_size = 60;
  export_to(dir / "t.pt", "text_cnn", info, {"data.name=text_tsv", "data.tokenizer=" + tok.string(), "data.max_len=16"});
  smlab::datasets::h5::Shard sh;
  std::ostringstream tsv;
  for (int i = 0; i < 40; ++i) {
    std::string t;
    for (int w = 0; w <= i % 9; ++w) t += std::string(w ? " " : "") + kWords[(i * 7 + w) % 20];
    if (i == 11) t = " ";
    sh.texts.push_back(t);
    sh.labels.push_back(i % 3);
    sh.ids.push_back(std::string("r").append(std::to_string(i)));
    tsv << "r" << i << "\t" << t << "\n";
  }
  smlab::datasets::h5::write_shard(dir / "texts.h5", sh);
  smlab::write_file_atomic(dir / "texts.tsv", tsv.str());
  ASSERT_EQ(run_score({"--model", (dir / "t.pt").string(), "--input", (dir / "texts.h5").string(), "--output",
                       (dir / "a.csv").string(), "--batch-size", "8"}),
            0);
  ASSERT_EQ(run_score({"--model", (dir / "t.pt").string(), "--input", (dir / "texts.tsv").string(), "--id-field", "0",
                       "--text-field", "1", "--output", (dir / "b.csv").string(), "--batch-size", "8"}),
            0);
  EXPECT_EQ(smlab::read_file(dir / "a.csv"), smlab::read_file(dir / "b.csv"));
  EXPECT_EQ(lines_of(dir / "a.csv.rejects.csv"), (std::vector<std::string>{"id,position,reason", "r11,11,empty text"}));
  ASSERT_EQ(run_score({"--model", (dir / "t.pt").string(), "--input", (dir / "texts.h5").string(), "--output",
                       (dir / "a.h5").string(), "--batch-size", "8", "--chunk-rows", "16"}),
            0);
  const auto arr = smlab::datasets::h5::read_arrays(dir / "a.h5", {"ids", "probabilities"});
  const auto csv = lines_of(dir / "a.csv");
  ASSERT_EQ(arr[0].strings.size() + 1, csv.size());
  for (size_t r = 0; r < arr[0].strings.size(); ++r) {
    const auto f = smlab::text::split(csv[r + 1], ',');
    EXPECT_EQ(arr[0].strings[r], f[0]);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(arr[1].f32[r * 3 + k], std::stod(f[4 + k]), 1e-6 + 1e-5 * std::stod(f[4 + k]));
  }
  // Sharded HDF5 outputs cannot be merged yet: said clearly.
  smlab::testing::expect_user_error([&] { smlab::inference::merge(dir / "a.h5"); }, {"a.h5", "HDF5", "not supported"});
}

// Video clip shards (`smlab pack --kind video`): every clip scored like the artifact run directly
// on the stored frames (resized per frame when their size differs); clips of another length are
// refused with the fix.
TEST(ScoreExtras, VideoClipShardsAreScored) {
  const auto dir = smlab::testing::temp_dir();
  auto info = smlab::models::example_info(InputKind::Video, 3);  // 3 x 8 x 32 x 32
  info.pixels = true;
  export_to(dir / "clip.pt", "frame_2d", info);
  auto a = smlab::inference::load_artifact(dir / "clip.pt");
  ASSERT_EQ(a.spec.input.layout, smlab::inference::Layout::NTHWC);
  smlab::datasets::h5::Shard sh;
  sh.image_shape = {3, 8, 32, 32, 3};
  torch::manual_seed(2);
  const auto clips = torch::randint(0, 256, {3, 8, 32, 32, 3}, torch::kUInt8);
  sh.images.assign(clips.data_ptr<uint8_t>(), clips.data_ptr<uint8_t>() + clips.numel());
  sh.labels = {0, 1, 2};
  sh.ids = {"v1", "v2", "v3"};
  fs::create_directories(dir / "clips");
  smlab::datasets::h5::write_shard(dir / "clips" / "shard-00000.h5", sh);
  ASSERT_EQ(run_score({"--model", (dir / "clip.pt").string(), "--input", (dir / "clips").string(), "--output",
                       (dir / "out.jsonl").string()}),
            0);
  const auto rows = jsonl_by_id(dir / "out.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  torch::NoGradGuard ng;
  const auto p = torch::softmax(a.forward(clips), 1);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k)
      EXPECT_NEAR(rows.at("v" + std::to_string(i + 1))["probs"]["class" + std::to_string(k)].get<double>(),
                  p[i][k].item<double>(), 1e-6);

  // Larger frames are resized and centre-cropped frame by frame, like images.
  smlab::datasets::h5::Shard big = sh;
  big.image_shape = {3, 8, 40, 40, 3};
  big.images.assign(3 * 8 * 40 * 40 * 3, 100);
  smlab::datasets::h5::write_shard(dir / "big.h5", big);
  ASSERT_EQ(run_score({"--model", (dir / "clip.pt").string(), "--input", (dir / "big.h5").string(), "--output",
                       (dir / "big.jsonl").string()}),
            0);
  const auto flat = torch::full({1, 8, 32, 32, 3}, 100, torch::kUInt8);
  const auto pf = torch::softmax(a.forward(flat), 1);
  EXPECT_NEAR(jsonl_by_id(dir / "big.jsonl").at("v2")["probs"]["class0"].get<double>(), pf[0][0].item<double>(), 1e-6);

  // 4-frame clips for an 8-frame model: refused, saying how to fix it.
  smlab::datasets::h5::Shard short_clips = sh;
  short_clips.image_shape = {3, 4, 32, 32, 3};
  short_clips.images.resize(3 * 4 * 32 * 32 * 3);
  smlab::datasets::h5::write_shard(dir / "short.h5", short_clips);
  smlab::testing::expect_user_error(
      [&] { score_quietly(dir / "clip.pt", dir / "short.h5", dir / "short.csv"); },
      {"short.h5", "clips of 4 frames", "--frames 8"});
  // Image shards for a video model: refused, naming the shard.
  smlab::datasets::h5::Shard images;
  images.image_shape = {1, 32, 32, 3};
  images.images.assign(32 * 32 * 3, 1);
  images.labels = {0};
  smlab::datasets::h5::write_shard(dir / "images.h5", images);
  smlab::testing::expect_user_error(
      [&] { score_quietly(dir / "clip.pt", dir / "images.h5", dir / "images.csv"); },
      {"images.h5", "takes video clips"});
}

// Issue 22, item 7: scoring a pack folder skipped the manifest's size/CRC/count checks that training
// performs, so a shard replaced by a copy of another was scored as duplicate rows. It is refused now.
TEST(ScoreExtras, PackedShardsAreCheckedAgainstTheirManifest) {
  const auto dir = smlab::testing::temp_dir();
  auto info = smlab::models::example_info(InputKind::Image, 2);
  info.pixels = true;
  export_to(dir / "img.pt", "small_cnn", info);
  ASSERT_EQ(pack_random_pngs(dir, 8, 5), 2);
  std::vector<fs::path> shards;
  for (const auto& e : fs::directory_iterator(dir / "packed"))
    if (e.path().extension() == ".h5") shards.push_back(e.path());
  std::sort(shards.begin(), shards.end());
  ASSERT_EQ(shards.size(), 2u);
  fs::copy_file(shards[0], shards[1], fs::copy_options::overwrite_existing);  // shard 1 replaced by shard 0
  smlab::testing::expect_user_error(
      [&] { smlab::testing::score_quietly(dir / "img.pt", dir / "packed", dir / "out.csv"); },
      {shards[1].string(), "manifest"});
  EXPECT_FALSE(fs::exists(dir / "out.csv"));
}
