// The augmentation ops (cuda/augment_*.cpp) against torch's own functions and analytic identities.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "cuda/ops.h"
#include "datasets/augment.h"

namespace F = torch::nn::functional;
namespace ops = smlab::ops;

namespace {

const std::vector<double> kZero = {0, 0, 0}, kOne = {1, 1, 1};
const std::vector<double> kMean = {0.485, 0.456, 0.406}, kStd = {0.229, 0.224, 0.225};
constexpr double kEps = std::numeric_limits<float>::epsilon();

struct P {
  double y0, x0, h, w, flip = 0, b = 1, c = 1, s = 1, hue = 0;
};

torch::Tensor params(const std::vector<P>& ps) {
  auto t = torch::zeros({static_cast<int64_t>(ps.size()), 9}, torch::kDouble);
  for (size_t i = 0; i < ps.size(); ++i) {
    const auto& p = ps[i];
    const double v[9] = {p.y0, p.x0, p.h, p.w, p.flip, p.b, p.c, p.s, p.hue};
    for (int k = 0; k < 9; ++k) t[i][k] = v[k];
  }
  return t;
}

P full(int64_t H, int64_t W) { return P{0, 0, static_cast<double>(H), static_cast<double>(W)}; }

torch::Tensor rand_u8(std::vector<int64_t> shape) { return torch::randint(0, 256, shape, torch::kUInt8); }

/// [N,H,W,3] uint8 -> [N,3,H,W] float64 on the [0,1] scale.
torch::Tensor to01(const torch::Tensor& x) { return x.permute({0, 3, 1, 2}).to(torch::kDouble) / 255.0; }

double maxdiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// Bilinear positions are float32 values up to max(H, W); their rounding (a few ulp of the largest
/// coordinate) moves the interpolation weight by that much, times a pixel step of at most 1.
double bilinear_tol(int64_t H, int64_t W) { return 8 * kEps * static_cast<double>(std::max(H, W)) + 8 * kEps; }

}  // namespace

TEST(OpsAugment, NeutralParamsOnlyNormalise) {
  torch::manual_seed(3);
  auto x = rand_u8({2, 7, 9, 3});
  auto y = ops::augment_image(x, params({full(7, 9), full(7, 9)}), 7, 9, kMean, kStd);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 7, 9}));
  auto m = torch::tensor(kMean, torch::kDouble).view({1, 3, 1, 1});
  auto s = torch::tensor(kStd, torch::kDouble).view({1, 3, 1, 1});
  // float32 multiply-add on values of magnitude <= ~2.7: a few ulp
  EXPECT_LT(maxdiff(y, (to01(x) - m) / s), 8 * kEps * 4);
}

TEST(OpsAugment, NormaliseThenDenormaliseIsIdentity) {
  torch::manual_seed(4);
  auto x = rand_u8({3, 11, 6, 3});
  auto pr = params({{2, 1, 8, 4, 1, 1.2, 0.7, 1.3, 0.1}, {0, 0, 11, 6, 0, 0.8}, {5, 2, 3, 3, 1}});
  auto raw = ops::augment_image(x, pr, 9, 5, kZero, kOne);
  auto nrm = ops::augment_image(x, pr, 9, 5, kMean, kStd);
  auto m = torch::tensor(kMean, torch::kDouble).view({1, 3, 1, 1});
  auto s = torch::tensor(kStd, torch::kDouble).view({1, 3, 1, 1});
  EXPECT_LT(maxdiff(nrm.to(torch::kDouble) * s + m, raw), 8 * kEps * 4);
}

TEST(OpsAugment, FlipTwiceIsIdentity) {
  torch::manual_seed(5);
  auto x = rand_u8({2, 13, 17, 3});
  P a{1, 2, 10, 12, 0, 1.1, 0.9, 1.2, -0.2}, b = a;
  b.flip = 1;
  auto y0 = ops::augment_image(x, params({a, full(13, 17)}), 8, 11, kMean, kStd);
  P c = full(13, 17);
  c.flip = 1;
  auto y1 = ops::augment_image(x, params({b, c}), 8, 11, kMean, kStd);
  // the op's flip is a mirror of the output: flipping it back gives the unflipped result exactly
  EXPECT_TRUE(torch::equal(y1.flip({-1}), y0));
  EXPECT_FALSE(torch::equal(y1, y0));
}

TEST(OpsAugment, BilinearMatchesInterpolateOnTheSameCrop) {
  torch::manual_seed(6);
  const int64_t H = 37, W = 41;
  auto x = rand_u8({1, H, W, 3});
  struct Case {
    P p;
    int64_t oh, ow;
  };
  const std::vector<Case> cases = {
      {full(H, W), 37, 41},          // scale 1, same size
      {full(H, W), 224, 100},        // scale 1, upsampled
      {full(H, W), 5, 7},            // scale 1, downsampled
      {{30, 35, 7, 6}, 16, 16},      // bottom-right border crop
      {{0, 0, 9, 13}, 4, 29},        // top-left border crop
      {{10, 3, 1, 1}, 3, 3},         // 1x1 crop
      {{4, 0, 33, 41}, 20, 20},      // full width
  };
  for (const auto& cs : cases) {
    auto y = ops::augment_image(x, params({cs.p}), cs.oh, cs.ow, kZero, kOne);
    const auto y0 = static_cast<int64_t>(cs.p.y0), x0 = static_cast<int64_t>(cs.p.x0);
    auto crop = x.slice(1, y0, y0 + static_cast<int64_t>(cs.p.h)).slice(2, x0, x0 + static_cast<int64_t>(cs.p.w));
    auto crop01 = crop.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.f;
    auto ref = F::interpolate(crop01, F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{cs.oh, cs.ow})
                                          .mode(torch::kBilinear)
                                          .align_corners(false)
                                          .antialias(false));
    EXPECT_LT(maxdiff(y, ref), bilinear_tol(H, W)) << "crop " << cs.p.y0 << "," << cs.p.x0 << " " << cs.p.h << "x"
                                                   << cs.p.w << " -> " << cs.oh << "x" << cs.ow;
  }
}

TEST(OpsAugment, OneByOneImages) {
  auto x = torch::tensor({10, 200, 255, 0, 1, 128}, torch::kUInt8).view({2, 1, 1, 3});
  P p = full(1, 1);
  p.flip = 1;
  auto y = ops::augment_image(x, params({p, full(1, 1)}), 3, 4, kZero, kOne);
  auto ref = to01(x).expand({2, 3, 3, 4});
  EXPECT_LT(maxdiff(y, ref), 4 * kEps);
  auto y1 = ops::augment_image(x, params({full(1, 1), full(1, 1)}), 1, 1, kZero, kOne);
  EXPECT_LT(maxdiff(y1, to01(x)), 4 * kEps);
}

// A list of differently sized images: each sample equals augment_image of that image alone with its
// row of params, whatever the order of sizes in the list (a 1x1 image and a border crop included).
TEST(OpsAugment, ImageListOfDifferentSizesMatchesOneImageAtATime) {
  torch::manual_seed(23);
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{20, 30}, {31, 17}, {20, 30}, {1, 1}, {64, 48}, {31, 17}};
  std::vector<torch::Tensor> images;
  std::vector<int64_t> hs, ws;
  for (const auto& [h, w] : sizes) {
    images.push_back(rand_u8({h, w, 3}));
    hs.push_back(h);
    ws.push_back(w);
  }
  auto p = ops::augment_params_sizes(hs, ws, {0.08, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, 0.5, 0.4, 0.4, 0.4, 0.1, 77);
  ASSERT_EQ(p.sizes(), torch::IntArrayRef({6, 9}));
  for (size_t i = 0; i < sizes.size(); ++i) {  // each crop inside its own image
    EXPECT_GE(p[i][0].item<double>(), 0);
    EXPECT_GE(p[i][1].item<double>(), 0);
    EXPECT_LE(p[i][0].item<double>() + p[i][2].item<double>(), sizes[i].first) << i;
    EXPECT_LE(p[i][1].item<double>() + p[i][3].item<double>(), sizes[i].second) << i;
  }
  p[4] = params({P{64 - 9, 48 - 5, 9, 5, 1}})[0];  // a crop touching the bottom-right border, flipped
  for (bool cl : {false, true}) {
    const auto y = ops::augment_image_list(images, p, 12, 10, kMean, kStd, cl);
    ASSERT_EQ(y.sizes(), torch::IntArrayRef({6, 3, 12, 10}));
    EXPECT_EQ(y.is_contiguous(cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous), true);
    for (size_t i = 0; i < sizes.size(); ++i) {
      const auto one = ops::augment_image(images[i].unsqueeze(0), p.narrow(0, static_cast<int64_t>(i), 1), 12, 10,
                                          kMean, kStd);
      EXPECT_TRUE(torch::equal(y[static_cast<int64_t>(i)].contiguous(), one[0])) << "image " << i;
    }
  }
  // Equal sizes draw exactly what augment_params draws.
  const auto same = ops::augment_params_sizes({24, 24, 24}, {30, 30, 30}, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4,
                                              0.4, 0.4, 0.1, 5);
  EXPECT_TRUE(torch::equal(same, ops::augment_params(3, 24, 30, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.4, 0.4,
                                                     0.1, 5)));
  EXPECT_THROW(ops::augment_image_list({images[0], rand_u8({5, 5, 1})}, p.narrow(0, 0, 2), 4, 4, kMean, kStd),
               c10::Error);  // not RGB
  EXPECT_THROW(ops::augment_image_list(images, p.narrow(0, 0, 2), 4, 4, kMean, kStd), c10::Error);  // 6 images, 2 rows
}

TEST(OpsAugment, NonContiguousInputGivesTheSameResult) {
  torch::manual_seed(7);
  auto base = rand_u8({3, 20, 30, 3});
  auto x = base.slice(2, 1, 30, 2);  // [3,20,15,3] strided
  ASSERT_FALSE(x.is_contiguous());
  auto pr = ops::augment_params(3, 20, 15, {0.2, 1.0}, {0.75, 1.333}, 0.5, 0.4, 0.4, 0.4, 0.1, 11);
  EXPECT_TRUE(torch::equal(ops::augment_image(x, pr, 8, 8, kMean, kStd),
                           ops::augment_image(x.contiguous(), pr, 8, 8, kMean, kStd)));
  auto chw = rand_u8({2, 3, 9, 10}).permute({0, 2, 3, 1});  // NHWC view of NCHW memory
  auto pr2 = params({{1, 1, 5, 6, 1, 1.5, 0.5}, full(9, 10)});
  EXPECT_TRUE(torch::equal(ops::augment_image(chw, pr2, 7, 7, kMean, kStd),
                           ops::augment_image(chw.contiguous(), pr2, 7, 7, kMean, kStd)));
}

TEST(OpsAugment, BrightnessContrastSaturationMatchTheirFormulas) {
  torch::manual_seed(8);
  auto x = rand_u8({1, 12, 10, 3});
  const auto v = to01(x);  // full crop at the same size: v is the input exactly
  auto clamp = [](const torch::Tensor& t) { return t.clamp(0.0, 1.0); };
  auto luma = [](const torch::Tensor& t) {  // ITU-R 601 luma, torchvision coefficients
    return 0.2989 * t.select(1, 0) + 0.587 * t.select(1, 1) + 0.114 * t.select(1, 2);
  };
  const double tol = 16 * kEps;
  for (double b : {0.0, 0.6, 1.4}) {
    P p = full(12, 10);
    p.b = b;
    EXPECT_LT(maxdiff(ops::augment_image(x, params({p}), 12, 10, kZero, kOne), clamp(b * v)), tol) << "b=" << b;
  }
  for (double c : {0.0, 0.5, 1.7}) {
    P p = full(12, 10);
    p.c = c;
    const double mean = luma(v).mean().item<double>();
    EXPECT_LT(maxdiff(ops::augment_image(x, params({p}), 12, 10, kZero, kOne), clamp(c * v + (1 - c) * mean)), tol)
        << "c=" << c;
  }
  for (double s : {0.0, 0.3, 1.6}) {
    P p = full(12, 10);
    p.s = s;
    auto g = luma(v).unsqueeze(1);
    EXPECT_LT(maxdiff(ops::augment_image(x, params({p}), 12, 10, kZero, kOne), clamp(s * v + (1 - s) * g)), tol)
        << "s=" << s;
  }
  // brightness then contrast: the contrast mean is taken after brightness (and its clamp)
  P p = full(12, 10);
  p.b = 1.5;
  p.c = 0.4;
  auto vb = clamp(1.5 * v);
  const double mean = luma(vb).mean().item<double>();
  EXPECT_LT(maxdiff(ops::augment_image(x, params({p}), 12, 10, kZero, kOne), clamp(0.4 * vb + 0.6 * mean)), tol);
}

TEST(OpsAugment, HueRotatesPrimariesAndKeepsGrays) {
  // pure red, green, blue, and two grays
  auto x = torch::tensor({255, 0, 0, 0, 255, 0, 0, 0, 255, 77, 77, 77, 0, 0, 0}, torch::kUInt8).view({1, 1, 5, 3});
  P p = full(1, 5);
  p.hue = 1.0 / 3.0;  // +120 degrees: red -> green -> blue -> red
  auto y = ops::augment_image(x, params({p}), 1, 5, kZero, kOne);
  auto ref = torch::tensor({0, 255, 0, 0, 0, 255, 255, 0, 0, 77, 77, 77, 0, 0, 0}, torch::kUInt8).view({1, 1, 5, 3});
  EXPECT_LT(maxdiff(y, to01(ref)), 1e-6);
  p.hue = -1.0 / 6.0;  // -60 degrees: red -> magenta (255, 0, 255)
  auto y2 = ops::augment_image(x.slice(2, 0, 1), params({P{0, 0, 1, 1, 0, 1, 1, 1, -1.0 / 6.0}}), 1, 1, kZero, kOne);
  EXPECT_LT(maxdiff(y2.view({3}), torch::tensor({1.0, 0.0, 1.0}, torch::kDouble)), 1e-6);
}

TEST(OpsAugment, OutputLayoutsAndBf16) {
  torch::manual_seed(9);
  auto x = rand_u8({4, 30, 25, 3});
  auto pr = ops::augment_params(4, 30, 25, {0.08, 1.0}, {0.75, 1.333}, 0.5, 0.4, 0.4, 0.4, 0.1, 3);
  auto y = ops::augment_image(x, pr, 16, 12, kMean, kStd);
  auto cl = ops::augment_image(x, pr, 16, 12, kMean, kStd, /*channels_last=*/true);
  EXPECT_TRUE(cl.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(cl.contiguous(), y));
  auto bf = ops::augment_image(x, pr, 16, 12, kMean, kStd, false, torch::kBFloat16);
  ASSERT_EQ(bf.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bf, y.to(torch::kBFloat16)));  // both round the same float to nearest even
}

TEST(OpsAugment, ParamsAreSeededAndInRange) {
  auto a = ops::augment_params(64, 50, 80, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.3, 0.2, 0.1, 42);
  auto b = ops::augment_params(64, 50, 80, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.3, 0.2, 0.1, 42);
  auto c = ops::augment_params(64, 50, 80, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.3, 0.2, 0.1, 43);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  auto col = [&](int k) { return a.select(1, k); };
  EXPECT_TRUE((col(0) >= 0).all().item<bool>() && (col(0) + col(2) <= 50).all().item<bool>());
  EXPECT_TRUE((col(1) >= 0).all().item<bool>() && (col(1) + col(3) <= 80).all().item<bool>());
  EXPECT_TRUE((col(2) >= 1).all().item<bool>() && (col(3) >= 1).all().item<bool>());
  EXPECT_TRUE(((col(5) >= 0.6) & (col(5) <= 1.4)).all().item<bool>());
  EXPECT_TRUE(((col(6) >= 0.7) & (col(6) <= 1.3)).all().item<bool>());
  EXPECT_TRUE(((col(7) >= 0.8) & (col(7) <= 1.2)).all().item<bool>());
  EXPECT_TRUE(((col(8) >= -0.1) & (col(8) <= 0.1)).all().item<bool>());
  const double flips = col(4).sum().item<double>();
  EXPECT_GT(flips, 10);
  EXPECT_LT(flips, 54);
  // scale 1 and ratio 1 on a square image: the full image
  auto f = ops::augment_params(5, 20, 20, {1.0, 1.0}, {1.0, 1.0}, 0, 0, 0, 0, 0, 1);
  EXPECT_TRUE(torch::equal(f.slice(1, 0, 4), torch::tensor({0.0, 0.0, 20.0, 20.0}, torch::kDouble).expand({5, 4})));
  EXPECT_TRUE(torch::equal(f.slice(1, 4), torch::tensor({0.0, 1.0, 1.0, 1.0, 0.0}, torch::kDouble).expand({5, 5})));
}

TEST(OpsAugment, EvalIsResizeThenCenterCrop) {
  torch::manual_seed(10);
  auto x = rand_u8({2, 40, 57, 3});
  auto y = ops::augment_eval(x, 32, 28, 30, kZero, kOne);
  // resize the shorter side to 32: 32 x int(32 * 57 / 40) = 32 x 45; crop top = round(2) = 2, left = round(7.5) = 8
  auto r = F::interpolate(x.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.f,
                          F::InterpolateFuncOptions().size(std::vector<int64_t>{32, 45}).mode(torch::kBilinear).align_corners(false));
  auto ref = r.slice(2, 2, 30).slice(3, 8, 38);
  EXPECT_LT(maxdiff(y, ref), bilinear_tol(40, 57));
  EXPECT_THROW(ops::augment_eval(x, 32, 33, 30, kZero, kOne), c10::Error);
}

TEST(OpsAugment, VideoAppliesClipParamsToEveryFrameWithTemporalJitter) {
  torch::manual_seed(11);
  auto clips = rand_u8({2, 6, 15, 18, 3});
  auto vp = ops::video_params(2, 6, 4, 15, 18, {0.3, 1.0}, {0.75, 1.333}, 0.5, 0.4, 0.4, 0.4, 0.1, 5);
  ASSERT_EQ(vp.sizes(), (std::vector<int64_t>{2, 10}));
  auto y = ops::augment_video(clips, vp, 4, 9, 10, kMean, kStd);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 4, 3, 9, 10}));
  for (int64_t n = 0; n < 2; ++n) {
    const int64_t t0 = vp[n][9].item<int64_t>();
    ASSERT_GE(t0, 0);
    ASSERT_LE(t0, 2);
    for (int64_t k = 0; k < 4; ++k) {
      auto frame = clips.select(0, n).select(0, t0 + k).unsqueeze(0);
      auto ref = ops::augment_image(frame, vp.slice(0, n, n + 1).slice(1, 0, 9), 9, 10, kMean, kStd);
      EXPECT_TRUE(torch::equal(y.select(0, n).select(0, k).unsqueeze(0), ref)) << n << " " << k;
    }
  }
  // non-contiguous clips
  auto nc = clips.transpose(2, 3);
  auto vp2 = ops::video_params(2, 6, 6, 18, 15, {0.3, 1.0}, {0.75, 1.333}, 0.5, 0.4, 0.4, 0.4, 0.1, 6);
  EXPECT_TRUE(torch::equal(ops::augment_video(nc, vp2, 6, 5, 5, kMean, kStd),
                           ops::augment_video(nc.contiguous(), vp2, 6, 5, 5, kMean, kStd)));
}

TEST(OpsAugment, GrayscaleIsItuR601Luma) {
  torch::manual_seed(12);
  auto x = torch::rand({3, 3, 8, 9});
  auto g = ops::grayscale(x, 3);
  auto ref = 0.2989 * x.select(1, 0).to(torch::kDouble) + 0.587 * x.select(1, 1).to(torch::kDouble) +
             0.114 * x.select(1, 2).to(torch::kDouble);
  EXPECT_LT(maxdiff(g, ref.unsqueeze(1).expand({3, 3, 8, 9})), 4 * kEps);
  EXPECT_EQ(ops::grayscale(x, 1).sizes(), (std::vector<int64_t>{3, 1, 8, 9}));
  EXPECT_TRUE(torch::equal(ops::grayscale(x.transpose(2, 3), 1), ops::grayscale(x.transpose(2, 3).contiguous(), 1)));
}

TEST(OpsAugment, GaussianBlurMatchesReflectPaddedConvolution) {
  torch::manual_seed(13);
  const int64_t K = 7;
  auto x = torch::rand({3, 2, 11, 14});
  auto sigma = torch::tensor({0.5, 1.3, 3.0}, torch::kDouble);
  auto y = ops::gaussian_blur(x, sigma, K);
  for (int64_t n = 0; n < 3; ++n) {
    // the kernel from its definition, then a reflect pad + 2-D convolution with the outer product
    auto t = torch::arange(K, torch::kDouble) - (K - 1) / 2.0;
    auto w = torch::exp(-0.5 * (t / sigma[n].item<double>()).pow(2));
    w = w / w.sum();
    auto k2 = torch::outer(w, w).view({1, 1, K, K}).expand({2, 1, K, K}).contiguous();
    auto pad = F::pad(x.slice(0, n, n + 1).to(torch::kDouble),
                      F::PadFuncOptions({K / 2, K / 2, K / 2, K / 2}).mode(torch::kReflect));
    auto ref = F::conv2d(pad, k2, F::Conv2dFuncOptions().groups(2));
    EXPECT_LT(maxdiff(y.slice(0, n, n + 1), ref), 16 * kEps) << "sigma " << sigma[n].item<double>();
  }
}

TEST(OpsAugment, RandomErasingSetsExactlyTheBox) {
  torch::manual_seed(14);
  auto x = torch::rand({3, 3, 10, 12});
  auto boxes = torch::tensor({2, 3, 4, 5, 0, 0, 0, 0, 8, 10, 2, 2}, torch::kLong).view({3, 4});
  auto y = ops::random_erasing(x, boxes, -1.5);
  auto mask = torch::zeros({3, 1, 10, 12}, torch::kBool);
  mask.index_put_({0, 0, torch::indexing::Slice(2, 6), torch::indexing::Slice(3, 8)}, true);
  mask.index_put_({2, 0, torch::indexing::Slice(8, 10), torch::indexing::Slice(10, 12)}, true);
  EXPECT_TRUE(torch::equal(y, torch::where(mask, torch::full_like(x, -1.5), x)));
  auto eb = ops::erasing_params(200, 10, 12, 0.5, {0.02, 0.33}, {0.3, 3.3}, 9);
  auto h = eb.select(1, 2), w = eb.select(1, 3);
  EXPECT_TRUE(((eb.select(1, 0) + h) <= 10).all().item<bool>() && ((eb.select(1, 1) + w) <= 12).all().item<bool>());
  const int64_t erased = (h > 0).sum().item<int64_t>();
  EXPECT_GT(erased, 60);
  EXPECT_LT(erased, 140);
  EXPECT_EQ((ops::erasing_params(50, 10, 12, 0.0, {0.02, 0.33}, {0.3, 3.3}, 9).select(1, 2) > 0).sum().item<int64_t>(), 0);
}

TEST(OpsAugment, MixupIsConvexCombinationOfImagesAndTargets) {
  torch::manual_seed(15);
  auto x = torch::rand({4, 3, 5, 6});
  auto y = F::one_hot(torch::tensor({0, 2, 1, 2}, torch::kLong), 3).to(torch::kFloat);
  auto perm = torch::tensor({3, 0, 1, 2}, torch::kLong);
  auto lam = torch::tensor({0.1, 0.5, 0.9, 1.0}, torch::kDouble);
  auto [mx, my] = ops::mixup(x, y, perm, lam);
  auto l = lam.to(torch::kFloat).view({4, 1, 1, 1});
  EXPECT_LT(maxdiff(mx, l * x + (1 - l) * x.index_select(0, perm)), 4 * kEps);
  auto l2 = lam.to(torch::kFloat).view({4, 1});
  EXPECT_LT(maxdiff(my, l2 * y + (1 - l2) * y.index_select(0, perm)), 4 * kEps);
  EXPECT_LT(maxdiff(my.sum(1), torch::ones({4})), 4 * kEps);
  auto [lm, bx, pm] = ops::mix_params(1000, 10, 10, 0.4, 1);
  EXPECT_TRUE(((lm >= 0) & (lm <= 1)).all().item<bool>());
  EXPECT_NEAR(lm.mean().item<double>(), 0.5, 0.05);  // Beta(a, a) has mean 1/2
  EXPECT_TRUE(torch::equal(pm.slice(0, 0, 3), torch::tensor({999, 0, 1}, torch::kLong)));
}

TEST(OpsAugment, CutmixPastesTheBoxAndWeighsLabelsByArea) {
  torch::manual_seed(16);
  auto x = torch::rand({3, 2, 8, 10});
  auto y = F::one_hot(torch::tensor({0, 1, 2}, torch::kLong), 3).to(torch::kFloat);
  auto perm = torch::tensor({1, 2, 0}, torch::kLong);
  auto boxes = torch::tensor({1, 2, 4, 5, 0, 0, 0, 0, 6, 7, 5, 5}, torch::kLong).view({3, 4});  // last one clipped
  auto [mx, my] = ops::cutmix(x, y, perm, boxes);
  auto ref = x.clone();
  using torch::indexing::Slice;
  ref.index_put_({0, Slice(), Slice(1, 5), Slice(2, 7)}, x.index({1, Slice(), Slice(1, 5), Slice(2, 7)}));
  ref.index_put_({2, Slice(), Slice(6, 8), Slice(7, 10)}, x.index({0, Slice(), Slice(6, 8), Slice(7, 10)}));
  EXPECT_TRUE(torch::equal(mx, ref));
  auto lam = torch::tensor({1.0 - 20.0 / 80.0, 1.0, 1.0 - 6.0 / 80.0}, torch::kFloat).view({3, 1});
  EXPECT_LT(maxdiff(my, lam * y + (1 - lam) * y.index_select(0, perm)), 4 * kEps);
}

// The float ops are linear in their images, so their backward must be the exact adjoint:
// <op(x), u> == <x, grad(op)(u)> for random x and u (the dot-product test), in float64 sums.
// A backward that misses the box, the permutation, the reflect padding or a channel weight fails it.
TEST(OpsAugment, FloatOpsGradientsPassTheAdjointTest) {
  torch::manual_seed(31);
  const int64_t N = 4, C = 3, H = 9, W = 12;
  const auto x = torch::rand({N, C, H, W}).requires_grad_(true);
  const auto t = torch::rand({N, 5}).requires_grad_(true);  // soft targets
  const auto [lam, boxes, perm] = ops::mix_params(N, H, W, 1.0, 3);
  auto big = boxes.clone();
  big[1] = torch::tensor({-3, 8, 20, 9});  // a box past the borders (clipped)
  const auto sigma = torch::tensor({0.4, 1.0, 2.5, 6.0}, torch::kDouble);
  auto adjoint = [&](const torch::Tensor& out, const torch::Tensor& in, const std::string& what) {
    const auto u = torch::randn_like(out);
    const auto g = torch::autograd::grad({out}, {in}, {u}, /*retain_graph=*/true)[0];
    const double lhs = (out.detach().to(torch::kDouble) * u.to(torch::kDouble)).sum().item<double>();
    const double rhs = (in.detach().to(torch::kDouble) * g.to(torch::kDouble)).sum().item<double>();
    EXPECT_NEAR(lhs, rhs, 1e-5 * (std::abs(lhs) + 1)) << what;
    EXPECT_GT(g.abs().sum().item<double>(), 0) << what;
  };
  adjoint(ops::grayscale(x, 3), x, "grayscale 3");
  adjoint(ops::grayscale(x, 1), x, "grayscale 1");
  adjoint(ops::gaussian_blur(x, sigma, 13), x, "gaussian_blur (kernel wider than the image)");
  adjoint(ops::gaussian_blur(x, sigma, 5), x, "gaussian_blur 5");
  adjoint(ops::random_erasing(x, big, 0.0), x, "random_erasing");
  auto [mx, my] = ops::mixup(x, t, perm, lam);
  adjoint(mx, x, "mixup images");
  adjoint(my, t, "mixup targets");
  auto [cx, cy] = ops::cutmix(x, t, perm, big);
  adjoint(cx, x, "cutmix images");
  adjoint(cy, t, "cutmix targets");
  // Gradients do not change the forward values.
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(std::get<0>(ops::cutmix(x.detach(), t.detach(), perm, big)), cx.detach()));
}

TEST(OpsAugment, BadArgumentsAreClear) {
  auto x = torch::zeros({2, 8, 8, 3}, torch::kUInt8);
  auto expect_msg = [](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error, expected: " << needle;
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_msg([&] { ops::augment_image(x, params({{0, 0, 9, 8}, full(8, 8)}), 4, 4, kMean, kStd); }, "not inside");
  expect_msg([&] { ops::augment_image(x, params({full(8, 8)}), 4, 4, kMean, kStd); }, "params must be [N, 9]");
  expect_msg([&] { ops::augment_image(x.to(torch::kFloat), params({full(8, 8), full(8, 8)}), 4, 4, kMean, kStd); },
             "expected uint8");
  expect_msg([&] { ops::augment_image(x, params({full(8, 8), full(8, 8)}), 4, 4, kMean, {1, 0, 1}); }, "std");
}

TEST(OpsAugment, OpsAreCallableThroughTheDispatcher) {
  for (const char* n : {"smlab::augment_image", "smlab::augment_eval", "smlab::augment_video", "smlab::grayscale",
                        "smlab::gaussian_blur", "smlab::random_erasing", "smlab::mixup", "smlab::cutmix",
                        "smlab::augment_params", "smlab::video_params", "smlab::erasing_params", "smlab::mix_params"}) {
    EXPECT_NO_THROW(c10::Dispatcher::singleton().findSchemaOrThrow(n, "")) << n;
  }
}

TEST(OpsAugment, RegistryEntriesRunAndAreReproducible) {
  torch::manual_seed(17);
  auto u8 = rand_u8({4, 24, 20, 3});
  auto gen_for = [](uint64_t s) { return at::make_generator<at::CPUGeneratorImpl>(s); };
  const std::vector<std::string> pipeline = {"random_resized_crop_flip_jitter", "random_grayscale", "gaussian_blur",
                                             "random_erasing"};
  auto g1 = gen_for(5), g2 = gen_for(5), g3 = gen_for(6);
  auto a = smlab::datasets::apply_augmentations(pipeline, u8, g1);
  auto b = smlab::datasets::apply_augmentations(pipeline, u8, g2);
  auto c = smlab::datasets::apply_augmentations(pipeline, u8, g3);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{4, 3, 24, 20}));
  EXPECT_EQ(a.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(a, b));   // same (seed, epoch, step) generator -> same parameters
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_FALSE(torch::isnan(a).any().item<bool>());
  // the eval entry is deterministic and equals augment_eval with its documented sizes
  auto ge = gen_for(1);
  auto e = smlab::datasets::apply_augmentations({"resize_center_crop"}, u8, ge);
  EXPECT_TRUE(torch::equal(e, ops::augment_eval(u8, std::llround(20 / 0.875), 24, 20, kMean, kStd)));
  auto gf = gen_for(1);
  EXPECT_THROW(smlab::datasets::apply_augmentations({"random_grayscale"}, u8, gf), c10::Error);  // needs float NCHW
}

TEST(OpsAugment, RandomCropPad4IsAWindowOfThePaddedImage) {
  torch::manual_seed(3);
  const auto x = torch::rand({16, 3, 8, 6});
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(9), g2 = at::make_generator<at::CPUGeneratorImpl>(9);
  const auto a = smlab::datasets::apply_augmentations({"random_crop_pad4"}, x, g1);
  EXPECT_TRUE(torch::equal(a, smlab::datasets::apply_augmentations({"random_crop_pad4"}, x, g2)));
  ASSERT_EQ(a.sizes(), x.sizes());
  const auto padded = torch::constant_pad_nd(x, {4, 4, 4, 4}, 0);
  int shifted = 0;
  for (int64_t i = 0; i < x.size(0); ++i) {
    int hits = 0;
    for (int64_t dy = 0; dy <= 8; ++dy)
      for (int64_t dx = 0; dx <= 8; ++dx) {
        if (torch::equal(a[i], padded[i].narrow(1, dy, 8).narrow(2, dx, 6))) {
          ++hits;
          shifted += dy != 4 || dx != 4;
        }
      }
    EXPECT_EQ(hits, 1) << "sample " << i << " is not exactly one 8x6 window of the 4-padded image";
  }
  EXPECT_GT(shifted, 8);  // offsets are drawn per sample: most samples move
}

TEST(OpsAugment, Cifar10NormalizeUsesTheChannelStatisticsAndTheExporterKnowsIt) {
  const auto x = torch::full({2, 3, 4, 4}, 0.5f);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto y = smlab::datasets::apply_augmentations({"cifar10_normalize"}, x, gen);
  EXPECT_NEAR(y[0][0][0][0].item<float>(), (0.5 - 0.4914) / 0.2470, 1e-5);
  EXPECT_NEAR(y[1][2][3][3].item<float>(), (0.5 - 0.4465) / 0.2616, 1e-5);
  namespace ds = smlab::datasets;
  const auto p = ds::eval_preprocessing({ds::default_spec("cifar10_normalize")},
                                        {ds::default_spec("random_crop_pad4"), ds::default_spec("hflip"),
                                         ds::default_spec("cifar10_normalize")},
                                        32, 32);
  EXPECT_EQ(p.mean, (std::vector<double>{0.4914, 0.4822, 0.4465}));
  EXPECT_EQ(p.std, (std::vector<double>{0.2470, 0.2435, 0.2616}));
  EXPECT_EQ(p.resize_shorter, 0);
}
