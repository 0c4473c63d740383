// Probe for tests/python/test_nmf_oracle.py: analysis::nmf and analysis::nndsvd on matrices
// given as CSV (no header), results as one JSON line.
//   smlab_nmf_probe fit X.csv W0.csv H0.csv SOLVER MAX_ITER [sparse]
//       -> {"objective": [...], "iterations": n, "w": [[..]], "h": [[..]]}
//   smlab_nmf_probe nndsvd X.csv K [a]   -> {"w": [[..]], "h": [[..]]}
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/nmf.h"

namespace {

torch::Tensor read_csv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<double>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<double> r;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) r.push_back(std::stod(cell));
    if (!r.empty()) rows.push_back(r);
  }
  auto t = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.at(0).size())}, torch::kDouble);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) t[i][j] = rows[i][j];
  return t;
}

nlohmann::json matrix(const torch::Tensor& t) {
  const auto c = t.to(torch::kDouble).cpu().contiguous();
  nlohmann::json out = nlohmann::json::array();
  for (int64_t i = 0; i < c.size(0); ++i) {
    std::vector<double> r(c[i].data_ptr<double>(), c[i].data_ptr<double>() + c.size(1));
    out.push_back(r);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "fit" && argc >= 7) {
      auto x = read_csv(argv[2]);
      if (argc > 7 && std::string(argv[7]) == "sparse") x = x.to_sparse();
      smlab::analysis::NmfOptions o;
      o.w0 = read_csv(argv[3]);
      o.h0 = read_csv(argv[4]);
      o.k = o.w0.size(1);
      o.solver = argv[5];
      o.max_iter = std::stoll(argv[6]);
      o.tol = 0;
      const auto r = smlab::analysis::nmf(x, o);
      std::cout << nlohmann::json{{"objective", r.objective}, {"iterations", r.iterations}, {"w", matrix(r.w)},
                                  {"h", matrix(r.h)}}.dump() << "\n";
      return 0;
    }
    if (mode == "nndsvd" && argc >= 4) {
      const auto [w, h] = smlab::analysis::nndsvd(read_csv(argv[2]), std::stoll(argv[3]), argc > 4);
      std::cout << nlohmann::json{{"w", matrix(w)}, {"h", matrix(h)}}.dump() << "\n";
      return 0;
    }
    std::cerr << "usage: smlab_nmf_probe fit X W0 H0 SOLVER MAX_ITER [sparse] | nndsvd X K [a]\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
