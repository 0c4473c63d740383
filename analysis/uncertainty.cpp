#include "analysis/uncertainty.h"

#include <torch/torch.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text.h"
#include "datasets/csv.h"
#include "inference/uncertainty.h"

namespace smlab::analysis {

namespace {

torch::Tensor entropy(const torch::Tensor& p) {  // [..., C] -> [...]
  return inference::prediction_uncertainty(p, "entropy");
}

ScoredFile read_csv_scores(const std::filesystem::path& path, std::ifstream& in) {
  ScoredFile f;
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto head = datasets::split_csv_line(line, ',');
  std::vector<size_t> cols;
  for (size_t i = 0; i < head.size(); ++i)
    if (text::starts_with(head[i], "p_")) {
      cols.push_back(i);
      f.classes.push_back(head[i].substr(2));
    }
  if (head.empty() || head[0] != "id" || cols.empty())
    throw UserError(path.string() + ": no class probabilities (p_<class> columns) in the header; uncertainty needs "
                    "the scores of a classifier (`smlab score` CSV or JSONL)");
  std::vector<double> v;
  int64_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto row = datasets::split_csv_line(line, ',');
    if (row.size() < head.size()) throw UserError(path.string() + ": line " + std::to_string(lineno) + " has " +
                                                  std::to_string(row.size()) + " fields, the header " + std::to_string(head.size()));
    f.ids.push_back(row[0]);
    for (size_t c : cols) {
      try {
        v.push_back(std::stod(row[c]));
      } catch (const std::exception&) {
        throw UserError(path.string() + ": line " + std::to_string(lineno) + ": '" + row[c] + "' is not a probability");
      }
    }
  }
  f.probs = torch::tensor(v, torch::kDouble).view({static_cast<int64_t>(f.ids.size()), static_cast<int64_t>(cols.size())});
  return f;
}

ScoredFile read_jsonl_scores(const std::filesystem::path& path, std::ifstream& in) {
  ScoredFile f;
  std::vector<double> v;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      throw UserError(path.string() + ": line " + std::to_string(lineno) + " is not JSON");
    }
    if (!j.is_object() || !j.contains("probs") || !j["probs"].is_object())
      throw UserError(path.string() + ": line " + std::to_string(lineno) + " has no \"probs\" object; uncertainty needs "
                      "the scores of a classifier");
    if (f.classes.empty())
      for (const auto& [k, x] : j["probs"].items()) f.classes.push_back(k);
    for (const auto& c : f.classes) {
      if (!j["probs"].contains(c) || !j["probs"][c].is_number())
        throw UserError(path.string() + ": line " + std::to_string(lineno) + ": no probability of class '" + c + "'");
      v.push_back(j["probs"][c].get<double>());
    }
    f.ids.push_back(j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : std::to_string(lineno));
  }
  f.probs = torch::tensor(v, torch::kDouble).view({static_cast<int64_t>(f.ids.size()), static_cast<int64_t>(f.classes.size())});
  return f;
}

}  // namespace

const std::vector<std::string>& uncertainty_strategies() {
  static const std::vector<std::string> s = {"entropy", "margin", "least_confident", "variance", "mutual_information",
                                             "random"};
  return s;
}

torch::Tensor uncertainty(const torch::Tensor& probs, const std::string& strategy, uint64_t seed) {
  TORCH_CHECK(probs.dim() == 3, "uncertainty: probabilities must be [members, n, classes]");
  const auto p = probs.to(torch::kDouble);
  const auto mean = p.mean(0);  // [n, C]
  const auto& single = inference::prediction_uncertainty_names();
  if (std::find(single.begin(), single.end(), strategy) != single.end())
    return inference::prediction_uncertainty(mean, strategy);
  if (strategy == "variance" || strategy == "mutual_information") {
    if (p.size(0) < 2)
      throw UserError("--strategy " + strategy + " measures disagreement between ensemble members: give two or more "
                      "score files (one per member), got one");
    if (strategy == "variance") return p.var(0, /*unbiased=*/false).mean(1);
    return entropy(mean) - entropy(p).mean(0);
  }
  if (strategy == "random") {
    auto gen = at::detail::createCPUGenerator(seed);
    return at::rand({p.size(1)}, gen, torch::kDouble);
  }
  throw UserError("unknown --strategy '" + strategy + "'" + text::did_you_mean(strategy, uncertainty_strategies()) +
                  " (" + text::join(uncertainty_strategies(), ", ") + ")");
}

ScoredFile read_scored(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw UserError(path.string() + ": cannot open");
  auto f = text::lower(path.extension().string()) == ".jsonl" ? read_jsonl_scores(path, in) : read_csv_scores(path, in);
  if (f.ids.empty()) throw UserError(path.string() + ": no scored rows");
  return f;
}

}  // namespace smlab::analysis
