// The schema of every smlab op, declared once. Backends register in *_cpu.cpp / *_cuda.cu.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "cuda/ops.h"

namespace smlab::ops {

int ensure_registered() {
  // Referencing this function keeps this object file (and so the TORCH_LIBRARY block
  // below) in any link. The count lets `smlab info` report what is available.
  return 1;
}

at::Tensor normalize_u8(const at::Tensor& images_nhwc, const std::vector<double>& mean,
                        const std::vector<double>& std) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("smlab::normalize_u8", "")
                       .typed<at::Tensor(const at::Tensor&, c10::ArrayRef<double>, c10::ArrayRef<double>)>();
  return op.call(images_nhwc, mean, std);
}

}  // namespace smlab::ops

TORCH_LIBRARY(smlab, m) {
  m.def("normalize_u8(Tensor images_nhwc, float[] mean, float[] std) -> Tensor");
}
