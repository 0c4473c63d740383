// Typed configs: inheritance, overrides, interpolation, and every kind of bad input.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "core/atomic_file.h"
#include "core/config.h"
#include "tools/register_all.h"
#include "test_util.h"

namespace fs = std::filesystem;
using smlab::config::ConfigError;
using smlab::config::load;
using smlab::config::load_string;

namespace {

void write(const fs::path& p, const std::string& text) { smlab::write_file_atomic(p, text); }

/// Loads and expects a ConfigError whose message contains every fragment.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& fragments) {
  try {
    f();
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "missing '" << frag << "' in: " << msg;
  }
}

}  // namespace

TEST(Config, DefaultsFillEverySection) {
  auto cfg = load_string("version: 1\n", "mem.yaml");
  EXPECT_EQ(cfg.get<int>("train.epochs"), 10);
  EXPECT_EQ(cfg.get<std::string>("model.name"), "mlp");
  EXPECT_EQ(cfg.get<std::vector<int64_t>>("model.hidden"), (std::vector<int64_t>{64, 64}));  // the mlp's own default
  EXPECT_DOUBLE_EQ(cfg.get<double>("optim.lr"), 0.1);
  EXPECT_EQ(cfg.get<std::string>("experiment.name"), "mem");  // the file's stem
}

TEST(Config, BaseInheritanceAndOverridesApplyInOrder) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "base.yaml", "version: 1\ntrain:\n  epochs: 5\n  grad_accum: 2\noptim:\n  lr: 0.5\n");
  write(dir / "mid.yaml", "_base_: base.yaml\ntrain:\n  epochs: 7\n");
  write(dir / "exp.yaml", "_base_: [mid.yaml]\noptim:\n  momentum: 0.8\n");
  auto cfg = load(dir / "exp.yaml", {"train.grad_accum=4", "model.hidden=[8, 4]"});
  EXPECT_EQ(cfg.get<int>("train.epochs"), 7);      // mid overrides base
  EXPECT_EQ(cfg.get<int>("train.grad_accum"), 4);  // command line overrides files
  EXPECT_DOUBLE_EQ(cfg.get<double>("optim.lr"), 0.5);
  EXPECT_DOUBLE_EQ(cfg.get<double>("optim.momentum"), 0.8);
  EXPECT_EQ(cfg.get<std::vector<int64_t>>("model.hidden"), (std::vector<int64_t>{8, 4}));
}

TEST(Config, EnvInterpolationWithDefault) {
  ::setenv("SMLAB_TEST_ROOT", "/data/x", 1);
  ::unsetenv("SMLAB_TEST_UNSET");
  auto cfg = load_string("experiment:\n  output_dir: ${SMLAB_TEST_ROOT}/runs\n  name: ${SMLAB_TEST_UNSET:-fallback}\n", "e.yaml");
  EXPECT_EQ(cfg.get<std::string>("experiment.output_dir"), "/data/x/runs");
  EXPECT_EQ(cfg.get<std::string>("experiment.name"), "fallback");
  expect_error([] { load_string("experiment:\n  output_dir: ${SMLAB_TEST_UNSET}\n", "e.yaml"); },
               {"e.yaml:2", "experiment.output_dir", "SMLAB_TEST_UNSET is not set"});
}

TEST(Config, ResolvedDumpReloadsToTheSameConfig) {
  auto cfg = load_string("train:\n  epochs: 3\nmodel:\n  hidden: [5]\n", "a.yaml");
  const auto dir = smlab::testing::temp_dir();
  write(dir / "resolved.yaml", cfg.dump());
  auto again = load(dir / "resolved.yaml");
  EXPECT_EQ(again.dump(), cfg.dump());
  EXPECT_EQ(again.hash(), cfg.hash());
  auto other = load_string("train:\n  epochs: 4\nmodel:\n  hidden: [5]\n", "a.yaml");
  EXPECT_NE(other.hash(), cfg.hash());
}

TEST(ConfigErrors, UnknownKeyNamesFileLineAllowedAndSuggestion) {
  expect_error([] { load_string("version: 1\ntrain:\n  epochs: 3\n  epcohs: 4\n", "bad.yaml"); },
               {"bad.yaml:4", "train.epcohs", "unknown key", "did you mean 'epochs'", "allowed keys in 'train'"});
}

TEST(ConfigErrors, UnknownSection) {
  expect_error([] { load_string("trian:\n  epochs: 3\n", "bad.yaml"); },
               {"bad.yaml:1", "trian", "unknown section", "did you mean 'train'"});
}

TEST(ConfigErrors, WrongType) {
  expect_error([] { load_string("train:\n  epochs: ten\n", "bad.yaml"); },
               {"bad.yaml:2", "train.epochs", "expected an integer, got 'ten'"});
  expect_error([] { load_string("model:\n  hidden: 64\n", "bad.yaml"); },
               {"bad.yaml:2", "model.hidden", "expected a list of int"});
  expect_error([] { load_string("train:\n  channels_last: maybe\n", "bad.yaml"); },
               {"train.channels_last", "expected true or false"});
}

TEST(ConfigErrors, OutOfRange) {
  expect_error([] { load_string("optim:\n  lr: 0\n", "bad.yaml"); }, {"bad.yaml:2", "optim.lr", "out of range", "> 0"});
  expect_error([] { load_string("train:\n  epochs: 0\n", "bad.yaml"); }, {"train.epochs", "out of range", ">= 1"});
  expect_error([] { load_string("model:\n  hidden: [16, -2]\n", "bad.yaml"); }, {"model.hidden[1]", "out of range"});
}

TEST(ConfigErrors, BadChoiceAndUnknownRegistryName) {
  expect_error([] { load_string("train:\n  amp: bf17\n", "bad.yaml"); },
               {"train.amp", "'bf17'", "did you mean 'bf16'", "none, bf16, fp16"});
  expect_error([] { load_string("model:\n  name: mpl\n", "bad.yaml"); },
               {"bad.yaml:2", "model.name", "unknown model 'mpl'", "did you mean 'mlp'", "small_cnn"});
  expect_error([] { load_string("optim:\n  name: adam\n", "bad.yaml"); }, {"unknown optimizer 'adam'", "adamw", "sgd"});
  expect_error([] { load_string("augment:\n  train: [hflp]\n", "bad.yaml"); },
               {"bad.yaml:2", "augment.train.0", "unknown augmentation 'hflp'", "did you mean 'hflip'"});
}

TEST(ConfigErrors, ComponentParametersFollowTheChosenComponent) {
  // adamw has betas, sgd does not: the allowed keys depend on optim.name.
  EXPECT_NO_THROW(load_string("optim:\n  name: adamw\n  betas: [0.9, 0.95]\n", "ok.yaml"));
  expect_error([] { load_string("optim:\n  name: sgd\n  betas: [0.9, 0.95]\n", "bad.yaml"); },
               {"bad.yaml:3", "optim.betas", "unknown key", "momentum"});
}

TEST(ConfigErrors, MissingBaseFile) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "exp.yaml", "version: 1\n_base_: nowhere.yaml\n");
  expect_error([&] { load(dir / "exp.yaml"); }, {"exp.yaml:2", "_base_", "base file 'nowhere.yaml' not found"});
}

TEST(ConfigErrors, CyclicBase) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "a.yaml", "_base_: b.yaml\n");
  write(dir / "b.yaml", "_base_: a.yaml\n");
  expect_error([&] { load(dir / "a.yaml"); }, {"cyclic _base_", "a.yaml -> ", "b.yaml -> "});
}

TEST(ConfigErrors, MissingFileSyntaxErrorAndVersion) {
  expect_error([] { load("/nonexistent/smlab.yaml"); }, {"/nonexistent/smlab.yaml", "not found"});
  expect_error([] { load_string("train: [1, 2\n", "bad.yaml"); }, {"bad.yaml:", "YAML syntax error"});
  expect_error([] { load_string("version: 2\n", "bad.yaml"); }, {"bad.yaml:1", "unsupported config version '2'"});
}

TEST(ConfigErrors, BadOverride) {
  expect_error([] { load_string("", "a.yaml", {"train.epochs"}); }, {"command line", "key.sub=value"});
  expect_error([] { load_string("", "a.yaml", {"train.epoch=3"}); }, {"command line", "train.epoch", "did you mean 'epochs'"});
}

TEST(Config, DocsAreCurrent) {
  const auto committed = smlab::read_file(fs::path(smlab::testing::source_dir()) / "docs" / "configs.md");
  EXPECT_EQ(committed, smlab::config::render_docs())
      << "docs/configs.md is stale: regenerate it with `build/smlab config docs > docs/configs.md`";
}

TEST(Registries, EveryExpectedNameIsRegistered) {
  const auto catalog = smlab::registry_catalog();
  const std::map<std::string, std::vector<std::string>> expected = {
      {"models",
       {"mlp", "small_cnn", "text_cnn", "bilstm", "transformer_text", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnext50_32x4d", "wide_resnet50_2", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "vgg11_bn",
        "vgg16_bn", "mobilenet_v2", "densenet121", "efficientnet_b0", "airbench94", "r3d_18", "mc3_18", "r2plus1d_18", "c3d",
        "resnext3d_50", "resnext3d_101", "frame_2d", "lstm_forecaster"}},
      {"datasets", {"synthetic_blobs", "synthetic_images", "synthetic_regression", "synthetic_tokens", "hdf5_images",
                    "text_tsv", "moving_mnist", "video_folder", "hdf5_clips", "csv_table", "time_series_windows"}},
      {"optimizers", {"sgd", "adamw"}},
      {"schedulers", {"constant", "cosine", "step", "multistep", "onecycle"}},
      {"losses", {"cross_entropy", "mse", "l1", "huber"}},
      {"hooks", {"evaluation", "checkpoint", "early_stopping", "tensorboard", "ema", "grad_norm_logger"}},
      {"metrics", {"top1", "top5", "macro_f1", "macro_recall", "ece", "mae", "rmse", "r2", "mape", "smape", "mase"}},
      {"augmentations",
       {"hflip", "gaussian_noise", "random_resized_crop_flip_jitter", "random_resized_crop_flip", "resize_center_crop",
        "random_grayscale", "gaussian_blur", "random_erasing"}},
      {"ops",
       {"smlab::normalize_u8", "smlab::augment_params", "smlab::augment_params_sizes", "smlab::video_params",
        "smlab::erasing_params", "smlab::mix_params", "smlab::augment_image", "smlab::augment_image_list",
        "smlab::augment_eval", "smlab::augment_video", "smlab::grayscale", "smlab::gaussian_blur",
        "smlab::random_erasing", "smlab::mixup", "smlab::cutmix"}}};
  for (const auto& [kind, names] : expected) {
    ASSERT_TRUE(catalog.count(kind)) << "no registry " << kind;
    for (const auto& n : names) {
      const auto& have = catalog.at(kind);
      EXPECT_NE(std::find(have.begin(), have.end(), n), have.end()) << kind << " lacks " << n;
    }
  }
}

// The small-set recipe is an overlay (experiments/recipes/small_tweets.yaml): listed after a task's
// config in _base_, it changes only its own keys and keeps the task's data, loss and model.
TEST(Config, SmallSetRecipeOverlayComposesWithATaskConfig) {
  smlab::register_all();
  const fs::path root = fs::path(smlab::testing::source_dir()) / "experiments";
  const auto task = smlab::config::load(root / "tweeteval" / "offensive.yaml");
  const auto small = smlab::config::load(root / "tweeteval" / "offensive_small.yaml");
  EXPECT_EQ(small.get<int64_t>("train.epochs"), 12);
  EXPECT_EQ(small.get<int64_t>("train.early_stop_patience"), 3);
  EXPECT_DOUBLE_EQ(small.get<double>("optim.weight_decay"), 0.05);
  EXPECT_DOUBLE_EQ(small.get<double>("model.embed_dropout"), 0.5);
  EXPECT_EQ(small.get<int64_t>("data.train_limit"), 3000);
  EXPECT_EQ(small.get<int64_t>("data.subset_seed"), -1);
  // the rest is the task's
  for (const char* key : {"data.train", "data.val", "data.test", "model.name", "train.best_metric", "optim.name"})
    EXPECT_EQ(small.get<std::string>(key), task.get<std::string>(key)) << key;
  EXPECT_EQ(small.get<std::vector<double>>("loss.class_weights"), task.get<std::vector<double>>("loss.class_weights"));
  EXPECT_EQ(small.get<int64_t>("model.hidden"), task.get<int64_t>("model.hidden"));
  EXPECT_NE(task.get<int64_t>("train.epochs"), 12);  // so the overlay is what set it
}
