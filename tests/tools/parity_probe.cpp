// Builds smlab models by name, imports weights from TorchScript files and runs one input
// through each in eval mode. Driven by tests/python/test_torchvision_parity.py and
// test_video_parity.py, which compare the logits with torchvision's.
//
// usage: smlab_parity_probe MODEL CLASSES INPUT.bin SHAPE OUT.bin [WEIGHTS.pt|-] [key=value ...]
//        smlab_parity_probe --batch JOBS.tsv
//   SHAPE      N,C,H,W for images or N,C,T,H,W for video clips
//   INPUT.bin  raw little-endian float32 of that shape
//   OUT.bin    receives the raw float32 logits [N, CLASSES]
//   WEIGHTS.pt TorchScript module to import strictly ("-" keeps the model's own initialisation)
//   key=value  model options (e.g. shortcut=B)
//   JOBS.tsv   one job per line, the same fields separated by tabs (one process for many models)
// Prints one JSON line per job: {"model": M, "param_count": P, "output_shape": [N, K]}, or
// {"model": M, "error": "..."} for a job that failed (exit status 1 then).
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "tools/register_all.h"
#include "models/import.h"
#include "models/model.h"

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) out.push_back(part);
  return out;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// Runs one job (fields as on the command line) and returns its JSON line.
std::string run_job(const std::vector<std::string>& a) {
  TORCH_CHECK(a.size() >= 5, "a job needs MODEL CLASSES INPUT.bin SHAPE OUT.bin, got ", a.size(), " fields");
  const std::string& model = a[0];
  const int64_t classes = std::stoll(a[1]);
  std::vector<int64_t> shape;
  for (const auto& d : split(a[3], ',')) shape.push_back(std::stoll(d));
  TORCH_CHECK(shape.size() == 4 || shape.size() == 5, "input shape must be N,C,H,W or N,C,T,H,W, got ", a[3]);
  std::vector<std::string> overrides{"model.name=" + model};
  for (size_t i = 6; i < a.size(); ++i) overrides.push_back("model." + a[i]);
  const auto cfg = smlab::config::load_string("version: 1\n", "parity_probe", overrides);

  smlab::datasets::DatasetInfo info;
  info.task = smlab::datasets::Task::Classification;
  info.num_classes = classes;
  info.input_shape.assign(shape.begin() + 1, shape.end());
  auto net = smlab::models::build(cfg, info);
  if (a.size() >= 6 && a[5] != "-") smlab::models::import_weights(*net, a[5]);
  net->eval();

  auto x = torch::empty(shape, torch::kFloat);
  {
    std::ifstream in(a[2], std::ios::binary);
    in.read(reinterpret_cast<char*>(x.data_ptr<float>()), static_cast<std::streamsize>(x.numel() * sizeof(float)));
    TORCH_CHECK(in.gcount() == static_cast<std::streamsize>(x.numel() * sizeof(float)), "short read from ", a[2]);
  }
  torch::Tensor y;
  {
    torch::NoGradGuard g;
    y = net->forward(x).contiguous();
  }
  {
    std::ofstream out(a[4], std::ios::binary);
    out.write(reinterpret_cast<const char*>(y.data_ptr<float>()), static_cast<std::streamsize>(y.numel() * sizeof(float)));
    TORCH_CHECK(out.good(), "cannot write ", a[4]);
  }
  std::ostringstream js;
  js << "{\"model\": \"" << json_escape(model) << "\", \"param_count\": " << smlab::models::parameter_count(*net)
     << ", \"output_shape\": [" << y.size(0) << ", " << y.size(1) << "]}";
  return js.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::string(argv[1]) != "--batch" && argc < 6)) {
    std::cerr << "usage: smlab_parity_probe MODEL CLASSES INPUT.bin N,C,H,W|N,C,T,H,W OUT.bin [WEIGHTS.pt|-] "
                 "[key=value ...]\n"
                 "       smlab_parity_probe --batch JOBS.tsv\n";
    return 2;
  }
  std::vector<std::vector<std::string>> jobs;
  if (std::string(argv[1]) == "--batch") {
    std::ifstream in(argv[2]);
    if (!in) {
      std::cerr << "smlab_parity_probe: cannot read " << argv[2] << "\n";
      return 2;
    }
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) jobs.push_back(split(line, '\t'));
    }
  } else {
    jobs.emplace_back(argv + 1, argv + argc);
  }
  smlab::register_all();
  int rc = 0;
  for (const auto& job : jobs) {
    try {
      std::cout << run_job(job) << std::endl;
    } catch (const std::exception& e) {
      std::cout << "{\"model\": \"" << json_escape(job.empty() ? "" : job[0]) << "\", \"error\": \""
                << json_escape(e.what()) << "\"}" << std::endl;
      rc = 1;
    }
  }
  return rc;
}
