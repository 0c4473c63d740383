// Autograd for the float augmentation ops that are differentiable in their images (all are linear
// in them): grayscale, gaussian_blur, random_erasing, mixup and cutmix. Each forward runs the op's
// CPU or CUDA kernel below the autograd key; each backward is the exact adjoint, written with ATen
// ops so it runs on either device. The uint8 ops (augment_image, augment_eval, augment_video) and
// the host-side parameter samplers have no gradient. Checked by the dot-product (adjoint) test in
// tests/unit/test_ops_augment.cpp (OpsAugment.FloatOpsGradientsPassTheAdjointTest).
#include <torch/torch.h>
#include <torch/library.h>

#include "cuda/augment_common.h"
#include "cuda/ops.h"

namespace smlab::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Sum of the rows of `g` [N, ...] into the rows perm[n] of a zero tensor: the adjoint of x[perm].
at::Tensor scatter_rows(const at::Tensor& g, const at::Tensor& perm) {
  return at::zeros_like(g).index_add_(0, perm.to(g.device(), at::kLong), g);
}

class GrayscaleFn : public torch::autograd::Function<GrayscaleFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& images, int64_t channels) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return grayscale(images, channels);
  }
  static variable_list backward(AutogradContext*, variable_list grads) {
    // out[k] = 0.2989 R + 0.587 G + 0.114 B for every output channel k
    const at::Tensor g = grads[0].sum(1, /*keepdim=*/true);
    const at::Tensor w = at::tensor({0.2989f, 0.587f, 0.114f}, g.options()).view({1, 3, 1, 1});
    return {g * w, at::Tensor()};
  }
};

/// Reflect-padded separable blur in ATen ops (the same arithmetic as the kernels, any image size):
/// differentiated in backward to give the exact adjoint.
at::Tensor blur_reference(const at::Tensor& x, const at::Tensor& weights, int64_t k) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), r = k / 2;
  auto reflected = [&](int64_t L) {
    std::vector<int64_t> idx;
    for (int64_t i = -r; i < L + r; ++i) idx.push_back(detail::reflect_index(static_cast<int32_t>(i), static_cast<int32_t>(L)));
    return at::tensor(idx, at::TensorOptions().dtype(at::kLong)).to(x.device());
  };
  const at::Tensor xp = x.index_select(2, reflected(H)).index_select(3, reflected(W)).reshape({1, N * C, H + 2 * r, W + 2 * r});
  const at::Tensor w = weights.to(x.device(), x.scalar_type()).repeat_interleave(C, 0);  // [N*C, k]
  namespace F = torch::nn::functional;
  const at::Tensor v = F::conv2d(xp, w.view({N * C, 1, k, 1}), F::Conv2dFuncOptions().groups(N * C));
  return F::conv2d(v, w.view({N * C, 1, 1, k}), F::Conv2dFuncOptions().groups(N * C)).view({N, C, H, W});
}

class GaussianBlurFn : public torch::autograd::Function<GaussianBlurFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& images, const at::Tensor& sigma,
                            int64_t kernel_size) {
    ctx->save_for_backward({sigma});
    ctx->saved_data["k"] = kernel_size;
    ctx->saved_data["shape"] = images.sizes().vec();
    at::AutoDispatchBelowADInplaceOrView guard;
    return gaussian_blur(images, sigma, kernel_size);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor sigma = ctx->get_saved_variables()[0];
    const int64_t k = ctx->saved_data["k"].toInt();
    const auto g = grads[0];
    at::Tensor x = at::zeros(ctx->saved_data["shape"].toIntVector(), g.options()).requires_grad_(true);
    at::Tensor y;
    {
      torch::AutoGradMode on(true);
      y = blur_reference(x, detail::gaussian_weights(sigma, k), k);
    }
    return {torch::autograd::grad({y}, {x}, {g})[0], at::Tensor(), at::Tensor()};
  }
};

class RandomErasingFn : public torch::autograd::Function<RandomErasingFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& images, const at::Tensor& boxes, double value) {
    ctx->save_for_backward({boxes});
    at::AutoDispatchBelowADInplaceOrView guard;
    return random_erasing(images, boxes, value);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // d out / d x is 1 outside the box and 0 inside: erase the gradient with the same boxes.
    const at::Tensor boxes = ctx->get_saved_variables()[0];
    return {random_erasing(grads[0].contiguous(), boxes, 0.0), at::Tensor(), at::Tensor()};
  }
};

class MixupFn : public torch::autograd::Function<MixupFn> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& images, const at::Tensor& targets,
                               const at::Tensor& perm, const at::Tensor& lam) {
    ctx->save_for_backward({perm, lam});
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [x, y] = mixup(images, targets, perm, lam);
    return {x, y};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // x'[n] = lam[n] x[n] + (1 - lam[n]) x[perm[n]], and the same for float targets
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& perm = saved[0];
    auto adjoint = [&](const at::Tensor& g) -> at::Tensor {
      if (!g.defined()) return {};
      std::vector<int64_t> shape(g.dim(), 1);
      shape[0] = g.size(0);
      const at::Tensor l = saved[1].to(g.device(), g.scalar_type()).view(shape);
      return l * g + scatter_rows((1 - l) * g, perm);
    };
    return {adjoint(grads[0]), adjoint(grads[1]), at::Tensor(), at::Tensor()};
  }
};

class CutmixFn : public torch::autograd::Function<CutmixFn> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& images, const at::Tensor& targets,
                               const at::Tensor& perm, const at::Tensor& boxes) {
    const at::Tensor clipped = detail::clip_boxes(boxes, images.size(2), images.size(3));
    ctx->save_for_backward({perm, clipped, detail::cutmix_lambda(clipped, images.size(2), images.size(3))});
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [x, y] = cutmix(images, targets, perm, boxes);
    return {x, y};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // x'[n] = x[perm[n]] inside box n, x[n] outside: outside(g) stays, inside(g) goes to the rows perm[n].
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &perm = saved[0], &clipped = saved[1];
    at::Tensor gx;
    if (grads[0].defined()) {
      const at::Tensor g = grads[0].contiguous();
      const at::Tensor outside = random_erasing(g, clipped, 0.0);
      gx = outside + scatter_rows(g - outside, perm);
    }
    at::Tensor gy;
    if (grads[1].defined()) {  // targets mix with lam = 1 - box area / image area
      std::vector<int64_t> shape(grads[1].dim(), 1);
      shape[0] = grads[1].size(0);
      const at::Tensor l = saved[2].to(grads[1].device(), grads[1].scalar_type()).view(shape);
      gy = l * grads[1] + scatter_rows((1 - l) * grads[1], perm);
    }
    return {gx, gy, at::Tensor(), at::Tensor()};
  }
};

at::Tensor grayscale_autograd(const at::Tensor& images, int64_t channels) { return GrayscaleFn::apply(images, channels); }
at::Tensor gaussian_blur_autograd(const at::Tensor& images, const at::Tensor& sigma, int64_t k) {
  return GaussianBlurFn::apply(images, sigma, k);
}
at::Tensor random_erasing_autograd(const at::Tensor& images, const at::Tensor& boxes, double value) {
  return RandomErasingFn::apply(images, boxes, value);
}
std::tuple<at::Tensor, at::Tensor> mixup_autograd(const at::Tensor& images, const at::Tensor& targets,
                                                  const at::Tensor& perm, const at::Tensor& lam) {
  auto out = MixupFn::apply(images, targets, perm, lam);
  return {out[0], out[1]};
}
std::tuple<at::Tensor, at::Tensor> cutmix_autograd(const at::Tensor& images, const at::Tensor& targets,
                                                   const at::Tensor& perm, const at::Tensor& boxes) {
  auto out = CutmixFn::apply(images, targets, perm, boxes);
  return {out[0], out[1]};
}

}  // namespace
}  // namespace smlab::ops

TORCH_LIBRARY_IMPL(smlab, Autograd, m) {
  m.impl("grayscale", &smlab::ops::grayscale_autograd);
  m.impl("gaussian_blur", &smlab::ops::gaussian_blur_autograd);
  m.impl("random_erasing", &smlab::ops::random_erasing_autograd);
  m.impl("mixup", &smlab::ops::mixup_autograd);
  m.impl("cutmix", &smlab::ops::cutmix_autograd);
}
