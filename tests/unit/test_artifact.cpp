// The typed artifact contract (inference/artifact.h): format 2 round-trips through JSON, format 1
// metadata (written by smlab before the typed spec, copied here from such an artifact) maps into
// the same typed fields, unknown values and newer formats are refused with the fix; the
// --checkpoint parser of open_run; the eval-time pixel geometry the scorer shares with training
// (ops::augment_eval), checked against torch's own bilinear resize.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "inference/artifact.h"
#include "inference/open_run.h"
#include "inference/preprocess.h"
#include "test_util.h"

namespace {

using nlohmann::json;
using smlab::inference::ArtifactSpec;
using smlab::models::InputKind;
namespace inf = smlab::inference;

// smlab.json of a format-1 image artifact (CIFAR-10 ResNet, fields as the old export wrote them).
const char* kImageV1 = R"({
  "format": 1, "smlab_version": "0.9.0", "libtorch_version": "2.11.0", "model": "resnet20",
  "task": "classification", "classes": ["cat", "dog"], "output_dim": 2, "outputs": "logits",
  "input": {"kind": "image", "dtype": "uint8", "layout": "NHWC", "shape": [32, 32, 3],
            "preprocess": {"resize_shorter": 37, "crop": [32, 32], "scale": 0.00392156862745098,
                           "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616]}},
  "embed": {"methods": ["embed", "forward_embed"], "dim": 64, "classifier": "fc", "relative_error": 1e-7},
  "config_hash": "abc", "config": "version: 1\n", "export_check": {"batch": 3, "relative_error": 2e-7},
  "run": "/runs/r", "checkpoint": "best"})";

// ... and of a format-1 token artifact.
const char* kTokensV1 = R"({
  "format": 1, "smlab_version": "0.9.0", "model": "text_cnn", "task": "classification",
  "classes": ["neg", "neu", "pos"], "output_dim": 3, "outputs": "logits",
  "input": {"kind": "tokens", "dtype": "int64", "layout": "N...", "shape": [64], "vocab_size": 8000,
            "pad_id": 0, "max_len": 64, "normalize": "tweeteval", "variable_length": true,
            "length_check": {"lengths": [1, 7, 64], "relative_error": 0.0}, "tokenizer": "tokenizer.model"},
  "config_hash": "h", "config": "", "export_check": {"batch": 3, "relative_error": 0.0},
  "ensemble": {"members": ["/a", "/b"], "method": "weighted", "temperatures": [1.5, 0.7], "weights": [0.3, 0.7]}})";

TEST(Artifact, Format1MetadataMapsIntoTheTypedSpec) {
  const auto img = ArtifactSpec::from_json(json::parse(kImageV1), "img.pt");
  EXPECT_EQ(img.format, 1);
  EXPECT_EQ(img.model, "resnet20");
  EXPECT_EQ(img.input.kind, InputKind::Image);
  EXPECT_EQ(img.input.dtype, inf::DType::UInt8);
  EXPECT_EQ(img.input.layout, inf::Layout::NHWC);
  EXPECT_EQ(img.input.shape, std::vector<int64_t>({32, 32, 3}));
  ASSERT_TRUE(img.input.pixels.has_value());
  EXPECT_FALSE(img.input.tokens.has_value());
  EXPECT_EQ(img.input.pixels->resize_shorter, 37);
  EXPECT_EQ(img.input.pixels->crop, std::vector<int64_t>({32, 32}));
  EXPECT_DOUBLE_EQ(img.input.pixels->mean.at(1), 0.4822);
  EXPECT_DOUBLE_EQ(img.input.pixels->std.at(2), 0.2616);
  EXPECT_EQ(img.output.task, smlab::datasets::Task::Classification);
  EXPECT_EQ(img.output.classes, std::vector<std::string>({"cat", "dog"}));
  EXPECT_EQ(img.output.dim, 2);
  EXPECT_EQ(img.output.outputs, inf::OutputKind::Logits);
  ASSERT_TRUE(img.output.embed.has_value());
  EXPECT_EQ(img.output.embed->dim, 64);
  EXPECT_EQ(img.output.embed->classifier, "fc");
  EXPECT_EQ(img.check_batch, 3);
  EXPECT_DOUBLE_EQ(img.check_error, 2e-7);
  EXPECT_EQ(img.run, "/runs/r");
  EXPECT_EQ(img.checkpoint, "best");

  const auto tok = ArtifactSpec::from_json(json::parse(kTokensV1), "tok.pt");
  EXPECT_EQ(tok.input.kind, InputKind::Tokens);
  EXPECT_EQ(tok.input.dtype, inf::DType::Int64);
  EXPECT_EQ(tok.input.layout, inf::Layout::Flat);
  ASSERT_TRUE(tok.input.tokens.has_value());
  EXPECT_EQ(tok.input.tokens->vocab_size, 8000);
  EXPECT_EQ(tok.input.tokens->max_len, 64);
  EXPECT_EQ(tok.input.tokens->normalize, inf::TextNormalize::TweetEval);
  EXPECT_TRUE(tok.input.tokens->variable_length);
  EXPECT_EQ(tok.input.tokens->tokenizer, "tokenizer.model");
  EXPECT_FALSE(tok.output.embed.has_value());
  ASSERT_TRUE(tok.output.ensemble.has_value());
  EXPECT_EQ(tok.output.ensemble->temperatures, std::vector<double>({1.5, 0.7}));
  EXPECT_EQ(tok.output.ensemble->method, "weighted");
}

TEST(Artifact, Format2RoundTripsAndIsWhatFormat1MapsTo) {
  for (const char* v1 : {kImageV1, kTokensV1}) {
    auto spec = ArtifactSpec::from_json(json::parse(v1), "a.pt");
    spec.format = inf::kArtifactFormat;
    const auto j = spec.to_json();
    EXPECT_EQ(j["format"], 2);
    EXPECT_TRUE(j["output"].contains("classes"));  // nested: the format-2 layout
    EXPECT_FALSE(j.contains("classes"));
    const auto back = ArtifactSpec::from_json(j, "a.pt");
    EXPECT_EQ(back.to_json(), j);
  }
}

TEST(Artifact, ACalibrationTemperatureRoundTripsAndMustBePositive) {
  auto spec = ArtifactSpec::from_json(json::parse(kImageV1), "t.pt");
  EXPECT_EQ(spec.output.temperature, 1.0);
  spec.format = inf::kArtifactFormat;
  EXPECT_FALSE(spec.to_json()["output"].contains("temperature")) << "an uncalibrated artifact writes no temperature";
  spec.output.temperature = 1.5147;
  auto j = spec.to_json();
  EXPECT_EQ(ArtifactSpec::from_json(j, "t.pt").output.temperature, 1.5147);
  for (double bad : {0.0, -2.0}) {
    j["output"]["temperature"] = bad;
    smlab::testing::expect_user_error([&] { ArtifactSpec::from_json(j, "t.pt"); },
                                      {"t.pt", "output.temperature must be a positive number"});
  }
}

TEST(Artifact, UnknownValuesAndNewerFormatsAreRefusedWithTheFix) {
  auto j = json::parse(kImageV1);
  j["input"]["kind"] = "hologram";
  smlab::testing::expect_user_error([&] { ArtifactSpec::from_json(j, "h.pt"); },
                                    {"h.pt", "unknown input kind 'hologram'", "upgrade smlab"});
  j = json::parse(kImageV1);
  j["input"]["dtype"] = "float8";
  smlab::testing::expect_user_error([&] { ArtifactSpec::from_json(j, "f.pt"); }, {"f.pt", "input dtype 'float8'"});
  j = json::parse(kImageV1);
  j["outputs"] = "logprobs";
  smlab::testing::expect_user_error([&] { ArtifactSpec::from_json(j, "o.pt"); }, {"output kind 'logprobs'"});
  j = json::parse(kImageV1);
  j["format"] = inf::kArtifactFormat + 5;
  std::string want = "n.pt: artifact format ";
  want += std::to_string(inf::kArtifactFormat + 5);
  want += " (written by smlab 0.9.0) is newer than this smlab (";
  want += std::to_string(inf::kArtifactFormat);
  want += "); upgrade smlab";
  smlab::testing::expect_user_error([&] { ArtifactSpec::from_json(j, "n.pt"); }, {want});
  j = json::parse(kImageV1);
  j.erase("model");
  smlab::testing::expect_user_error([&] { ArtifactSpec::from_json(j, "m.pt"); }, {"m.pt", "no 'model'"});
  j = json::parse(kImageV1);
  j["classes"] = {"only_one"};
  smlab::testing::expect_user_error([&] { ArtifactSpec::from_json(j, "c.pt"); }, {"1 class names for 2 outputs"});
}

TEST(OpenRun, CheckpointIsParsedOnce) {
  EXPECT_EQ(inf::parse_checkpoint("best"), inf::Checkpoint::Best);
  EXPECT_EQ(inf::parse_checkpoint("last"), inf::Checkpoint::Last);
  EXPECT_EQ(inf::checkpoint_name(inf::parse_checkpoint("last")), "last");
  try {
    inf::parse_checkpoint("newest");
    FAIL() << "no error";
  } catch (const smlab::UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "--checkpoint must be best or last, got 'newest'");
  }
}

// The shorter side that makes augment_eval's resized image cover the crop (torchvision's rule:
// the longer side becomes int(r * long / short)).
TEST(Preprocess, CoveringResizeFollowsTorchvisionsRule) {
  EXPECT_EQ(inf::covering_resize(32, 32, 32, 32, 0), 32);    // already the crop: identity
  EXPECT_EQ(inf::covering_resize(32, 32, 32, 32, 37), 37);   // the eval pipeline's resize wins
  EXPECT_EQ(inf::covering_resize(48, 64, 32, 32, 0), 32);    // 32 x int(32 * 64 / 48) = 32 x 42
  EXPECT_EQ(inf::covering_resize(64, 20, 32, 32, 0), 32);    // tall: 102 x 32
  EXPECT_EQ(inf::covering_resize(100, 20, 32, 16, 0), 16);   // tall: 80 x 16 covers 32 x 16
  EXPECT_EQ(inf::covering_resize(20, 100, 16, 96, 0), 20);   // wide: int(19 * 5) = 95 < 96, so 20 -> 100
  EXPECT_EQ(inf::covering_resize(10, 10, 24, 24, 0), 24);    // upsampling
}

// Scoring's pixels are augment_eval's (the op training evaluation runs), rounded to uint8:
// checked against torch's bilinear interpolate (align_corners=false, no antialias) + center crop.
TEST(Preprocess, EvalPixelsAreTorchBilinearResizeAndCenterCrop) {
  torch::manual_seed(3);
  const auto img = torch::randint(0, 256, {2, 48, 64, 3}, torch::kUInt8);
  inf::PixelPreprocess p;
  p.crop = {32, 32};
  const auto got = inf::eval_pixels(img, p);
  ASSERT_EQ(got.sizes(), torch::IntArrayRef({2, 32, 32, 3}));
  ASSERT_EQ(got.scalar_type(), torch::kUInt8);
  namespace F = torch::nn::functional;
  const auto resized = F::interpolate(img.permute({0, 3, 1, 2}).to(torch::kFloat),
                                      F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{32, 42})
                                          .mode(torch::kBilinear)
                                          .align_corners(false));
  const auto want = resized.slice(3, 5, 37).permute({0, 2, 3, 1}).round().clamp(0, 255);  // left = round(10 / 2)
  EXPECT_LE((got.to(torch::kFloat) - want).abs().max().item<float>(), 1.0f);
  EXPECT_GT((got.to(torch::kFloat) - want).abs().le(0.5).to(torch::kFloat).mean().item<float>(), 0.99f);

  // At the crop size the pixels are untouched; a gray image is resized like its RGB copy.
  const auto same = torch::randint(0, 256, {1, 32, 32, 3}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(inf::eval_pixels(same, p), same));
  const auto gray = torch::randint(0, 256, {1, 40, 40, 1}, torch::kUInt8);
  const auto g = inf::eval_pixels(gray, p), rgb = inf::eval_pixels(gray.expand({-1, -1, -1, 3}).contiguous(), p);
  ASSERT_EQ(g.sizes(), torch::IntArrayRef({1, 32, 32, 1}));
  EXPECT_TRUE(torch::equal(g.select(3, 0), rgb.select(3, 0)));
}

}  // namespace
