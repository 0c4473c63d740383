// Build and runtime facts reported by `smlab info` and recorded in every run folder.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace smlab {

struct BuildInfo {
  std::string smlab_version, git_commit, build_type, cxx_compiler;
  std::string libtorch_version;
  bool cuda_compiled = false;       ///< LibTorch was built with CUDA
  std::string cuda_version;         ///< CUDA runtime LibTorch was built against, e.g. "13.0"
  std::string cudnn_version;        ///< cuDNN LibTorch was built against, e.g. "9.19.0"
  bool kernels_compiled = false;    ///< smlab's own CUDA kernels were compiled in
  std::string kernel_archs;
  int gpu_count = 0;
  std::vector<std::string> gpu_names;
  int intraop_threads = 0;
};

BuildInfo build_info();
nlohmann::json to_json(const BuildInfo& info);

}  // namespace smlab
