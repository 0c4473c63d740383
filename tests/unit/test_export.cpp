// TorchScript export: every registered model is traced, saved, loaded back with
// torch::jit::load (through load_artifact) and compared with the C++ model at a batch size
// other than the traced one; pixel artifacts are checked against normalisation written out
// here; bad artifacts fail with messages that name the file.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "inference/export.h"
#include "models/model.h"
#include "test_util.h"

namespace {

using smlab::models::InputKind;

smlab::config::Config model_config(const std::string& name, std::vector<std::string> overrides = {}) {
  overrides.insert(overrides.begin(), "model.name=" + name);
  return smlab::config::load_string("version: 1\n", "export.yaml", overrides);
}

std::string load_error(const std::filesystem::path& p) {
  try {
    smlab::inference::load_artifact(p);
  } catch (const smlab::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Export, EveryRegisteredModelRoundTripsThroughTorchScript) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  for (const auto& name : smlab::models::registry().names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(1);
    const auto cfg = model_config(name);
    const auto info = smlab::models::example_info(smlab::models::input_kind(name), 5);
    auto model = smlab::models::build(cfg, info);
    auto artifact = smlab::inference::export_model(*model, cfg, info);
    EXPECT_LE(artifact.spec.check_error, 1e-5);
    EXPECT_EQ(artifact.spec.input.kind, smlab::models::input_kind(name));
    const auto file = dir / (name + ".pt");
    smlab::inference::save_artifact(artifact, file);
    auto loaded = smlab::inference::load_artifact(file);
    EXPECT_EQ(loaded.spec.model, name);
    EXPECT_EQ(loaded.spec.config_hash, cfg.hash());
    EXPECT_EQ(loaded.spec.to_json(), artifact.spec.to_json());  // the typed spec survives the archive

    // Same names as the C++ model (so weights transfer by name both ways).
    std::set<std::string> cpp_names, jit_names;
    for (const auto& p : model->named_parameters()) cpp_names.insert(p.key());
    for (const auto& p : model->named_buffers()) cpp_names.insert(p.key());
    for (const auto& p : loaded.module.named_parameters()) jit_names.insert(p.name);
    for (const auto& b : loaded.module.named_buffers()) jit_names.insert(b.name);
    EXPECT_EQ(cpp_names, jit_names);

    // A batch size the trace never saw.
    torch::NoGradGuard ng;
    model->eval();
    const auto x = smlab::models::example_input(info, 4);
    const auto expected = model->forward(x);
    const auto got = loaded.forward(x);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_LE(smlab::inference::relative_error(got, expected), 1e-5);
    std::filesystem::remove(file);
  }
}

TEST(Export, PixelArtifactsNormaliseUint8InsideTheGraph) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  for (const bool imagenet : {false, true}) {
    SCOPED_TRACE(imagenet ? "ImageNet normalisation" : "scale only");
    torch::manual_seed(2);
    const auto cfg = model_config("resnet20", imagenet ? std::vector<std::string>{"augment.eval=[resize_center_crop]"}
                                                       : std::vector<std::string>{});
    auto info = smlab::models::example_info(InputKind::Image, 10);
    info.pixels = true;
    auto model = smlab::models::build(cfg, info);
    smlab::inference::save_artifact(smlab::inference::export_model(*model, cfg, info), dir / "img.pt");
    auto a = smlab::inference::load_artifact(dir / "img.pt");
    const auto& in = a.spec.input;
    EXPECT_EQ(in.dtype, smlab::inference::DType::UInt8);
    EXPECT_EQ(in.layout, smlab::inference::Layout::NHWC);
    EXPECT_EQ(in.shape, std::vector<int64_t>({32, 32, 3}));
    ASSERT_TRUE(in.pixels.has_value());
    EXPECT_EQ(in.pixels->resize_shorter, imagenet ? 37 : 0);  // round(32 / 0.875)
    EXPECT_EQ(in.pixels->crop, std::vector<int64_t>({32, 32}));

    const auto u8 = torch::randint(0, 256, {3, 32, 32, 3}, torch::kUInt8);
    auto x = u8.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0;
    if (imagenet) {
      x = (x - torch::tensor({0.485, 0.456, 0.406}).view({1, 3, 1, 1})) / torch::tensor({0.229, 0.224, 0.225}).view({1, 3, 1, 1});
    }
    torch::NoGradGuard ng;
    EXPECT_LE(smlab::inference::relative_error(a.forward(u8), model->forward(x)), 1e-5);
  }
}

TEST(Export, BadArtifactsAreRefusedWithTheirPath) {
  smlab::register_all();
  const auto dir = smlab::testing::temp_dir();
  EXPECT_NE(load_error(dir / "absent.pt").find("absent.pt: no such file"), std::string::npos);

  std::ofstream(dir / "garbage.pt") << "not a zip archive";
  EXPECT_NE(load_error(dir / "garbage.pt").find("garbage.pt is corrupt: it is not a zip archive"), std::string::npos)
      << load_error(dir / "garbage.pt");

  torch::jit::Module plain("__torch__.Plain");
  plain.register_buffer("b", torch::ones({1}));
  plain.save((dir / "plain.pt").string());
  EXPECT_NE(load_error(dir / "plain.pt").find("without smlab metadata"), std::string::npos) << load_error(dir / "plain.pt");

  const auto cfg = model_config("mlp");
  const auto info = smlab::models::example_info(InputKind::Features, 3);
  auto model = smlab::models::build(cfg, info);
  auto a = smlab::inference::export_model(*model, cfg, info);
  a.spec.format = smlab::inference::kArtifactFormat + 1;
  smlab::inference::save_artifact(a, dir / "future.pt");
  const auto msg = load_error(dir / "future.pt");
  EXPECT_NE(msg.find("artifact format " + std::to_string(smlab::inference::kArtifactFormat + 1)), std::string::npos) << msg;
  EXPECT_NE(msg.find("is newer than this smlab (" + std::to_string(smlab::inference::kArtifactFormat) + "); upgrade smlab"),
            std::string::npos)
      << msg;
}

// A model whose forward bakes the batch size into the trace must be refused at export.
TEST(Export, ABakedInputSizeIsCaughtAtExport) {
  struct Baked : smlab::models::Model {
    Baked() { fc = register_module("fc", torch::nn::Linear(4, 2)); }
    torch::Tensor forward(const torch::Tensor& x) override { return fc->forward(x.reshape({x.size(0), 4})); }
    torch::nn::Linear fc{nullptr};
  };
  smlab::register_all();
  Baked model;
  auto info = smlab::models::example_info(InputKind::Features, 2);
  info.input_shape = {2, 2};
  try {
    smlab::inference::export_model(model, model_config("mlp"), info);
    FAIL() << "expected the export check to fail";
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("bakes an input size"), std::string::npos) << e.what();
  }
}
