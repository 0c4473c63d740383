// The schema of every smlab op, declared once. Backends register in *_cpu.cpp / *_cuda.cu.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "cuda/ops.h"

namespace smlab::ops {

int ensure_registered() {
  // Referencing this function keeps this object file (and so the TORCH_LIBRARY block
  // below) in any link. The count lets `smlab info` report what is available.
  return 15;
}

at::Tensor normalize_u8(const at::Tensor& images_nhwc, const std::vector<double>& mean,
                        const std::vector<double>& std) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("smlab::normalize_u8", "")
                       .typed<at::Tensor(const at::Tensor&, c10::ArrayRef<double>, c10::ArrayRef<double>)>();
  return op.call(images_nhwc, mean, std);
}

namespace {
template <class Sig>
c10::TypedOperatorHandle<Sig> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}
}  // namespace

at::Tensor augment_image(const at::Tensor& images_nhwc, const at::Tensor& params, int64_t out_h, int64_t out_w,
                         const std::vector<double>& mean, const std::vector<double>& std, bool channels_last,
                         std::optional<at::ScalarType> dtype) {
  static auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, int64_t, c10::ArrayRef<double>,
                                      c10::ArrayRef<double>, bool, std::optional<at::ScalarType>)>("smlab::augment_image");
  return op.call(images_nhwc, params, out_h, out_w, mean, std, channels_last, dtype);
}

at::Tensor augment_image_list(const std::vector<at::Tensor>& images, const at::Tensor& params, int64_t out_h,
                              int64_t out_w, const std::vector<double>& mean, const std::vector<double>& std,
                              bool channels_last, std::optional<at::ScalarType> dtype) {
  static auto op = find_op<at::Tensor(at::TensorList, const at::Tensor&, int64_t, int64_t, c10::ArrayRef<double>,
                                      c10::ArrayRef<double>, bool, std::optional<at::ScalarType>)>(
      "smlab::augment_image_list");
  return op.call(images, params, out_h, out_w, mean, std, channels_last, dtype);
}
at::Tensor augment_eval(const at::Tensor& images_nhwc, int64_t resize, int64_t out_h, int64_t out_w,
                        const std::vector<double>& mean, const std::vector<double>& std, bool channels_last,
                        std::optional<at::ScalarType> dtype) {
  static auto op = find_op<at::Tensor(const at::Tensor&, int64_t, int64_t, int64_t, c10::ArrayRef<double>,
                                      c10::ArrayRef<double>, bool, std::optional<at::ScalarType>)>("smlab::augment_eval");
  return op.call(images_nhwc, resize, out_h, out_w, mean, std, channels_last, dtype);
}

at::Tensor augment_video(const at::Tensor& clips, const at::Tensor& params, int64_t out_t, int64_t out_h,
                         int64_t out_w, const std::vector<double>& mean, const std::vector<double>& std,
                         bool channels_last, std::optional<at::ScalarType> dtype) {
  static auto op =
      find_op<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, int64_t, int64_t, c10::ArrayRef<double>,
                         c10::ArrayRef<double>, bool, std::optional<at::ScalarType>)>("smlab::augment_video");
  return op.call(clips, params, out_t, out_h, out_w, mean, std, channels_last, dtype);
}

at::Tensor grayscale(const at::Tensor& images, int64_t num_output_channels) {
  static auto op = find_op<at::Tensor(const at::Tensor&, int64_t)>("smlab::grayscale");
  return op.call(images, num_output_channels);
}

at::Tensor gaussian_blur(const at::Tensor& images, const at::Tensor& sigma, int64_t kernel_size) {
  static auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>("smlab::gaussian_blur");
  return op.call(images, sigma, kernel_size);
}

at::Tensor random_erasing(const at::Tensor& images, const at::Tensor& boxes, double value) {
  static auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, double)>("smlab::random_erasing");
  return op.call(images, boxes, value);
}

std::tuple<at::Tensor, at::Tensor> mixup(const at::Tensor& images, const at::Tensor& targets, const at::Tensor& perm,
                                         const at::Tensor& lam) {
  static auto op = find_op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                              const at::Tensor&)>("smlab::mixup");
  return op.call(images, targets, perm, lam);
}

std::tuple<at::Tensor, at::Tensor> cutmix(const at::Tensor& images, const at::Tensor& targets, const at::Tensor& perm,
                                          const at::Tensor& boxes) {
  static auto op = find_op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                              const at::Tensor&)>("smlab::cutmix");
  return op.call(images, targets, perm, boxes);
}

}  // namespace smlab::ops

TORCH_LIBRARY(smlab, m) {
  m.def("normalize_u8(Tensor images_nhwc, float[] mean, float[] std) -> Tensor");
  // Augmentation (docs/augmentation.md). Parameter samplers run on the host (no tensor inputs):
  m.def("augment_params(int n, int height, int width, float[] scale, float[] ratio, float flip_p, float brightness, "
        "float contrast, float saturation, float hue, int seed) -> Tensor",
        &smlab::ops::augment_params);
  m.def("augment_params_sizes(int[] heights, int[] widths, float[] scale, float[] ratio, float flip_p, "
        "float brightness, float contrast, float saturation, float hue, int seed) -> Tensor",
        &smlab::ops::augment_params_sizes);
  m.def("video_params(int n, int frames, int out_t, int height, int width, float[] scale, float[] ratio, "
        "float flip_p, float brightness, float contrast, float saturation, float hue, int seed) -> Tensor",
        &smlab::ops::video_params);
  m.def("erasing_params(int n, int height, int width, float p, float[] scale, float[] ratio, int seed) -> Tensor",
        &smlab::ops::erasing_params);
  m.def("mix_params(int n, int height, int width, float alpha, int seed) -> (Tensor, Tensor, Tensor)",
        &smlab::ops::mix_params);
  // Kernels (CPU: augment_cpu.cpp, CUDA: augment_cuda.cu; augment_video is composite, augment_params.cpp):
  m.def("augment_image(Tensor images_nhwc, Tensor params, int out_h, int out_w, float[] mean, float[] std, "
        "bool channels_last=False, ScalarType? dtype=None) -> Tensor");
  m.def("augment_image_list(Tensor[] images, Tensor params, int out_h, int out_w, float[] mean, float[] std, "
        "bool channels_last=False, ScalarType? dtype=None) -> Tensor");
  m.def("augment_eval(Tensor images_nhwc, int resize, int out_h, int out_w, float[] mean, float[] std, "
        "bool channels_last=False, ScalarType? dtype=None) -> Tensor");
  m.def("augment_video(Tensor clips, Tensor params, int out_t, int out_h, int out_w, float[] mean, float[] std, "
        "bool channels_last=False, ScalarType? dtype=None) -> Tensor");
  m.def("grayscale(Tensor images, int num_output_channels=3) -> Tensor");
  m.def("gaussian_blur(Tensor images, Tensor sigma, int kernel_size) -> Tensor");
  m.def("random_erasing(Tensor images, Tensor boxes, float value=0.) -> Tensor");
  m.def("mixup(Tensor images, Tensor targets, Tensor perm, Tensor lam) -> (Tensor, Tensor)");
  m.def("cutmix(Tensor images, Tensor targets, Tensor perm, Tensor boxes) -> (Tensor, Tensor)");
}
