// Exports smlab models to TorchScript artifacts for tests/python/test_export_python.py, which
// loads them with Python's torch.jit.load and compares their outputs with the C++ model's.
//
// usage: smlab_export_probe OUTDIR [MODEL ...]
//   Without models: every registered model with at most 30M parameters at its example input
//   (models::example_info; image and video models take uint8 pixels, so the normalisation
//   inside the graph is covered too).
// For each model writes OUTDIR/MODEL.pt, MODEL.input.bin (the raw input bytes) and
// MODEL.output.bin (the C++ model's float32 output), and prints one JSON line:
//   {"model", "artifact", "input_dtype", "input_shape", "output_shape", "param_count"}
// or {"model", "skipped": reason}.
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "tools/register_all.h"
#include "inference/export.h"
#include "models/model.h"

namespace {

void write_raw(const std::filesystem::path& p, const torch::Tensor& t) {
  auto c = t.contiguous();
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: smlab_export_probe OUTDIR [MODEL ...]\n";
    return 2;
  }
  smlab::register_all();
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  std::vector<std::string> names(argv + 2, argv + argc);
  const bool all = names.empty();
  if (all) names = smlab::models::registry().names();
  int failures = 0;
  for (const auto& name : names) {
    nlohmann::json line{{"model", name}};
    try {
      torch::manual_seed(3);
      const auto kind = smlab::models::input_kind(name);
      auto info = smlab::models::example_info(kind, 5);
      info.pixels = kind == smlab::models::InputKind::Image || kind == smlab::models::InputKind::Video;
      const auto cfg = smlab::config::load_string("version: 1\n", "probe.yaml", {"model.name=" + name});
      auto model = smlab::models::build(cfg, info);
      const int64_t params = smlab::models::parameter_count(*model);
      if (all && params > 30'000'000) {
        line["skipped"] = "over 30M parameters (" + std::to_string(params) + "); covered by the C++ export test";
        std::cout << line.dump() << std::endl;
        continue;
      }
      auto artifact = smlab::inference::export_model(*model, cfg, info);
      const auto file = out / (name + ".pt");
      smlab::inference::save_artifact(artifact, file);
      const auto x = smlab::inference::example_raw_input(artifact.spec.input, 3);
      torch::NoGradGuard ng;
      // The C++ model's output, computed without the artifact (pixels scaled and normalised here).
      torch::Tensor y;
      if (x.scalar_type() == torch::kUInt8) {
        const auto& pre = *artifact.spec.input.pixels;
        const bool video = x.dim() == 5;
        auto f = (video ? x.permute({0, 4, 1, 2, 3}) : x.permute({0, 3, 1, 2})).to(torch::kFloat) / 255.0;
        if (!pre.mean.empty()) {
          std::vector<int64_t> shape(f.dim(), 1);
          shape[1] = f.size(1);
          f = (f - torch::tensor(pre.mean, torch::kFloat).view(shape)) / torch::tensor(pre.std, torch::kFloat).view(shape);
        }
        y = model->forward(f);
      } else {
        y = model->forward(x);
      }
      write_raw(out / (name + ".input.bin"), x);
      write_raw(out / (name + ".output.bin"), y.to(torch::kFloat));
      line["artifact"] = file.string();
      line["input_dtype"] = std::string(c10::toString(x.scalar_type()));
      line["input_shape"] = x.sizes().vec();
      line["output_shape"] = y.sizes().vec();
      line["param_count"] = params;
    } catch (const std::exception& e) {
      line["error"] = std::string(e.what()).substr(0, 500);
      ++failures;
    }
    std::cout << line.dump() << std::endl;
  }
  return failures ? 1 : 0;
}
