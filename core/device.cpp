#include "core/device.h"

#include <torch/cuda.h>

#include "core/error.h"

namespace smlab {

c10::Device resolve_device(const std::string& spec) {
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (spec == "auto") return gpus > 0 ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (gpus == 0) {
      throw UserError("device '" + spec +
                      "' was requested but no CUDA GPU is present on this machine (torch::cuda::device_count() is 0). "
                      "Use experiment.device=cpu, or experiment.device=auto to pick a GPU only when there is one.");
    }
    const int index = spec == "cuda" ? 0 : std::stoi(spec.substr(5));
    if (index >= gpus) {
      throw UserError("device '" + spec + "' does not exist: this machine has " + std::to_string(gpus) +
                      " GPU(s), cuda:0 to cuda:" + std::to_string(gpus - 1));
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UserError("unknown device '" + spec + "' (allowed: auto, cpu, cuda, cuda:N)");
}

}  // namespace smlab
