// Runs smlab's attribution methods (analysis/explain.h) on smlab models built by name with weights
// imported from TorchScript files, for tests/python/test_explain_captum.py, which compares them
// with Captum's on the same weights, and for the axiom tests there.
//
// usage: smlab_explain_probe JOBS.json
//   JOBS.json  a list of jobs: {"model", "classes", "options": ["key=value"], "input_shape": [per
//              sample], "vocab_size", "weights": file.pt or "", "input": raw little-endian file,
//              "dtype": "float32"|"int64", "shape": [N, ...], "method", "layer", "steps", "rule",
//              "samples", "noise", "seed", "target": [per row] or "pred", "reinit": [module name
//              prefixes re-initialised with seeded N(0, std of the tensor)], "reinit_seed", "init_seed"
//              (seed of the model's own initialisation when "weights" is ""), "out": raw float32 file}
//   methods    gradients, input_x_gradient, integrated_gradients, smoothgrad, grad_cam, grad_cam_pp,
//              grad_cam_raw, layer_input_x_gradient, layer_integrated_gradients (all: zero baseline)
// Prints one JSON line per job: {"shape": [...], "outputs": [[...]], "baseline_outputs": [[...]],
// "layers": [...]} or {"error": "..."}; exit status 1 when a job failed.
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/explain.h"
#include "core/config.h"
#include "models/import.h"
#include "models/model.h"
#include "tools/register_all.h"

namespace ex = smlab::analysis::explain;
using nlohmann::json;

namespace {

torch::Tensor read_input(const json& job) {
  const auto shape = job.at("shape").get<std::vector<int64_t>>();
  const bool ids = job.value("dtype", "float32") == "int64";
  auto x = torch::empty(shape, ids ? torch::kLong : torch::kFloat);
  std::ifstream in(job.at("input").get<std::string>(), std::ios::binary);
  const auto bytes = static_cast<std::streamsize>(x.numel() * x.element_size());
  in.read(static_cast<char*>(x.data_ptr()), bytes);
  TORCH_CHECK(in.gcount() == bytes, "short read from ", job.at("input").get<std::string>());
  return x;
}

smlab::models::ModelPtr build(const json& job, const torch::Tensor& x) {
  const auto kind = smlab::models::input_kind(job.at("model").get<std::string>());
  std::vector<std::string> overrides{"model.name=" + job.at("model").get<std::string>()};
  for (const auto& o : job.value("options", std::vector<std::string>{})) overrides.push_back("model." + o);
  const auto cfg = smlab::config::load_string("version: 1\n", "explain_probe", overrides);
  auto info = smlab::models::example_info(kind, job.at("classes").get<int64_t>());
  info.input_shape = x.sizes().slice(1).vec();
  if (job.contains("vocab_size")) info.vocab_size = job["vocab_size"].get<int64_t>();
  auto net = smlab::models::build(cfg, info);
  const auto weights = job.value("weights", std::string());
  if (!weights.empty()) smlab::models::import_weights(*net, weights);
  net->eval();
  return net;
}

void reinit(smlab::models::Model& net, const std::vector<std::string>& prefixes, uint64_t seed) {
  torch::NoGradGuard g;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& item : net.named_parameters()) {
    const auto& name = item.key();
    auto& p = item.value();
    for (const auto& pre : prefixes) {
      if (name.rfind(pre + ".", 0) != 0) continue;
      const double sd = p.numel() > 1 ? p.std().item<double>() : 0.1;
      p.copy_(at::randn(p.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)) * (sd > 0 ? sd : 0.1));
    }
  }
}

torch::Tensor attribute(const json& job, const ex::Forward& f, const torch::Tensor& x, const torch::Tensor& t) {
  const auto m = job.at("method").get<std::string>();
  const auto layer = job.value("layer", std::string());
  const auto steps = job.value("steps", int64_t{64});
  const auto rule = ex::parse_rule(job.value("rule", std::string("gausslegendre")));
  const auto base = torch::zeros_like(x);
  if (m == "gradients") return ex::gradients(f, x, t);
  if (m == "input_x_gradient") return ex::input_x_gradient(f, x, t);
  if (m == "integrated_gradients") return ex::integrated_gradients(f, x, base, t, steps, rule);
  if (m == "smoothgrad")
    return ex::smoothgrad(f, x, t, job.value("samples", int64_t{25}), job.value("noise", 0.15),
                          job.value("seed", uint64_t{0}));
  if (m == "grad_cam") return ex::grad_cam(f, ex::pick_layer(f, x, layer, 3), x, t);
  if (m == "grad_cam_pp") return ex::grad_cam(f, ex::pick_layer(f, x, layer, 3), x, t, true);
  if (m == "grad_cam_raw") return ex::grad_cam_raw(f, ex::pick_layer(f, x, layer, 3), x, t);
  if (m == "layer_input_x_gradient") return ex::layer_input_x_gradient(f, layer, x, t);
  if (m == "layer_integrated_gradients") return ex::layer_integrated_gradients(f, layer, x, base, t, steps, rule);
  TORCH_CHECK(false, "unknown probe method ", m);
}

json rows(const torch::Tensor& y) {
  json j = json::array();
  auto c = y.to(torch::kDouble).contiguous();
  for (int64_t i = 0; i < c.size(0); ++i)
    j.push_back(std::vector<double>(c[i].data_ptr<double>(), c[i].data_ptr<double>() + c.size(1)));
  return j;
}

json run_job(const json& job) {
  const auto x = read_input(job);
  torch::manual_seed(job.value("init_seed", 0));  // the model's own initialisation when no weights are given
  auto net = build(job, x);
  if (job.contains("reinit")) reinit(*net, job["reinit"].get<std::vector<std::string>>(), job.value("reinit_seed", 1));
  ex::Forward f = [&net](const torch::Tensor& in) { return net->forward(in); };
  torch::Tensor y, yb;
  {
    torch::NoGradGuard g;
    y = f(x);
    yb = f(torch::zeros_like(x));
  }
  const auto& tj = job.at("target");
  const auto t = tj.is_string() ? ex::resolve_targets(y, tj.get<std::string>())
                                : torch::tensor(tj.get<std::vector<int64_t>>(), torch::kLong);
  const auto a = attribute(job, f, x, t).to(torch::kFloat).contiguous();
  std::ofstream out(job.at("out").get<std::string>(), std::ios::binary);
  out.write(reinterpret_cast<const char*>(a.data_ptr<float>()), static_cast<std::streamsize>(a.numel() * sizeof(float)));
  TORCH_CHECK(out.good(), "cannot write ", job.at("out").get<std::string>());
  json layers = json::array();
  for (const auto& l : ex::layers(f, x)) layers.push_back({{"name", l.name}, {"shape", l.shape}});
  const auto tc = t.to(torch::kLong).contiguous();
  const std::vector<int64_t> targets(tc.data_ptr<int64_t>(), tc.data_ptr<int64_t>() + tc.numel());
  return {{"shape", a.sizes().vec()}, {"outputs", rows(y)}, {"baseline_outputs", rows(yb)}, {"target", targets},
          {"layers", layers}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: smlab_explain_probe JOBS.json\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "smlab_explain_probe: cannot read " << argv[1] << "\n";
    return 2;
  }
  const auto jobs = json::parse(in);
  smlab::register_all();
  torch::manual_seed(0);
  int rc = 0;
  for (const auto& job : jobs) {
    try {
      std::cout << run_job(job).dump() << std::endl;
    } catch (const std::exception& e) {
      std::cout << json{{"error", e.what()}}.dump() << std::endl;
      rc = 1;
    }
  }
  return rc;
}
