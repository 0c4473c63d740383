// Fine-tuning (finetune.init / freeze / unfreeze_at_epoch): weights load by name with the classifier
// replaced, frozen parameters and their BatchNorm statistics stay exactly as loaded, errors name
// the tensor, the prefix or the file, and a run resumes bit-identically across the unfreeze.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "trainers/checkpoint.h"
#include "trainers/finetune.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using smlab::testing::build_model;
using smlab::testing::classification_info;
using smlab::testing::expect_user_error;

namespace {

/// Every parameter and buffer of `m` by name (detached clones).
std::map<std::string, torch::Tensor> tensors(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().detach().clone();
  return out;
}

/// A ResNet-20 for `classes` classes of 3x16x16 images with random (not default) BatchNorm
/// statistics, saved as `smlab import-weights` would; returns its tensors.
std::map<std::string, torch::Tensor> save_source(const fs::path& file, int64_t classes, int64_t channels = 3) {
  torch::manual_seed(42);
  auto net = build_model("resnet20", classification_info(classes, {channels, 16, 16}));
  {
    torch::NoGradGuard ng;
    for (const auto& b : net->named_buffers()) {
      if (b.key().ends_with("running_mean")) b.value().normal_();
      if (b.key().ends_with("running_var")) b.value().uniform_(0.5, 2.0);
    }
  }
  fs::create_directories(file.parent_path());
  smlab::trainers::save_checkpoint(file, *net, nullptr, smlab::trainers::TrainState{});
  return tensors(*net);
}

const std::string kImages =
    "experiment: {name: ft, device: cpu, threads: 1}\n"
    "model: {name: resnet20}\n"
    "data: {name: synthetic_images, size: 16, classes: 4, noise: 0.3, train_size: 256, val_size: 64, "
    "test_size: 64, batch_size: 32, workers: 0}\n"
    "optim: {name: sgd, lr: 0.05, weight_decay: 1.0e-4}\n"
    "train: {epochs: 1, progress: none, tensorboard: false}\n";

smlab::config::Config images(const fs::path& dir, const std::vector<std::string>& extra,
                             const std::string& finetune_yaml = "") {
  std::vector<std::string> ov = {"experiment.output_dir=" + dir.string()};
  ov.insert(ov.end(), extra.begin(), extra.end());
  return smlab::config::load_string(kImages + finetune_yaml, "ft.yaml", ov);
}

bool frozen_name(const std::string& name) {
  for (const char* p : {"conv1", "bn1", "layer1"})
    if (smlab::trainers::under_prefix(name, p)) return true;
  return false;
}

}  // namespace

TEST(Finetune, FrozenPartsAndTheirBatchNormStatsStayAsLoaded) {
  const auto dir = smlab::testing::temp_dir();
  const auto src = save_source(dir / "r20_5class.pt", 5);
  // Step evaluations mid-epoch put the model back in train mode: the frozen BatchNorms must not follow.
  auto cfg = images(dir, {"finetune.init=" + (dir / "r20_5class.pt").string(), "finetune.freeze=[conv1, bn1, layer1]",
                          "train.eval_every_steps=3"});
  const auto result = smlab::trainers::train(cfg);
  ASSERT_EQ(result.summary["status"], "completed");
  EXPECT_EQ(result.summary["frozen"]["prefixes"], json({"conv1", "bn1", "layer1"}));

  auto net = build_model("resnet20", classification_info(4, {3, 16, 16}));
  smlab::trainers::load_checkpoint(result.run_dir / "checkpoints" / "last.pt", *net, nullptr, nullptr, false);
  const auto after = tensors(*net);
  ASSERT_EQ(after.size(), src.size());
  int frozen = 0, changed = 0;
  for (const auto& [name, t] : after) {
    if (name.starts_with("fc.")) continue;
    if (frozen_name(name)) {
      ++frozen;
      EXPECT_TRUE(torch::equal(t, src.at(name))) << name << " is frozen but changed";
    } else if (!name.ends_with("num_batches_tracked")) {
      changed += !torch::equal(t, src.at(name));
      EXPECT_FALSE(torch::equal(t, src.at(name))) << name << " trains but kept its loaded value";
    }
  }
  EXPECT_GT(frozen, 30);  // conv1, bn1 (4 tensors + counter) and the 3 blocks of layer1
  EXPECT_GT(changed, 40);
  // The classifier has the new shape and was not loaded.
  EXPECT_EQ(after.at("fc.weight").sizes(), (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(src.at("fc.weight").sizes(), (std::vector<int64_t>{5, 64}));
  const auto report = json::parse(smlab::read_file(result.run_dir / "finetune.json"));
  EXPECT_EQ(report["loaded"].size(), src.size() - 2);
  ASSERT_EQ(report["skipped"].size(), 2u);
  EXPECT_NE(report["skipped"][0].get<std::string>().find("fc."), std::string::npos);
  EXPECT_NE(report["skipped"][0].get<std::string>().find("file [5"), std::string::npos);
  EXPECT_EQ(result.summary["finetune"]["loaded"].size(), src.size() - 2);
}

TEST(Finetune, LoadedTensorsEqualTheFileAndARunFolderWorksToo) {
  const auto dir = smlab::testing::temp_dir();
  const auto src = save_source(dir / "run" / "checkpoints" / "best.pt", 10);
  // Same number of classes: everything loads, the classifier included.
  auto net = build_model("resnet20", classification_info(10, {3, 16, 16}));
  const auto rep = smlab::trainers::init_from_weights(*net, dir / "run");  // a run folder: its best.pt
  EXPECT_EQ(rep.file, (dir / "run" / "checkpoints" / "best.pt").string());
  EXPECT_TRUE(rep.skipped.empty());
  EXPECT_EQ(rep.loaded.size(), src.size());
  for (const auto& [name, t] : tensors(*net)) EXPECT_TRUE(torch::equal(t, src.at(name))) << name;
  // read_weights sees the same tensors in the file.
  const auto file = smlab::trainers::read_weights(dir / "run" / "checkpoints" / "best.pt", "test");
  ASSERT_EQ(file.size(), src.size());
  for (const auto& [name, t] : file) EXPECT_TRUE(torch::equal(t, src.at(name))) << name;
  // The classifier of a VGG / DenseNet style model is its last Linear.
  EXPECT_EQ(smlab::trainers::classifier_prefix(*net), "fc");
  auto mlp = build_model("mlp", classification_info(3, {8}), {"model.hidden=[16, 16]"});
  EXPECT_EQ(smlab::trainers::classifier_prefix(*mlp), "body.4");
}

// A pretraining run still in progress (or killed) has a best.pt from an early epoch: the report says
// so (finetune.json's source_status), and says nothing for a finished run or a plain file.
TEST(Finetune, ReportSaysWhenTheSourceRunHasNotFinished) {
  const auto dir = smlab::testing::temp_dir();
  save_source(dir / "run" / "checkpoints" / "best.pt", 10);
  save_source(dir / "file.pt", 10);
  auto net = build_model("resnet20", classification_info(10, {3, 16, 16}));
  // Not a run folder (no config.yaml): no status.
  EXPECT_EQ(smlab::trainers::init_from_weights(*net, dir / "run").source_status, "");
  EXPECT_EQ(smlab::trainers::init_from_weights(*net, dir / "file.pt").source_status, "");
  smlab::write_file_atomic(dir / "run" / "config.yaml", "version: 1\n");
  auto rep = smlab::trainers::init_from_weights(*net, dir / "run");
  EXPECT_EQ(rep.source_status, "unfinished");
  EXPECT_TRUE(rep.source_unfinished());
  EXPECT_EQ(rep.to_json().value("source_status", ""), "unfinished");
  smlab::write_file_atomic(dir / "run" / "summary.json", R"({"status": "interrupted"})");
  EXPECT_TRUE(smlab::trainers::init_from_weights(*net, dir / "run").source_unfinished());
  smlab::write_file_atomic(dir / "run" / "summary.json", R"({"status": "completed"})");
  rep = smlab::trainers::init_from_weights(*net, dir / "run");
  EXPECT_EQ(rep.source_status, "completed");
  EXPECT_FALSE(rep.source_unfinished());
}

TEST(Finetune, ErrorsNameTheTensorThePrefixAndTheFile) {
  const auto dir = smlab::testing::temp_dir();
  save_source(dir / "gray.pt", 4, /*channels=*/1);
  // A shape mismatch outside the classifier names the tensor and both shapes.
  expect_user_error([&] { smlab::trainers::train(images(dir, {}, "finetune: {init: " + (dir / "gray.pt").string() + "}\n")); },
                    {"ft.yaml:6: finetune.init", (dir / "gray.pt").string(), "conv1.weight", "[16, 1, 3, 3]",
                     "[16, 3, 3, 3]"});
  // A missing file names the path.
  expect_user_error([&] { smlab::trainers::train(images(dir, {"finetune.init=" + (dir / "nope.pt").string()})); },
                    {"finetune.init", "no such file", (dir / "nope.pt").string()});
  // A folder that is no run folder says what it expected.
  fs::create_directories(dir / "empty");
  expect_user_error([&] { smlab::trainers::init_from_weights(*build_model("resnet20", classification_info(4, {3, 16, 16})), dir / "empty"); },
                    {(dir / "empty").string(), "checkpoints/best.pt"});
  // A file that is no checkpoint.
  smlab::write_file_atomic(dir / "junk.pt", "not a checkpoint");
  expect_user_error([&] { smlab::trainers::train(images(dir, {"finetune.init=" + (dir / "junk.pt").string()})); },
                    {"finetune.init", (dir / "junk.pt").string(), "neither an smlab checkpoint nor a TorchScript"});
  // A prefix that matches nothing lists the top-level modules ("layer1" does not cover "layer10").
  expect_user_error([&] { smlab::trainers::train(images(dir, {}, "finetune:\n  freeze: [conv1, layer9]\n")); },
                    {"ft.yaml:7: finetune.freeze", "'layer9'", "conv1, bn1, layer1, layer2, layer3, fc"});
  expect_user_error([&] { smlab::trainers::train(images(dir, {"finetune.freeze=[layer1.0.conv]"})); },
                    {"'layer1.0.conv'"});
  // Freezing everything leaves nothing to train; unfreezing needs something frozen.
  expect_user_error([&] { smlab::trainers::train(images(dir, {"finetune.freeze=[conv1, bn1, layer1, layer2, layer3, fc]"})); },
                    {"finetune.freeze", "every parameter"});
  expect_user_error([&] { smlab::trainers::train(images(dir, {"finetune.unfreeze_at_epoch=2"})); },
                    {"finetune.unfreeze_at_epoch", "nothing to unfreeze"});
  // Names missing on one side are an error in strict mode and skipped otherwise.
  const auto src = save_source(dir / "r20.pt", 4);
  auto r32 = build_model("resnet32", classification_info(4, {3, 16, 16}));
  expect_user_error([&] { smlab::trainers::init_from_weights(*r32, dir / "r20.pt"); },
                    {"missing from the file", "layer1.3.conv1.weight", "finetune.strict=false"});
  const auto rep = smlab::trainers::init_from_weights(*r32, dir / "r20.pt", /*strict=*/false);
  EXPECT_EQ(rep.loaded.size(), src.size());
  EXPECT_FALSE(rep.skipped.empty());
}

namespace {

/// Asks the trainer to stop after optimizer step `at` (it checkpoints first).
struct StopAt : smlab::trainers::HookBase {
  int64_t at;
  explicit StopAt(int64_t s) : at(s) {}
  void after_step(smlab::trainers::Trainer& t) override {
    if (t.step() == at) t.request_stop();
  }
};

/// Records the first parameter of the model after every step.
struct Record : smlab::trainers::HookBase {
  std::map<int64_t, torch::Tensor> first;
  void after_step(smlab::trainers::Trainer& t) override {
    first[t.step()] = t.model().named_parameters()["body.0.weight"].detach().clone();
  }
};

const std::string kBlobs =
    "experiment: {device: cpu, threads: 1}\n"
    "model: {name: mlp, hidden: [32, 32], batch_norm: true, dropout: 0.1}\n"
    "data: {name: synthetic_blobs, features: 8, classes: 3, spread: 1.0, train_size: 600, val_size: 200, "
    "test_size: 200, batch_size: 32, workers: 0}\n"
    "optim: {name: adamw, lr: 0.01, weight_decay: 0.01}\n"
    "finetune: {freeze: [body.0, body.1], unfreeze_at_epoch: 1}\n"
    "train: {epochs: 3, progress: none, tensorboard: false}\n";

}  // namespace

TEST(Finetune, UnfreezeAtEpochTrainsEverythingAndResumesBitIdentically) {
  const auto dir = smlab::testing::temp_dir();
  const auto cfg = smlab::config::load_string(kBlobs, "blobs.yaml", {"experiment.output_dir=" + dir.string()});
  const int64_t spe = 19;  // ceil(600 / 32) steps per epoch
  smlab::trainers::TrainOptions full_opt;
  full_opt.run_dir = dir / "full";
  auto rec = std::make_shared<Record>();
  full_opt.hooks.push_back(rec);
  const auto full = smlab::trainers::train(cfg, full_opt);
  ASSERT_EQ(full.summary["status"], "completed");
  ASSERT_EQ(full.summary["steps"], 3 * spe);
  // Frozen through the first epoch, training after it.
  EXPECT_TRUE(torch::equal(rec->first.at(1), rec->first.at(spe)));
  EXPECT_FALSE(torch::equal(rec->first.at(spe), rec->first.at(spe + 1)));
  EXPECT_FALSE(torch::equal(rec->first.at(2 * spe), rec->first.at(3 * spe)));
  auto net = smlab::models::build(cfg, classification_info(3, {8}));
  smlab::trainers::load_checkpoint(full.run_dir / "checkpoints" / "last.pt", *net, nullptr, nullptr, false);
  const auto want = tensors(*net);

  // Stopped before the unfreeze, on the last step of the frozen epoch, and after it; then resumed.
  for (const int64_t stop : {int64_t{7}, spe, spe + 6}) {
    SCOPED_TRACE("stopped after step " + std::to_string(stop));
    smlab::trainers::TrainOptions o;
    o.run_dir = dir / ("stop" + std::to_string(stop));
    o.hooks.push_back(std::make_shared<StopAt>(stop));
    ASSERT_EQ(smlab::trainers::train(cfg, o).summary["status"], "interrupted");
    smlab::trainers::TrainOptions r;
    r.run_dir = o.run_dir;
    r.resume = true;
    const auto resumed = smlab::trainers::train(cfg, r);
    ASSERT_EQ(resumed.summary["status"], "completed");
    EXPECT_EQ(resumed.summary["test"].dump(), full.summary["test"].dump());
    auto got = smlab::models::build(cfg, classification_info(3, {8}));
    smlab::trainers::load_checkpoint(resumed.run_dir / "checkpoints" / "last.pt", *got, nullptr, nullptr, false);
    for (const auto& [name, t] : tensors(*got)) EXPECT_TRUE(torch::equal(t, want.at(name))) << name << " differs";
  }
}
