// Builds an smlab model by name, imports weights from a TorchScript file and runs one input
// through it in eval mode. Driven by tests/python/test_torchvision_parity.py, which compares
// the logits with torchvision's.
//
// usage: smlab_parity_probe MODEL CLASSES INPUT.bin N,C,H,W OUT.bin [WEIGHTS.pt] [key=value ...]
//   INPUT.bin  raw little-endian float32 of shape N,C,H,W
//   OUT.bin    receives the raw float32 logits [N, CLASSES]
//   WEIGHTS.pt TorchScript module to import strictly ("-" to keep the model's own init)
// Prints one JSON line: {"param_count": P, "output_shape": [N, K]}.
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/register_all.h"
#include "models/import.h"
#include "models/model.h"

namespace {

std::vector<int64_t> parse_shape(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) out.push_back(std::stoll(part));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: smlab_parity_probe MODEL CLASSES INPUT.bin N,C,H,W OUT.bin [WEIGHTS.pt|-] [key=value ...]\n";
    return 2;
  }
  try {
    smlab::register_all();
    const std::string model = argv[1];
    const int64_t classes = std::stoll(argv[2]);
    const auto shape = parse_shape(argv[4]);
    TORCH_CHECK(shape.size() == 4, "input shape must be N,C,H,W, got ", argv[4]);
    std::vector<std::string> overrides{"model.name=" + model};
    for (int i = 7; i < argc; ++i) overrides.push_back(std::string("model.") + argv[i]);
    const auto cfg = smlab::config::load_string("version: 1\n", "parity_probe", overrides);

    smlab::datasets::DatasetInfo info;
    info.task = smlab::datasets::Task::Classification;
    info.num_classes = classes;
    info.input_shape = {shape[1], shape[2], shape[3]};
    auto net = smlab::models::build(cfg, info);
    if (argc >= 7 && std::string(argv[6]) != "-") smlab::models::import_weights(*net, argv[6]);
    net->eval();

    auto x = torch::empty(shape, torch::kFloat);
    {
      std::ifstream in(argv[3], std::ios::binary);
      in.read(reinterpret_cast<char*>(x.data_ptr<float>()), static_cast<std::streamsize>(x.numel() * sizeof(float)));
      TORCH_CHECK(in.gcount() == static_cast<std::streamsize>(x.numel() * sizeof(float)), "short read from ", argv[3]);
    }
    torch::Tensor y;
    {
      torch::NoGradGuard g;
      y = net->forward(x).contiguous();
    }
    {
      std::ofstream out(argv[5], std::ios::binary);
      out.write(reinterpret_cast<const char*>(y.data_ptr<float>()), static_cast<std::streamsize>(y.numel() * sizeof(float)));
    }
    std::cout << "{\"param_count\": " << smlab::models::parameter_count(*net) << ", \"output_shape\": [" << y.size(0)
              << ", " << y.size(1) << "]}\n";
  } catch (const std::exception& e) {
    std::cerr << "smlab_parity_probe: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
