// CUDA augmentation kernels (cuda/augment_cuda.cu) against their CPU references (augment_cpu.cpp),
// with the same parameters on fresh random inputs. Skipped with a message where no GPU is present.
// The ops allocate their outputs; to catch unwritten elements, the CUDA caching allocator is first
// filled with NaN (a poisoned block of the same size is freed just before each call, so the op's
// output very likely reuses it) and every result is checked to be free of NaN.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "cuda/ops.h"
#include "datasets/augment.h"
#include "test_util.h"

namespace ops = smlab::ops;

namespace {

const std::vector<double> kMean = {0.485, 0.456, 0.406}, kStd = {0.229, 0.224, 0.225};

/// Allocates and frees a NaN-filled block of `bytes` so that the next allocation of that size reuses it.
void poison(int64_t bytes) {
  auto t = torch::full({std::max<int64_t>(bytes / 4, 1)}, std::numeric_limits<float>::quiet_NaN(),
                       torch::TensorOptions().device(torch::kCUDA).dtype(torch::kFloat));
  torch::cuda::synchronize();
}

double maxdiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.cpu().to(torch::kDouble) - b.cpu().to(torch::kDouble)).abs().max().item<double>();
}

void expect_no_nan(const torch::Tensor& t, const std::string& what) {
  EXPECT_FALSE(torch::isnan(t.to(torch::kFloat)).any().item<bool>()) << what << ": unwritten (NaN) elements";
}

}  // namespace

TEST(OpsAugment, ImageParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(1);
  struct Shape {
    int64_t N, H, W, oh, ow;
  };
  for (auto s : std::vector<Shape>{{1, 1, 1, 1, 1}, {3, 1, 1, 5, 4}, {8, 37, 53, 24, 31}, {16, 256, 256, 224, 224},
                                   {5, 64, 48, 96, 80}}) {
    auto x = torch::randint(0, 256, {s.N, s.H, s.W, 3}, torch::kUInt8);
    auto p = ops::augment_params(s.N, s.H, s.W, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.4, 0.4, 0.1, s.N + s.H);
    for (bool cl : {false, true}) {
      for (auto dt : {torch::kFloat, torch::kBFloat16}) {
        const std::string what = "shape " + std::to_string(s.N) + "x" + std::to_string(s.H) + "x" +
                                 std::to_string(s.W) + " cl=" + std::to_string(cl) + " bf16=" + std::to_string(dt == torch::kBFloat16);
        auto cpu = ops::augment_image(x, p, s.oh, s.ow, kMean, kStd, cl, dt);
        poison(s.N * 3 * s.oh * s.ow * (dt == torch::kFloat ? 4 : 2));
        auto gpu = ops::augment_image(x.cuda(), p, s.oh, s.ow, kMean, kStd, cl, dt);
        ASSERT_TRUE(gpu.is_cuda());
        if (cl) EXPECT_TRUE(gpu.is_contiguous(torch::MemoryFormat::ChannelsLast)) << what;
        expect_no_nan(gpu, what);
        // Same float32 formulas on both sides; they differ by fma contraction (a few ulp on [0,1]),
        // the order of the contrast-mean reduction (~1e-7) and the hue divisions, each magnified by
        // 1/std <= 4.5 and the jitter factors <= 1.4: 1e-5 on the [0,1] scale -> 5e-5 after normalising.
        // bfloat16: the same values rounded to 8 significant bits -> 2^-8 relative, plus one rounding
        // flip where the float values straddle a bf16 midpoint.
        const double tol = dt == torch::kFloat ? 5e-5 : std::ldexp(1.0, -8) * 2.7 * 2;
        EXPECT_LT(maxdiff(gpu, cpu), tol) << what;
      }
    }
  }
}

TEST(OpsAugment, ImageNonContiguousAndEvalParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(2);
  auto base = torch::randint(0, 256, {4, 3, 70, 90}, torch::kUInt8);
  auto x = base.permute({0, 2, 3, 1});  // NHWC view of NCHW memory
  auto p = ops::augment_params(4, 70, 90, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.4, 0.4, 0.1, 9);
  auto cpu = ops::augment_image(x, p, 33, 33, kMean, kStd);
  auto gpu = ops::augment_image(base.cuda().permute({0, 2, 3, 1}), p, 33, 33, kMean, kStd);
  expect_no_nan(gpu, "non-contiguous");
  EXPECT_LT(maxdiff(gpu, cpu), 5e-5);
  auto ecpu = ops::augment_eval(x, 64, 56, 56, kMean, kStd);
  poison(4 * 3 * 56 * 56 * 4);
  auto egpu = ops::augment_eval(x.cuda(), 64, 56, 56, kMean, kStd);
  expect_no_nan(egpu, "eval");
  EXPECT_LT(maxdiff(egpu, ecpu), 5e-5);
}

TEST(OpsAugment, VideoParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(3);
  auto clips = torch::randint(0, 256, {3, 8, 40, 50, 3}, torch::kUInt8);
  auto vp = ops::video_params(3, 8, 5, 40, 50, {0.2, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.4, 0.4, 0.1, 4);
  auto cpu = ops::augment_video(clips, vp, 5, 32, 32, kMean, kStd);
  auto gpu = ops::augment_video(clips.cuda(), vp, 5, 32, 32, kMean, kStd);
  expect_no_nan(gpu, "video");
  EXPECT_LT(maxdiff(gpu, cpu), 5e-5);
}

TEST(OpsAugment, FloatOpsParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(4);
  for (auto shape : std::vector<std::vector<int64_t>>{{1, 3, 1, 1}, {6, 3, 37, 45}, {32, 3, 224, 224}}) {
    const int64_t N = shape[0], H = shape[2], W = shape[3];
    auto x = torch::rand(shape);
    auto xc = x.cuda();
    const int64_t bytes = x.numel() * 4;
    poison(bytes);
    auto g = ops::grayscale(xc, 3);
    expect_no_nan(g, "grayscale");
    EXPECT_LT(maxdiff(g, ops::grayscale(x, 3)), 1e-6);  // 3 products and 2 sums of values <= 1
    auto sigma = torch::rand({N}, torch::kDouble) * 3 + 0.1;
    poison(bytes);
    auto b = ops::gaussian_blur(xc, sigma, 11);
    expect_no_nan(b, "blur");
    EXPECT_LT(maxdiff(b, ops::gaussian_blur(x, sigma, 11)), 1e-5);  // 2 x 11 weighted sums, weights sum to 1
    auto boxes = ops::erasing_params(N, H, W, 0.7, {0.02, 0.33}, {0.3, 3.3}, 5);
    poison(bytes);
    auto e = ops::random_erasing(xc, boxes, 0.5);
    expect_no_nan(e, "erasing");
    EXPECT_TRUE(torch::equal(e.cpu(), ops::random_erasing(x, boxes, 0.5)));
    auto y = torch::rand({N, 10});
    auto [lam, cboxes, perm] = ops::mix_params(N, H, W, 0.4, 6);
    poison(bytes);
    auto [mx, my] = ops::mixup(xc, y.cuda(), perm, lam);
    expect_no_nan(mx, "mixup");
    auto [rx, ry] = ops::mixup(x, y, perm, lam);
    EXPECT_LT(maxdiff(mx, rx), 1e-6);
    EXPECT_LT(maxdiff(my, ry), 1e-6);
    poison(bytes);
    auto [cx, cy] = ops::cutmix(xc, y.cuda(), perm, cboxes);
    expect_no_nan(cx, "cutmix");
    auto [qx, qy] = ops::cutmix(x, y, perm, cboxes);
    EXPECT_TRUE(torch::equal(cx.cpu(), qx));
    EXPECT_LT(maxdiff(cy, qy), 1e-6);
  }
}

// The config pipeline (datasets::apply_augmentations, as the trainer runs it on the loader's device
// batch): the same step generator draws the same parameters on the host, so the CUDA result equals
// the CPU one up to the kernels' float32 tolerances (ImageParity_CUDA's 5e-5 after normalising;
// blur and erasing add at most 1e-5).
TEST(OpsAugment, ConfigPipelineOnDeviceMatchesCpu_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(3);
  const auto u8 = torch::randint(0, 256, {6, 40, 36, 3}, torch::kUInt8);
  const std::vector<std::string> pipeline = {"random_resized_crop_flip_jitter", "hflip", "random_grayscale",
                                             "gaussian_blur", "random_erasing"};
  auto g_cpu = at::make_generator<at::CPUGeneratorImpl>(11);
  auto g_gpu = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto cpu = smlab::datasets::apply_augmentations(pipeline, u8, g_cpu);
  poison(cpu.numel() * 4);
  const auto gpu = smlab::datasets::apply_augmentations(pipeline, u8.cuda(), g_gpu);
  ASSERT_TRUE(gpu.is_cuda());
  ASSERT_EQ(gpu.sizes(), cpu.sizes());
  expect_no_nan(gpu, "pipeline");
  EXPECT_LT(maxdiff(gpu, cpu), 1e-4);
  auto e_cpu = at::make_generator<at::CPUGeneratorImpl>(1), e_gpu = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_LT(maxdiff(smlab::datasets::apply_augmentations({"resize_center_crop"}, u8.cuda(), e_gpu),
                    smlab::datasets::apply_augmentations({"resize_center_crop"}, u8, e_cpu)),
            5e-5);
}

// The list op on the GPU (one batched kernel per distinct size) against the CPU list op.
TEST(OpsAugment, ImageListParity_CUDA) {
  SMLAB_REQUIRE_CUDA();
  torch::manual_seed(29);
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{40, 33}, {17, 64}, {40, 33}, {1, 1}, {90, 70}};
  std::vector<torch::Tensor> cpu, gpu;
  std::vector<int64_t> hs, ws;
  for (const auto& [h, w] : sizes) {
    cpu.push_back(torch::randint(0, 256, {h, w, 3}, torch::kUInt8));
    gpu.push_back(cpu.back().cuda());
    hs.push_back(h);
    ws.push_back(w);
  }
  const auto p = ops::augment_params_sizes(hs, ws, {0.08, 1.0}, {0.75, 4.0 / 3.0}, 0.5, 0.4, 0.4, 0.4, 0.1, 8);
  const auto ref = ops::augment_image_list(cpu, p, 32, 24, kMean, kStd);
  poison(ref.numel() * 4);
  const auto out = ops::augment_image_list(gpu, p, 32, 24, kMean, kStd);
  ASSERT_TRUE(out.is_cuda());
  expect_no_nan(out, "augment_image_list");
  EXPECT_LT(maxdiff(out, ref), 5e-5);  // ImageParity_CUDA's float32 bound
}
