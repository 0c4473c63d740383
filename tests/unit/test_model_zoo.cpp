// Registry sweep over every registered model (timm style): each builds from its defaults for a
// small CIFAR-size input, gives [B, classes] finite outputs in train and eval mode, and after a
// backward pass every trainable parameter has a defined, finite gradient.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "models/import.h"
#include "models/model.h"
#include "models/tap.h"
#include "test_util.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"

namespace {

using smlab::testing::build_model;

smlab::datasets::DatasetInfo image_info(int64_t classes, std::vector<int64_t> shape = {3, 32, 32}) {
  return smlab::testing::classification_info(classes, std::move(shape));
}

}  // namespace

// Every registered model, on a tiny input of the kind it declares (models::input_kind).
TEST(Zoo, EveryRegisteredModelTrainsOnTinyInputs) {
  smlab::register_all();
  torch::manual_seed(0);
  const int64_t classes = 7, batch = 2;
  const auto names = smlab::models::registry().names();
  ASSERT_GE(names.size(), 2u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto t0 = std::chrono::steady_clock::now();
    const auto info = smlab::models::example_info(smlab::models::input_kind(name), classes);
    auto net = build_model(name, info);
    auto x = smlab::models::example_input(info, batch);
    net->train();
    auto y = net->forward(x);
    ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{batch, classes}));
    ASSERT_TRUE(torch::isfinite(y).all().item<bool>()) << "non-finite train-mode output";
    if (info.task == smlab::datasets::Task::Classification)
      torch::nn::functional::cross_entropy(y, torch::tensor({1, 5}, torch::kLong)).backward();
    else
      torch::nn::functional::mse_loss(y, torch::zeros_like(y)).backward();
    int64_t checked = 0;
    for (const auto& p : net->named_parameters()) {
      if (!p.value().requires_grad()) continue;
      ASSERT_TRUE(p.value().grad().defined()) << "no gradient reached " << p.key();
      ASSERT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << "non-finite gradient in " << p.key();
      ++checked;
    }
    EXPECT_GT(checked, 0);

    net->eval();
    torch::NoGradGuard g;
    auto e1 = net->forward(x), e2 = net->forward(x);
    ASSERT_EQ(e1.sizes().vec(), (std::vector<int64_t>{batch, classes}));
    ASSERT_TRUE(torch::isfinite(e1).all().item<bool>()) << "non-finite eval-mode output";
    EXPECT_TRUE(torch::equal(e1, e2)) << "eval mode is not deterministic";
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::cout << "[zoo] " << name << ": " << smlab::models::parameter_count(*net) << " params, " << ms.count()
              << " ms\n";
  }
}

// Every image and video model has a tap (models/tap.h) on a spatial map, the layer Grad-CAM
// explains by default (analysis/explain.cpp takes the last one), and every tap is named after one
// of the model's registered submodules, so the names match PyTorch's module paths (Captum's
// LayerGradCam on the same module). Taps are the identity outside a TapScope.
TEST(Zoo, EveryImageAndVideoModelTapsASpatialMapNamedAfterItsModule) {
  smlab::register_all();
  torch::manual_seed(0);
  for (const auto& name : smlab::models::registry().names()) {
    const auto kind = smlab::models::input_kind(name);
    if (kind != smlab::models::InputKind::Image && kind != smlab::models::InputKind::Video) continue;
    SCOPED_TRACE(name);
    const auto info = smlab::models::example_info(kind, 5);
    auto net = build_model(name, info);
    net->eval();
    const auto x = smlab::models::example_input(info, 2);
    std::vector<std::pair<std::string, int64_t>> taps;
    torch::Tensor plain, tapped;
    {
      torch::NoGradGuard g;
      plain = net->forward(x);
      smlab::models::TapScope scope([&](const std::string& n, const torch::Tensor& t) {
        taps.emplace_back(n, t.dim());
        return t;
      });
      tapped = net->forward(x);
    }
    EXPECT_TRUE(torch::equal(plain, tapped));
    ASSERT_FALSE(taps.empty()) << "no tap: Grad-CAM has no layer to explain";
    EXPECT_GE(taps.back().second, 4) << taps.back().first;  // [B, C, H, W] or [B, C, T, H, W]
    std::set<std::string> modules;
    for (const auto& m : net->named_modules()) modules.insert(m.key());
    for (const auto& [n, dims] : taps) EXPECT_TRUE(modules.count(n)) << "tap '" << n << "' is not a module path";
  }
}

TEST(Zoo, ImageModelsUseTheDataChannelCount) {
  smlab::register_all();
  for (const std::string name : {"resnet18", "resnet20", "mobilenet_v2"}) {
    SCOPED_TRACE(name);
    auto net = build_model(name, image_info(4, {1, 32, 32}));
    net->eval();
    torch::NoGradGuard g;
    EXPECT_EQ(net->forward(torch::randn({2, 1, 32, 32})).sizes().vec(), (std::vector<int64_t>{2, 4}));
  }
}

TEST(Zoo, ImageModelsRejectNonImageData) {
  smlab::register_all();
  try {
    build_model("resnet18", image_info(4, {16}));
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("C x H x W"), std::string::npos) << e.what();
  }
}

TEST(Zoo, ReferenceParameterCounts) {
  // Published counts (torchvision model cards; He et al. 2016 for CIFAR ResNet-20, option A).
  smlab::register_all();
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"resnet18", 11689512}, {"resnet50", 25557032}, {"mobilenet_v2", 3504872}, {"densenet121", 7978856},
      {"efficientnet_b0", 5288548}};
  for (const auto& [name, count] : expected) {
    EXPECT_EQ(smlab::models::parameter_count(*build_model(name, image_info(1000, {3, 224, 224}))), count) << name;
  }
  EXPECT_EQ(smlab::models::parameter_count(*build_model("resnet20", image_info(10))), 269722);
  EXPECT_EQ(smlab::models::parameter_count(*build_model("resnet20", image_info(10), {"model.shortcut=B"})), 272474);
}

// airbench94 (models/airbench.cpp), counted by hand: stem 3*24*2*2 + 24 = 312; a group of widths
// in -> out has 9*in*out + 9*out*out conv weights and 2 x 2*out BatchNorm affine parameters
// (24->64: 50,944; 64->256: 738,304; 256->256: 1,180,672); bias-free head 256*10 = 2,560.
TEST(Zoo, Airbench94MatchesItsHandCount) {
  smlab::register_all();
  auto net = build_model("airbench94", image_info(10));
  EXPECT_EQ(smlab::models::parameter_count(*net), 312 + 50944 + 738304 + 1180672 + 2560);
  net->eval();
  EXPECT_EQ(net->forward(torch::randn({2, 3, 32, 32})).sizes(), torch::IntArrayRef({2, 10}));
  smlab::testing::expect_user_error([&] { build_model("airbench94", image_info(10, {3, 7, 7})); }, {"too small"});
}

TEST(Zoo, ZeroInitResidualZeroesTheLastBlockNorm) {
  smlab::register_all();
  auto net = build_model("resnet50", image_info(10), {"model.zero_init_residual=true"});
  auto params = net->named_parameters();
  EXPECT_EQ(params["layer1.0.bn3.weight"].abs().sum().item<double>(), 0.0);
  EXPECT_GT(params["layer1.0.bn1.weight"].abs().sum().item<double>(), 0.0);
}

namespace {

/// A TorchScript module with submodule `fc` (weight [out, in], bias [out]) and a buffer `scale`,
/// saved to `file` as Python's torch.jit.save would.
void save_script_module(const std::filesystem::path& file, int64_t in, int64_t out, bool extra) {
  torch::jit::Module root("__torch__.Root");
  torch::jit::Module fc("__torch__.Fc");
  fc.register_parameter("weight", torch::arange(out * in, torch::kFloat).reshape({out, in}), false);
  fc.register_parameter("bias", torch::full({out}, 0.5), false);
  root.register_module("fc", fc);
  root.register_buffer("scale", torch::full({1}, 3.0));
  if (extra) root.register_parameter("extra", torch::zeros({2}), false);
  root.save(file.string());
}

struct TinyImpl : torch::nn::Module {
  TinyImpl(int64_t in, int64_t out) : fc(register_module("fc", torch::nn::Linear(in, out))) {
    scale = register_buffer("scale", torch::ones({1}));
  }
  torch::nn::Linear fc;
  torch::Tensor scale;
};

std::string import_error(torch::nn::Module& m, const std::filesystem::path& file, bool strict) {
  try {
    smlab::models::import_weights(m, file, strict);
  } catch (const smlab::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Zoo, ImportWeightsCopiesByNameAndReportsMismatches) {
  const auto dir = smlab::testing::temp_dir();
  save_script_module(dir / "ok.pt", 3, 2, false);
  save_script_module(dir / "extra.pt", 3, 2, true);
  save_script_module(dir / "wide.pt", 4, 2, false);

  TinyImpl tiny(3, 2);
  smlab::models::import_weights(tiny, dir / "ok.pt");
  EXPECT_TRUE(torch::equal(tiny.fc->weight, torch::arange(6, torch::kFloat).reshape({2, 3})));
  EXPECT_TRUE(torch::equal(tiny.fc->bias, torch::full({2}, 0.5)));
  EXPECT_TRUE(torch::equal(tiny.scale, torch::full({1}, 3.0)));
  EXPECT_TRUE(tiny.fc->weight.requires_grad()) << "import must not change requires_grad";

  auto msg = import_error(tiny, dir / "extra.pt", true);
  EXPECT_NE(msg.find("1 unexpected in the file: extra"), std::string::npos) << msg;
  EXPECT_EQ(import_error(tiny, dir / "extra.pt", false), "");

  TinyImpl wide(3, 2);
  msg = import_error(wide, dir / "wide.pt", false);
  EXPECT_NE(msg.find("shape mismatch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fc.weight"), std::string::npos) << msg;
  // Nothing is copied when the import fails: the bias keeps its own initialisation.
  EXPECT_FALSE(torch::equal(wide.fc->bias, torch::full({2}, 0.5)));

  // A model with more tensors than the file: every missing name is reported with a count.
  auto net = build_model("resnet20", image_info(10));
  msg = import_error(*net, dir / "ok.pt", true);
  EXPECT_NE(msg.find("missing from the file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("more)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch"), std::string::npos) << msg;  // fc.weight [10, 64] vs [2, 3]

  msg = import_error(tiny, dir / "absent.pt", true);
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
}

namespace {

/// A TorchScript module with the same tree of names, parameters and buffers as `m` (a weights
/// carrier, as Python's torch.jit.script of a torchvision model would hold).
torch::jit::Module to_script(const torch::nn::Module& m, int& counter) {
  torch::jit::Module out("__torch__.Carrier" + std::to_string(counter++));
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.register_parameter(p.key(), p.value().detach().clone(), false);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.register_buffer(b.key(), b.value().clone());
  for (const auto& c : m.named_children()) out.register_module(c.key(), to_script(*c.value(), counter));
  return out;
}

}  // namespace

TEST(Zoo, ImportWeightsVerbWritesACheckpoint) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  torch::manual_seed(1);
  auto src = build_model("resnet20", image_info(10), {"model.shortcut=B"});
  {
    torch::NoGradGuard g;
    for (auto& b : src->named_buffers()) {
      if (b.key().ends_with("running_var")) b.value().uniform_(0.5, 2.0);
      if (b.key().ends_with("running_mean")) b.value().normal_();
    }
  }
  int counter = 0;
  to_script(*src, counter).save((dir / "r20.pt").string());

  const auto file = (dir / "r20.pt").string(), ckpt = (dir / "r20.ckpt").string();
  ASSERT_EQ(smlab::cli::run({"import-weights", file, ckpt, "--model", "resnet20", "--classes", "10", "--input-shape",
                             "3,32,32", "shortcut=B"}),
            0);
  auto dst = build_model("resnet20", image_info(10), {"model.shortcut=B"});
  smlab::trainers::load_checkpoint(ckpt, *dst, nullptr, nullptr, /*restore_rng=*/false);
  auto want = src->named_buffers();
  for (const auto& p : src->named_parameters()) want.insert(p.key(), p.value());
  auto have = dst->named_buffers();
  for (const auto& p : dst->named_parameters()) have.insert(p.key(), p.value());
  ASSERT_EQ(want.size(), have.size());
  for (const auto& item : want) {
    ASSERT_TRUE(have.contains(item.key())) << item.key();
    EXPECT_TRUE(torch::equal(have[item.key()], item.value())) << item.key();
  }

  // Option A has no projection shortcuts: the file's downsample tensors are unexpected.
  EXPECT_EQ(smlab::cli::run({"import-weights", file, (dir / "a.ckpt").string(), "--model", "resnet20", "--classes",
                             "10", "--input-shape", "3,32,32"}),
            2);
  EXPECT_FALSE(std::filesystem::exists(dir / "a.ckpt"));
  EXPECT_EQ(smlab::cli::run({"import-weights", file, ckpt}), 2);  // no --model
}

TEST(Zoo, ResNetCifarStemKeepsThe32x32Resolution) {
  const auto info = smlab::testing::classification_info(10, {3, 32, 32});
  auto tv = build_model("resnet18", info);
  auto cifar = build_model("resnet18", info, {"model.stem=cifar"});
  // Only conv1 differs: 64 x 3 x 7 x 7 against 64 x 3 x 3 x 3 weights.
  EXPECT_EQ(smlab::models::parameter_count(*tv) - smlab::models::parameter_count(*cifar), 64 * 3 * (49 - 9));
  EXPECT_EQ(cifar->named_parameters()["conv1.weight"].sizes(), (std::vector<int64_t>{64, 3, 3, 3}));
  cifar->eval();
  torch::NoGradGuard ng;
  EXPECT_EQ(cifar->forward(torch::randn({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{2, 10}));
  smlab::testing::expect_user_error([&] { build_model("resnet18", info, {"model.stem=tiny"}); }, {"model.stem", "cifar"});
}
