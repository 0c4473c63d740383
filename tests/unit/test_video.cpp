// Video models and the Moving-MNIST generator. The generator is checked against the digits it
// was given: a small IDX file written here whose digit i is a block with pixel value i + 1, so
// that every frame can be compared with where the digit must be (start + t * speed * direction).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "tools/register_all.h"
#include "datasets/dataset.h"
#include "inference/export.h"
#include "models/model.h"
#include "test_util.h"

namespace fs = std::filesystem;
using smlab::datasets::Split;

namespace {

void write_idx(const fs::path& file, const std::vector<int32_t>& dims, const std::vector<uint8_t>& data) {
  std::ofstream f(file, std::ios::binary);
  const unsigned char magic[4] = {0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  f.write(reinterpret_cast<const char*>(magic), 4);
  for (auto d : dims) {
    const unsigned char be[4] = {static_cast<unsigned char>(d >> 24), static_cast<unsigned char>(d >> 16),
                                 static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    f.write(reinterpret_cast<const char*>(be), 4);
  }
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

/// 20 "digits" of 8x8 pixels: digit i is a 4x6 block (rows 2-5, columns 1-6) of value i + 1,
/// labelled i % 10. Train gets digits 0-15, val 16-17, test 18-19.
fs::path write_digits(const fs::path& dir) {
  const int n = 20, s = 8;
  std::vector<uint8_t> images(n * s * s, 0), labels(n);
  for (int i = 0; i < n; ++i) {
    labels[i] = static_cast<uint8_t>(i % 10);
    for (int r = 2; r < 6; ++r)
      for (int c = 1; c < 7; ++c) images[(i * s + r) * s + c] = static_cast<uint8_t>(i + 1);
  }
  write_idx(dir / "t10k-images-idx3-ubyte.gz", {n, s, s}, images);
  write_idx(dir / "t10k-labels-idx1-ubyte.gz", {n}, labels);
  return dir;
}

smlab::config::Config mm_config(const fs::path& root, std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"data.root=" + root.string(), "data.digit_size=8", "data.size=24", "data.frames=5",
                                "data.speeds=[1, 2, 3]", "data.train_size=64", "data.val_size=16",
                                "data.test_size=16"};
  o.insert(o.end(), extra.begin(), extra.end());
  return smlab::config::load_string("model: {name: c3d}\ndata: {name: moving_mnist}\n", "mm.yaml", o);
}

/// The spec's renderer, written independently: digit `id` (block rows 2-5, columns 1-6, value
/// (id + 1) / 255) with its top-left corner at (x, y) in an S x S frame that wraps around.
std::vector<float> render(int64_t id, int64_t x, int64_t y, int64_t s = 24) {
  std::vector<float> f(s * s, 0.0f);
  for (int64_t r = 2; r < 6; ++r)
    for (int64_t c = 1; c < 7; ++c) f[(((y + r) % s + s) % s) * s + ((x + c) % s + s) % s] = (id + 1) / 255.0f;
  return f;
}

bool same(const torch::Tensor& frame, const std::vector<float>& want) {
  const auto f = frame.contiguous();
  return std::equal(want.begin(), want.end(), f.data_ptr<float>());
}

}  // namespace

TEST(MovingMnist, ClipsShowTheLabelledDigitMovingInTheLabelledDirection) {
  smlab::register_all();
  const auto root = write_digits(smlab::testing::temp_dir());
  // Directions counter-clockwise from "right" (image y points down).
  const int dx8[8] = {1, 1, 0, -1, -1, -1, 0, 1}, dy8[8] = {0, -1, -1, -1, 0, 1, 1, 1};
  for (const int dirs : {4, 8}) {
    SCOPED_TRACE(dirs);
    const auto cfg = mm_config(root, {"data.directions=" + std::to_string(dirs)});
    const auto ds = smlab::datasets::build(cfg, Split::Train);
    const auto& info = ds->info();
    EXPECT_EQ(info.input_shape, (std::vector<int64_t>{1, 5, 24, 24}));
    ASSERT_EQ(info.num_classes, dirs * 10);
    EXPECT_EQ(info.class_names[0], "right_0");
    EXPECT_EQ(info.class_names[10], dirs == 4 ? "up_0" : "up_right_0");
    std::vector<int64_t> all(ds->size());
    std::iota(all.begin(), all.end(), 0);
    const auto b = ds->get(all);
    ASSERT_EQ(b.input.sizes().vec(), (std::vector<int64_t>{64, 1, 5, 24, 24}));
    std::set<int64_t> seen_dirs, seen_speeds;
    for (int64_t i = 0; i < 64; ++i) {
      const int64_t label = b.target[i].item<int64_t>(), dir = (label / 10) * (8 / dirs), digit = label % 10;
      const auto clip = b.input[i][0];
      // One train digit (ids 0-15) of the labelled class: the largest pixel value names it.
      const int64_t id = std::lround(clip.max().item<float>() * 255.0f) - 1;
      ASSERT_GE(id, 0);
      ASSERT_LT(id, 16) << "a train clip shows a digit from outside the train share";
      EXPECT_EQ(id % 10, digit);
      // Some start (x0, y0) and some speed reproduce all 5 frames exactly.
      int64_t found = 0;
      for (int64_t v : {1, 2, 3}) {
        for (int64_t y0 = 0; y0 < 24; ++y0) {
          for (int64_t x0 = 0; x0 < 24; ++x0) {
            if (!same(clip[0], render(id, x0, y0))) continue;
            bool all_frames = true;
            for (int64_t t = 1; t < 5 && all_frames; ++t)
              all_frames = same(clip[t], render(id, x0 + dx8[dir] * v * t, y0 + dy8[dir] * v * t));
            if (all_frames) {
              found = v;
              break;
            }
          }
          if (found) break;
        }
        if (found) break;
      }
      ASSERT_GT(found, 0) << "clip " << i << " does not move in direction " << dir;
      seen_dirs.insert(dir);
      seen_speeds.insert(found);
    }
    EXPECT_EQ(static_cast<int>(seen_dirs.size()), dirs);
    EXPECT_EQ(seen_speeds, (std::set<int64_t>{1, 2, 3}));
  }
}

TEST(MovingMnist, OneFrameDoesNotTellTheDirection) {
  // In frames that wrap around, the digit's position in any frame is uniform whatever the
  // direction: over many clips, the share of digits whose top-left corner lies in the left half
  // of the first and of the last frame is the same for digits moving right and left (motion
  // kept inside the frame would put right-movers on the left at the start and on the right at
  // the end).
  smlab::register_all();
  const auto root = write_digits(smlab::testing::temp_dir());
  const auto ds = smlab::datasets::build(mm_config(root, {"data.train_size=4000", "data.label=direction"}), Split::Train);
  std::vector<int64_t> all(ds->size());
  std::iota(all.begin(), all.end(), 0);
  const auto b = ds->get(all);
  for (const int64_t t : {0, 4}) {
    // The block spans columns 1-6 of the digit: with its corner at x, column (x + 1) % 24 is lit
    // and column x % 24 is not. Find x from the first lit column after an unlit one.
    const auto lit = b.input.select(2, t).squeeze(1).amax(1) > 0;  // [N, 24] columns with ink
    const auto start = lit & ~lit.roll(1, 1);                        // first lit column of the block
    const auto corner = (start.to(torch::kLong).argmax(1) - 1 + 24) % 24;
    const auto left_half = (corner < 12).to(torch::kDouble);
    const double right = left_half.index({b.target == 0}).mean().item<double>();
    const double left = left_half.index({b.target == 2}).mean().item<double>();
    EXPECT_NEAR(right, 0.5, 0.07) << "frame " << t;
    EXPECT_NEAR(left, 0.5, 0.07) << "frame " << t;
  }
}

TEST(MovingMnist, DeterministicBySeedWithDisjointDigitsPerSplit) {
  smlab::register_all();
  const auto root = write_digits(smlab::testing::temp_dir());
  const std::vector<int64_t> idx = {0, 5, 9, 15};
  auto a = smlab::datasets::build(mm_config(root), Split::Train)->get(idx);
  auto b = smlab::datasets::build(mm_config(root), Split::Train)->get(idx);
  auto c = smlab::datasets::build(mm_config(root, {"data.seed=7"}), Split::Train)->get(idx);
  EXPECT_TRUE(torch::equal(a.input, b.input));
  EXPECT_TRUE(torch::equal(a.target, b.target));
  EXPECT_FALSE(torch::equal(a.input, c.input));
  // Val shows digits 16-17 only, test 18-19 only (pixel value = digit id + 1).
  for (const auto& [split, lo] : std::vector<std::pair<Split, int>>{{Split::Val, 16}, {Split::Test, 18}}) {
    const auto x = smlab::datasets::build(mm_config(root), split)->get(idx).input;
    const auto values = std::get<0>(torch::_unique(torch::round(x * 255.0f)));
    EXPECT_EQ(values.min().item<float>(), 0.0f);
    for (int64_t k = 1; k < values.size(0); ++k) {
      const int id = static_cast<int>(values[k].item<float>()) - 1;
      EXPECT_TRUE(id == lo || id == lo + 1) << smlab::datasets::split_name(split) << " shows digit " << id;
    }
  }
  // Resizing to another digit size keeps the generator's draws (the same labels).
  auto d = smlab::datasets::build(mm_config(root, {"data.digit_size=6"}), Split::Train)->get(idx);
  EXPECT_TRUE(torch::equal(a.target, d.target));
}

TEST(MovingMnist, ShuffledFramesAreTheSameClipsInAnotherOrder) {
  smlab::register_all();
  const auto root = write_digits(smlab::testing::temp_dir());
  std::vector<int64_t> all(64);
  std::iota(all.begin(), all.end(), 0);
  const auto plain = smlab::datasets::build(mm_config(root), Split::Train)->get(all);
  const auto shuf = smlab::datasets::build(mm_config(root, {"data.shuffle_frames=true"}), Split::Train)->get(all);
  EXPECT_TRUE(torch::equal(plain.target, shuf.target));
  int64_t reordered = 0;
  for (int64_t i = 0; i < 64; ++i) {
    // Every shuffled frame is one of the clip's frames, each used once.
    std::set<int64_t> used;
    for (int64_t f = 0; f < 5; ++f) {
      for (int64_t g = 0; g < 5; ++g) {
        if (!used.count(g) && torch::equal(shuf.input[i][0][f], plain.input[i][0][g])) {
          used.insert(g);
          if (f != g) ++reordered;
          break;
        }
      }
    }
    EXPECT_EQ(used.size(), 5u) << "clip " << i;
  }
  EXPECT_GT(reordered, 64) << "frames were hardly shuffled";
}

TEST(MovingMnist, LabelChoicesAndErrors) {
  smlab::register_all();
  const auto root = write_digits(smlab::testing::temp_dir());
  const auto full = smlab::datasets::build(mm_config(root), Split::Train)->get({0, 1, 2, 3, 4, 5});
  const auto dir = smlab::datasets::build(mm_config(root, {"data.label=direction"}), Split::Train);
  const auto dig = smlab::datasets::build(mm_config(root, {"data.label=digit"}), Split::Train);
  EXPECT_EQ(dir->info().class_names, (std::vector<std::string>{"right", "up", "left", "down"}));
  EXPECT_EQ(dig->info().num_classes, 10);
  EXPECT_TRUE(torch::equal(dir->get({0, 1, 2, 3, 4, 5}).target, full.target.div(10, "floor")));
  EXPECT_TRUE(torch::equal(dig->get({0, 1, 2, 3, 4, 5}).target, full.target.remainder(10)));

  auto error = [&](std::vector<std::string> extra, const fs::path& r) -> std::string {
    try {
      smlab::datasets::build(mm_config(r, std::move(extra)), Split::Train);
    } catch (const smlab::UserError& e) {
      return e.what();
    }
    return "";
  };
  // Speeds must stay below half the frame (24 / 2 = 12); digits must fit the frame.
  auto msg = error({"data.speeds=[12]"}, root);
  EXPECT_NE(msg.find("data.speeds"), std::string::npos) << msg;
  EXPECT_NE(msg.find("below 12"), std::string::npos) << msg;
  EXPECT_EQ(error({"data.speeds=[11]"}, root), "");
  msg = error({"data.size=7"}, root);
  EXPECT_NE(msg.find("data.digit_size"), std::string::npos) << msg;
  msg = error({"data.directions=5"}, root);
  EXPECT_NE(msg.find("data.directions"), std::string::npos) << msg;
  msg = error({}, root / "absent");
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << msg;
}

using smlab::testing::build_model;
using smlab::testing::classification_info;

TEST(VideoModels, ReferenceParameterCounts) {
  // torchvision 0.26 model cards (400 Kinetics classes); C3D: 8 convs and fc6 8192 -> 4096,
  // fc7, fc8 with 487 Sports-1M classes on 16x112x112 clips.
  smlab::register_all();
  const auto kinetics = classification_info(400, {3, 16, 112, 112});
  EXPECT_EQ(smlab::models::parameter_count(*build_model("r3d_18", kinetics)), 33371472);
  EXPECT_EQ(smlab::models::parameter_count(*build_model("mc3_18", kinetics)), 11695440);
  EXPECT_EQ(smlab::models::parameter_count(*build_model("r2plus1d_18", kinetics)), 31505325);
  EXPECT_EQ(smlab::models::parameter_count(*build_model("c3d", classification_info(487, {3, 16, 112, 112}))), 79991015);
  // 3D ResNeXt: the counts of the reference implementation in tests/python/test_video_parity.py.
  EXPECT_EQ(smlab::models::parameter_count(*build_model("resnext3d_50", kinetics)), 26685264);
  EXPECT_EQ(smlab::models::parameter_count(*build_model("resnext3d_101", kinetics)), 48340816);
  // fc6 follows the clip: 8x32x32 leaves 512 x 1 x 2 x 2 = 2048 inputs.
  auto small = build_model("c3d", classification_info(10, {3, 8, 32, 32}));
  EXPECT_EQ(small->named_parameters()["fc6.weight"].sizes().vec(), (std::vector<int64_t>{4096, 2048}));
}

TEST(VideoModels, RejectImagesAndUseTheClipChannels) {
  smlab::register_all();
  for (const std::string name : {"r3d_18", "mc3_18", "r2plus1d_18", "c3d", "resnext3d_50", "frame_2d"}) {
    SCOPED_TRACE(name);
    try {
      build_model(name, classification_info(4, {3, 32, 32}));
      ADD_FAILURE() << "expected an error for images";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("C x T x H x W"), std::string::npos) << e.what();
    }
    auto net = build_model(name, classification_info(4, {1, 4, 16, 16}));
    net->eval();
    torch::NoGradGuard g;
    EXPECT_EQ(net->forward(torch::rand({2, 1, 4, 16, 16})).sizes().vec(), (std::vector<int64_t>{2, 4}));
  }
}

TEST(VideoModels, Frame2DAppliesItsBackboneToFrames) {
  smlab::register_all();
  torch::manual_seed(0);
  const auto info = classification_info(5, {3, 6, 16, 16});
  const auto x = torch::randn({2, 3, 6, 16, 16});
  auto one = build_model("frame_2d", info, {"model.backbone_options=[\"channels=[8]\"]"});
  auto mean = build_model("frame_2d", info, {"model.backbone_options=[\"channels=[8]\"]", "model.frames=mean"});
  auto second = build_model("frame_2d", info, {"model.backbone_options=[\"channels=[8]\"]", "model.frame=1"});
  EXPECT_EQ(one->named_parameters()["backbone.features.0.weight"].sizes().vec(), (std::vector<int64_t>{8, 3, 3, 3}));
  // The backbone alone, on images: the same weights.
  auto backbone = build_model("small_cnn", classification_info(5, {3, 16, 16}), {"model.channels=[8]"});
  for (auto* net : {&one, &mean, &second}) {
    torch::NoGradGuard g;
    auto src = backbone->named_parameters();
    for (auto& p : (*net)->named_parameters()) p.value().copy_(src[p.key().substr(9)]);
    (*net)->eval();
  }
  backbone->eval();
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::allclose(one->forward(x), backbone->forward(x.select(2, 3))));
  EXPECT_TRUE(torch::allclose(second->forward(x), backbone->forward(x.select(2, 1))));
  std::vector<torch::Tensor> per_frame;
  for (int64_t t = 0; t < 6; ++t) per_frame.push_back(backbone->forward(x.select(2, t)));
  EXPECT_TRUE(torch::allclose(mean->forward(x), torch::stack(per_frame).mean(0), 1e-5, 1e-6));

  for (const auto& [opts, fragment] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"model.backbone=r3d_18"}, "needs an image model"},
           {{"model.frame=6"}, "past the clip"},
           {{"model.backbone=resnet_18"}, "unknown model"}}) {
    try {
      build_model("frame_2d", info, opts);
      ADD_FAILURE() << "expected an error: " << fragment;
    } catch (const smlab::UserError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
}

TEST(VideoModels, ChannelsLast3dGivesTheSameLogitsAndGradients) {
  // train.channels_last on clips: inputs and 3D conv weights in NDHWC (channels-last-3d). The
  // contiguous model is the oracle: the layout changes the summation order, not the function.
  smlab::register_all();
  const auto info = classification_info(6, {3, 4, 16, 16});
  for (const std::string name : {"r3d_18", "r2plus1d_18", "c3d"}) {
    SCOPED_TRACE(name);
    torch::manual_seed(3);
    auto ref = build_model(name, info);
    torch::manual_seed(3);
    auto cl = build_model(name, info);
    smlab::models::to_channels_last(*cl);
    ref->eval();  // C3D's dropout would draw different masks
    cl->eval();
    const auto w = cl->parameters()[0];
    ASSERT_EQ(w.dim(), 5);
    EXPECT_TRUE(w.is_contiguous(torch::MemoryFormat::ChannelsLast3d));
    const auto x = torch::randn({2, 3, 4, 16, 16});
    const auto xl = smlab::models::channels_last(x);
    EXPECT_TRUE(xl.is_contiguous(torch::MemoryFormat::ChannelsLast3d));
    const auto a = ref->forward(x), b = cl->forward(xl);
    EXPECT_LE(smlab::inference::relative_error(b, a), 1e-5);
    a.square().sum().backward();
    b.square().sum().backward();
    const auto ga = ref->parameters()[0].grad(), gb = cl->parameters()[0].grad();
    EXPECT_LE(smlab::inference::relative_error(gb, ga), 1e-4);
  }
}
