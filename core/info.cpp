#include "core/info.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "smlab/build_info.h"

#ifdef SMLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace smlab {
namespace {

std::string dotted_version(long v, long major_div, long minor_div) {
  if (v <= 0) return "";
  return std::to_string(v / major_div) + "." + std::to_string((v % major_div) / minor_div) +
         (minor_div > 1 ? "." + std::to_string(v % minor_div) : "");
}

}  // namespace

BuildInfo build_info() {
  BuildInfo b;
  b.smlab_version = SMLAB_VERSION;
  b.git_commit = SMLAB_GIT_COMMIT;
  b.build_type = SMLAB_BUILD_TYPE;
  b.cxx_compiler = SMLAB_CXX_COMPILER;
  b.libtorch_version = TORCH_VERSION;
  const auto& hooks = at::detail::getCUDAHooks();
  b.cuda_compiled = hooks.hasCUDART();
  if (b.cuda_compiled) {
    const long rt = hooks.versionCUDART();  // e.g. 13000
    b.cuda_version = std::to_string(rt / 1000) + "." + std::to_string((rt % 1000) / 10);
    b.cudnn_version = dotted_version(hooks.versionCuDNN(), 10000, 100);  // 91900 -> 9.19.0
  }
#ifdef SMLAB_WITH_CUDA
  b.kernels_compiled = true;
  b.kernel_archs = SMLAB_CUDA_ARCHS;
#endif
  b.gpu_count = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < b.gpu_count; ++i) {
#ifdef SMLAB_WITH_CUDA
    const auto* prop = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(i));
    b.gpu_names.push_back(std::string(prop->name) + " (sm_" + std::to_string(prop->major) +
                          std::to_string(prop->minor) + ", " +
                          std::to_string(prop->totalGlobalMem >> 30) + " GiB)");
#else
    b.gpu_names.push_back("cuda:" + std::to_string(i));
#endif
  }
  b.intraop_threads = at::get_num_threads();
  return b;
}

nlohmann::json to_json(const BuildInfo& b) {
  return {{"smlab", b.smlab_version},   {"git_commit", b.git_commit},     {"build_type", b.build_type},
          {"compiler", b.cxx_compiler}, {"libtorch", b.libtorch_version}, {"cuda", b.cuda_version},
          {"cudnn", b.cudnn_version},   {"smlab_cuda_kernels", b.kernels_compiled},
          {"cuda_archs", b.kernel_archs}, {"gpu_count", b.gpu_count},     {"gpus", b.gpu_names},
          {"intraop_threads", b.intraop_threads}};
}

}  // namespace smlab
