// Augmentations configured from YAML: entries as names or {name, params} maps, command-line
// overrides of list entries, parameters reaching the ops (against the ops called directly with the
// same seed), errors naming file:line and key path, MixUp/CutMix targets and training, the
// evaluation preprocessing derived from parameters, and the video-consistent clip op.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/config.h"
#include "cuda/ops.h"
#include "datasets/augment.h"
#include "test_util.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
namespace ops = smlab::ops;
namespace ds = smlab::datasets;
using smlab::config::ConfigError;
using smlab::config::load_string;
using nlohmann::json;

namespace {

const std::vector<double> kMean = {0.485, 0.456, 0.406}, kStd = {0.229, 0.224, 0.225};

at::Generator gen_for(uint64_t s) { return at::make_generator<at::CPUGeneratorImpl>(s); }

/// The seed the fused ops get: the first draw of the step generator (datasets' draw_seed).
int64_t first_seed(uint64_t s) {
  auto g = gen_for(s);
  return torch::randint(0, int64_t{1} << 62, {1}, g, torch::TensorOptions().dtype(torch::kLong)).item<int64_t>();
}

/// The train pipeline of a config given as YAML text plus overrides.
ds::AugmentPipeline train_pipeline(const std::string& yaml, const std::vector<std::string>& ov = {}) {
  return ds::AugmentPipeline(ds::augment_specs(load_string(yaml, "aug.yaml", ov), "augment.train"));
}

torch::Tensor run(const ds::AugmentPipeline& p, const torch::Tensor& x, uint64_t seed) {
  auto g = gen_for(seed);
  return p.apply(x, g);
}

torch::Tensor run1(const std::string& entry, const torch::Tensor& x, uint64_t seed = 3) {
  return run(train_pipeline("augment:\n  train: [" + entry + "]\n"), x, seed);
}

void expect_config_error(const std::function<void()>& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    for (const auto& s : fragments) EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
  }
}

}  // namespace

TEST(AugmentConfig, PlainNamesResolveToMapsWithEveryParameter) {
  const auto cfg = load_string("augment:\n  train: [hflip, random_resized_crop_flip]\n  eval: [resize_center_crop]\n",
                               "a.yaml");
  EXPECT_EQ(cfg.get<std::string>("augment.train.0.name"), "hflip");
  EXPECT_EQ(cfg.get<double>("augment.train.0.p"), 0.5);
  EXPECT_EQ(cfg.get<std::vector<double>>("augment.train.1.scale"), (std::vector<double>{0.08, 1.0}));
  EXPECT_EQ(cfg.get<double>("augment.eval.0.crop_fraction"), 0.875);
  // `smlab config show` prints the dump: every parameter is there, and the dump loads back the same.
  const std::string dump = cfg.dump();
  for (const char* key : {"flip_p", "ratio", "crop_fraction", "mean", "std"})
    EXPECT_NE(dump.find(key), std::string::npos) << key;
  EXPECT_EQ(load_string(dump, "again.yaml").hash(), cfg.hash());
}

TEST(AugmentConfig, CommandLineScaleChangesTheDrawnCropBoxes) {
  const std::string yaml = "augment:\n  train: [random_resized_crop_flip]\n";
  const auto narrow = load_string(yaml, "a.yaml", {"augment.train.0.scale=[0.5,1.0]"});
  EXPECT_EQ(narrow.get<std::vector<double>>("augment.train.0.scale"), (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(narrow.get<double>("augment.train.0.flip_p"), 0.5);  // the plain name kept its other defaults
  torch::manual_seed(1);
  const int64_t B = 64, H = 24, W = 20;
  const auto x = torch::randint(0, 256, {B, H, W, 3}, torch::kUInt8);
  const uint64_t step = 42;
  const auto seed = first_seed(step);
  const std::vector<double> ratio = {3.0 / 4.0, 4.0 / 3.0};
  const auto p_narrow = ops::augment_params(B, H, W, {0.5, 1.0}, ratio, 0.5, 0, 0, 0, 0, seed);
  const auto p_default = ops::augment_params(B, H, W, {0.08, 1.0}, ratio, 0.5, 0, 0, 0, 0, seed);
  // The pipeline applies exactly the boxes drawn with its scale.
  const auto out_narrow = run(ds::AugmentPipeline(ds::augment_specs(narrow, "augment.train")), x, step);
  const auto out_default = run(train_pipeline(yaml), x, step);
  EXPECT_TRUE(torch::equal(out_narrow, ops::augment_image(x, p_narrow, H, W, kMean, kStd)));
  EXPECT_TRUE(torch::equal(out_default, ops::augment_image(x, p_default, H, W, kMean, kStd)));
  EXPECT_FALSE(torch::equal(out_narrow, out_default));
  // The narrow boxes' areas lie in [0.5, 1] of the image (up to the rounding of h and w); the
  // default ones reach far below.
  const auto area = [&](const torch::Tensor& p) { return p.select(1, 2) * p.select(1, 3) / double(H * W); };
  EXPECT_GE(area(p_narrow).min().item<double>(), 0.5 - 2.0 * (H + W) / double(H * W));
  EXPECT_LE(area(p_narrow).max().item<double>(), 1.0);
  EXPECT_LT(area(p_default).min().item<double>(), 0.3);
}

TEST(AugmentConfig, OverridesIndexListsAndAcceptMaps) {
  const auto cfg = load_string("augment:\n  train:\n    - hflip\n    - {name: gaussian_noise, std: 0.2}\n", "a.yaml",
                               {"augment.train.0.p=0.25", "augment.train.1.std=0.3"});
  EXPECT_EQ(cfg.get<double>("augment.train.0.p"), 0.25);
  EXPECT_EQ(cfg.get<double>("augment.train.1.std"), 0.3);
  const auto whole = load_string("version: 1\n", "a.yaml", {"augment.train=[{name: mixup, alpha: 0.4}, hflip]"});
  EXPECT_EQ(whole.get<double>("augment.train.0.alpha"), 0.4);
  EXPECT_EQ(whole.get<std::string>("augment.train.1.name"), "hflip");
  expect_config_error([] { load_string("augment:\n  train: [hflip]\n", "a.yaml", {"augment.train.3.p=1"}); },
                      {"command line", "augment.train.3.p", "not an index"});
}

TEST(AugmentConfig, BadParametersNameTheFileTheKeyAndWhatIsAllowed) {
  expect_config_error([] { load_string("augment:\n  train:\n    - {name: hflip, p: 1.5}\n", "bad.yaml"); },
                      {"bad.yaml:3", "augment.train.0.p", "out of range", "[0.0, 1.0]"});
  expect_config_error([] { load_string("augment:\n  train: [hflip, {name: hflip, pp: 1}]\n", "bad.yaml"); },
                      {"bad.yaml:2", "augment.train.1.pp", "unknown parameter", "did you mean 'p'"});
  expect_config_error([] { load_string("augment:\n  eval:\n    - {name: hflp}\n", "bad.yaml"); },
                      {"bad.yaml:3", "augment.eval.0.name", "unknown augmentation 'hflp'", "did you mean 'hflip'"});
  expect_config_error([] { load_string("augment:\n  train: [random_resized_crop_flip]\n", "bad.yaml",
                                       {"augment.train.0.scale=[0.5, 2]"}); },
                      {"command line", "augment.train.0.scale[1]", "out of range", "[0.0, 1.0]"});
  expect_config_error([] { load_string("augment:\n  train:\n    - {p: 1}\n", "bad.yaml"); },
                      {"bad.yaml:3", "augment.train.0", "needs a `name` key"});
  // What the schema cannot say (a range's order, an odd kernel) fails when the pipeline is built.
  smlab::testing::expect_user_error(
      [] { train_pipeline("augment:\n  train: [{name: random_resized_crop_flip, scale: [0.9, 0.5]}]\n"); },
      {"random_resized_crop_flip", "scale", "low <= high"});
  smlab::testing::expect_user_error(
      [] { train_pipeline("augment:\n  train: [{name: gaussian_blur, kernel_size: 4}]\n"); },
      {"gaussian_blur", "kernel_size", "odd"});
}

TEST(AugmentConfig, ParametersFromYamlReachTheOps) {
  torch::manual_seed(5);
  const auto u8 = torch::randint(0, 256, {6, 16, 12, 3}, torch::kUInt8);
  const auto x = torch::rand({6, 3, 16, 12});
  // Colour jitter: 0 gives the un-jittered op, 0.4 something else.
  const auto still = run1("{name: random_resized_crop_flip_jitter, brightness: 0, contrast: 0, saturation: 0, hue: 0}", u8);
  const auto p0 = ops::augment_params(6, 16, 12, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0, 0, 0, 0, first_seed(3));
  EXPECT_TRUE(torch::equal(still, ops::augment_image(u8, p0, 16, 12, kMean, kStd)));
  EXPECT_FALSE(torch::equal(still, run1("random_resized_crop_flip_jitter", u8)));
  // Probabilities: p = 0 is the identity, p = 1 always applies.
  for (const char* e : {"{name: hflip, p: 0}", "{name: random_grayscale, p: 0}", "{name: gaussian_blur, p: 0}",
                        "{name: random_erasing, p: 0}", "{name: gaussian_noise, std: 0}", "{name: random_crop_pad4, pad: 0}",
                        "{name: randaugment, ops: [brightness, contrast], magnitude: 0}",
                        "{name: randaugment, ops: [hflip], num_ops: 2}", "{name: trivial_augment, ops: [identity]}"})
    EXPECT_TRUE(torch::allclose(run1(e, x), x, 0, 1e-6)) << e;  // contrast 1 is mean + (x - mean): rounding
  EXPECT_TRUE(torch::equal(run1("{name: hflip, p: 1}", x), x.flip({-1})));
  EXPECT_TRUE(torch::equal(run1("{name: randaugment, ops: [hflip], num_ops: 1}", x), x.flip({-1})));
  EXPECT_TRUE(torch::equal(run1("{name: random_grayscale, p: 1}", x), ops::grayscale(x, 3)));
  EXPECT_TRUE(torch::allclose(run1("{name: gaussian_blur, p: 1, sigma: [1.5, 1.5], kernel_size: 5}", x),
                              ops::gaussian_blur(x, torch::full({6}, 1.5, torch::kDouble), 5)));
  const auto noisy = run1("{name: gaussian_noise, std: 0.5}", x);
  EXPECT_NEAR((noisy - x).std().item<double>(), 0.5, 0.03);
  // Erasing writes `value` into exactly the boxes drawn with its p/scale/ratio.
  const auto boxes = ops::erasing_params(6, 16, 12, 1.0, {0.1, 0.2}, {0.5, 2.0}, first_seed(3));
  EXPECT_TRUE(torch::equal(run1("{name: random_erasing, p: 1, scale: [0.1, 0.2], ratio: [0.5, 2.0], value: 7}", x),
                           ops::random_erasing(x, boxes, 7.0)));
  // Eval resize and normalisation statistics.
  EXPECT_TRUE(torch::equal(run1("{name: resize_center_crop, crop_fraction: 0.5}", u8),
                           ops::augment_eval(u8, 24, 16, 12, kMean, kStd)));
  EXPECT_TRUE(torch::allclose(run1("{name: normalize, mean: [0.5, 0.25, 0], std: [2, 4, 1]}", x),
                              (x - torch::tensor({0.5f, 0.25f, 0.f}).view({1, 3, 1, 1})) /
                                  torch::tensor({2.f, 4.f, 1.f}).view({1, 3, 1, 1})));
  // Translate moves the whole image by the drawn amount: with magnitude 30 and one op, every sample
  // is shifted by 45% of its width, left or right, zero-filled.
  const auto moved = run1("{name: randaugment, ops: [translate_x], num_ops: 1, magnitude: 30}", x);
  const int64_t s = std::llround(0.45 * 12);
  for (int64_t i = 0; i < 6; ++i) {
    const bool right = torch::equal(moved[i].narrow(2, s, 12 - s), x[i].narrow(2, 0, 12 - s));
    const bool left = torch::equal(moved[i].narrow(2, 0, 12 - s), x[i].narrow(2, s, 12 - s));
    EXPECT_TRUE(right || left) << "sample " << i;
  }
}

TEST(AugmentConfig, MixupAndCutmixGiveSoftTargetsWithTheDrawnLambda) {
  torch::manual_seed(2);
  const int64_t B = 8, K = 5, H = 6, W = 7;
  const auto x = torch::rand({B, 3, H, W});
  const auto y = torch::randint(0, K, {B}, torch::kLong);
  const auto onehot = torch::one_hot(y, K).to(torch::kFloat);
  for (const bool cut : {false, true}) {
    const std::string entry = cut ? "{name: cutmix, alpha: 1.0}" : "{name: mixup, alpha: 0.2}";
    ds::AugmentBatch b{x, y, K};
    auto g = gen_for(9);
    const auto p = train_pipeline("augment:\n  train: [" + entry + "]\n");
    EXPECT_TRUE(p.mixes_targets());
    p.apply(b, g);
    ASSERT_EQ(b.target.sizes(), (std::vector<int64_t>{B, K})) << entry;
    EXPECT_TRUE(torch::allclose(b.target.sum(1), torch::ones({B}))) << entry;
    const auto [lam, boxes, perm] = ops::mix_params(B, cut ? H : 1, cut ? W : 1, cut ? 1.0 : 0.2, first_seed(9));
    if (cut) {
      const auto [xr, yr] = ops::cutmix(x, onehot, perm, boxes);
      EXPECT_TRUE(torch::equal(b.input, xr));
      EXPECT_TRUE(torch::allclose(b.target, yr));
    } else {
      // lambda ~ Beta(0.2, 0.2): the mix of each sample with its partner is exactly that lambda.
      const auto l = lam.to(torch::kFloat).view({B, 1});
      EXPECT_TRUE(torch::allclose(b.target, l * onehot + (1 - l) * onehot.index_select(0, perm), 1e-6, 1e-6));
      EXPECT_TRUE(torch::allclose(b.input, l.view({B, 1, 1, 1}) * x + (1 - l.view({B, 1, 1, 1})) * x.index_select(0, perm),
                                  1e-5, 1e-6));
    }
  }
  // Evaluation pipelines have no targets: a mixing entry there is a user error.
  const auto eval = ds::AugmentPipeline({ds::default_spec("mixup")});
  auto g = gen_for(1);
  smlab::testing::expect_user_error([&] { eval.apply(x, g); }, {"mixup", "augment.eval"});
}

TEST(AugmentConfig, MixupAndCutmixFromYamlTrainASmokeModel) {
  const auto dir = smlab::testing::temp_dir();
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"mixup",
       "model: {name: mlp, hidden: [32]}\n"
       "data: {name: synthetic_blobs, features: 8, classes: 3, spread: 1.0, train_size: 480, val_size: 96, "
       "test_size: 96, batch_size: 32, workers: 0}\n"
       "augment: {train: [{name: mixup, alpha: 0.2}]}\n"},
      {"cutmix",
       "model: {name: small_cnn, channels: [8]}\n"
       "data: {name: synthetic_images, size: 8, classes: 3, train_size: 480, val_size: 96, test_size: 96, "
       "batch_size: 32, workers: 0}\n"
       "augment: {train: [hflip, {name: cutmix, alpha: 1.0}]}\n"}};
  for (const auto& [name, yaml] : runs) {
    const auto cfg = load_string(yaml + "optim: {name: sgd, lr: 0.1}\ntrain: {epochs: 4, log_every: 5, progress: none}\n",
                                 name + ".yaml", {"experiment.output_dir=" + (dir / name).string(), "experiment.device=cpu"});
    const auto r = smlab::trainers::train(cfg);
    EXPECT_EQ(r.summary["status"], "completed") << name;
    std::vector<double> losses;
    std::ifstream in(r.run_dir / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto rec = json::parse(line);
      if (rec["split"] == "train") losses.push_back(rec["loss"].get<double>());
    }
    ASSERT_GE(losses.size(), 4u) << name;
    for (double l : losses) EXPECT_TRUE(std::isfinite(l)) << name;
    // Mixed targets keep the loss above the clean one, but it still falls as the model learns.
    const double first = (losses[0] + losses[1]) / 2, last = (losses[losses.size() - 1] + losses[losses.size() - 2]) / 2;
    EXPECT_LT(last, first) << name;
    EXPECT_GT(r.summary["test"]["top1"].get<double>(), 0.5) << name;  // chance is 1/3
  }
}

namespace {

/// The name-matching rule eval_preprocessing had before it read parameters: the oracle that
/// existing configs keep their exported preprocessing.
ds::PixelPreprocessing old_rule(const std::vector<std::string>& eval, const std::vector<std::string>& train,
                                int64_t h, int64_t w) {
  const std::set<std::string> imagenet = {"random_resized_crop_flip_jitter", "random_resized_crop_flip",
                                          "resize_center_crop"};
  auto has = [](const std::vector<std::string>& v, const std::set<std::string>& s) {
    for (const auto& n : v)
      if (s.count(n)) return true;
    return false;
  };
  ds::PixelPreprocessing p;
  if (has(eval, imagenet) || has(train, imagenet)) p.mean = kMean, p.std = kStd;
  if (has(eval, {"cifar10_normalize"}) || has(train, {"cifar10_normalize"}))
    p.mean = {0.4914, 0.4822, 0.4465}, p.std = {0.2470, 0.2435, 0.2616};
  if (has(eval, {"resize_center_crop"})) p.resize_shorter = std::llround(std::min(h, w) / 0.875);
  return p;
}

std::vector<std::string> names(const std::vector<ds::AugmentSpec>& specs) {
  std::vector<std::string> out;
  for (const auto& s : specs) out.push_back(s.name);
  return out;
}

void expect_same(const ds::PixelPreprocessing& a, const ds::PixelPreprocessing& b, const std::string& what) {
  EXPECT_EQ(a.resize_shorter, b.resize_shorter) << what;
  ASSERT_EQ(a.mean.size(), b.mean.size()) << what;
  for (size_t i = 0; i < a.mean.size(); ++i) {
    EXPECT_DOUBLE_EQ(a.mean[i], b.mean[i]) << what;
    EXPECT_DOUBLE_EQ(a.std[i], b.std[i]) << what;
  }
}

}  // namespace

TEST(AugmentConfig, EvalPreprocessingComesFromParameters) {
  auto pre = [](const std::string& yaml) {
    const auto cfg = load_string(yaml, "p.yaml");
    return ds::eval_preprocessing(ds::augment_specs(cfg, "augment.eval"), ds::augment_specs(cfg, "augment.train"), 224, 200);
  };
  // Every pipeline the old name rule knew gives what it gave.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[resize_center_crop]", "[random_resized_crop_flip_jitter]"}, {"[]", "[random_resized_crop_flip]"},
      {"[cifar10_normalize]", "[random_crop_pad4, hflip, cifar10_normalize]"}, {"[]", "[hflip]"}, {"[]", "[]"}};
  for (const auto& [eval, train] : cases) {
    const auto cfg = load_string("augment: {eval: " + eval + ", train: " + train + "}\n", "p.yaml");
    const auto e = ds::augment_specs(cfg, "augment.eval"), t = ds::augment_specs(cfg, "augment.train");
    expect_same(ds::eval_preprocessing(e, t, 224, 200), old_rule(names(e), names(t), 224, 200), eval + " / " + train);
  }
  EXPECT_EQ(pre("augment: {eval: [resize_center_crop]}\n").resize_shorter, std::llround(200 / 0.875));
  // Parameters, not names: a user's statistics and crop fraction reach the artifact.
  const auto user = pre("augment: {eval: [{name: resize_center_crop, crop_fraction: 0.5, mean: [0.5, 0.5, 0.5], "
                        "std: [0.25, 0.25, 0.25]}]}\n");
  EXPECT_EQ(user.resize_shorter, 400);
  EXPECT_EQ(user.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(user.std, (std::vector<double>{0.25, 0.25, 0.25}));
  EXPECT_EQ(pre("augment: {train: [{name: normalize, mean: [0.1, 0.2, 0.3], std: [1, 2, 3]}]}\n").mean,
            (std::vector<double>{0.1, 0.2, 0.3}));
  EXPECT_EQ(pre("augment: {train: [{name: cifar10_normalize, std: [1, 1, 1]}]}\n").std, (std::vector<double>{1, 1, 1}));
}

TEST(AugmentConfig, ExperimentConfigsKeepTheirExportedPreprocessing) {
  ::setenv("SMLAB_DATA", "/nonexistent-data", 0);
  int compared = 0, normalised = 0;
  const fs::path root = fs::path(smlab::testing::source_dir()) / "experiments";
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    // sweep files are not experiments; look at the path below experiments/ only (a checkout may be
    // in a folder whose name contains "sweeps")
    if (e.path().extension() != ".yaml" || fs::relative(e.path(), root).string().rfind("sweeps/", 0) == 0) continue;
    std::optional<smlab::config::Config> cfg;
    try {
      cfg = smlab::config::load(e.path());
    } catch (const smlab::UserError&) {
      continue;  // a base file that is not an experiment by itself
    }
    const auto ev = ds::augment_specs(*cfg, "augment.eval"), tr = ds::augment_specs(*cfg, "augment.train");
    expect_same(ds::eval_preprocessing(ev, tr, 32, 32), old_rule(names(ev), names(tr), 32, 32), e.path().string());
    ++compared;
    normalised += !old_rule(names(ev), names(tr), 32, 32).mean.empty();
  }
  EXPECT_GT(compared, 10);
  EXPECT_GT(normalised, 2);  // the CIFAR-10 recipes
}

TEST(AugmentConfig, VideoClipOpFromYamlMatchesTheReferenceAndCropsEveryFrameAlike) {
  torch::manual_seed(4);
  const int64_t N = 3, T = 6, H = 20, W = 24, OT = 4, S = 16;
  const auto clips = torch::randint(0, 256, {N, T, H, W, 3}, torch::kUInt8);
  const auto p = train_pipeline(
      "augment:\n  train:\n    - {name: video_random_resized_crop_flip_jitter, scale: [0.3, 1.0], frames: 4, size: 16, "
      "flip_p: 0.5, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}\n");
  const auto out = run(p, clips, 21);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{N, 3, OT, S, S}));
  const std::vector<double> mean = {0.5, 0.5, 0.5}, std = {0.25, 0.25, 0.25};
  const auto vp = ops::video_params(N, T, OT, H, W, {0.3, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.4, 0.4, 0.1, first_seed(21));
  EXPECT_TRUE(torch::equal(out, ops::augment_video(clips, vp, OT, S, S, mean, std).permute({0, 2, 1, 3, 4})));
  // Every frame of clip n is augment_image of that frame with clip n's one crop/flip/jitter.
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t0 = std::llround(vp[n][9].item<double>());
    for (int64_t k = 0; k < OT; ++k) {
      const auto ref = ops::augment_image(clips[n][t0 + k].unsqueeze(0), vp[n].narrow(0, 0, 9).unsqueeze(0), S, S, mean, std);
      EXPECT_LT((out[n].select(1, k) - ref[0]).abs().max().item<double>(), 1e-5) << "clip " << n << " frame " << k;
    }
  }
  // The eval op: the centre frames and crop, deterministic, multi-clip batches included.
  const auto ev = run1("{name: video_center_crop, frames: 4, size: 16}", clips.unsqueeze(1).expand({N, 2, T, H, W, 3}));
  ASSERT_EQ(ev.sizes(), (std::vector<int64_t>{N, 2, 3, OT, S, S}));
  const auto centre = clips.narrow(1, 1, OT).narrow(2, 2, S).narrow(3, 4, S).permute({0, 4, 1, 2, 3}).to(torch::kFloat) / 255.0;
  EXPECT_LT((ev.select(1, 1) - centre).abs().max().item<double>(), 1e-6);
}
