// Helpers shared by the scoring suites (test_score.cpp, test_score_extras.cpp).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/config.h"
#include "tools/register_all.h"
#include "inference/export.h"
#include "tools/cli/cli.h"
#include "inference/scorer.h"

namespace smlab::testing {

/// Exports a freshly initialised model of `name` for `info` to `file`; returns the C++ model.
inline models::ModelPtr export_to(const std::filesystem::path& file, const std::string& name,
                                  const datasets::DatasetInfo& info, std::vector<std::string> overrides = {}) {
  register_all();
  torch::manual_seed(4);
  overrides.insert(overrides.begin(), "model.name=" + name);
  const auto cfg = config::load_string("version: 1\n", "score.yaml", overrides);
  auto model = models::build(cfg, info);
  inference::save_artifact(inference::export_model(*model, cfg, info), file);
  model->eval();
  return model;
}

/// The lines of a text file.
inline std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::vector<std::string> out;
  std::istringstream in(read_file(p));
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

/// `smlab score ARGS --quiet` in-process; returns the exit status.
inline int run_score(std::vector<std::string> args) {
  args.insert(args.begin(), "score");
  args.push_back("--quiet");
  return cli::run(args);
}

/// smlab::inference::score on model -> input -> output, quietly (for calls expected to throw).
inline void score_quietly(const std::filesystem::path& model, const std::filesystem::path& input,
                          const std::filesystem::path& output, bool embeddings = false) {
  inference::ScoreOptions o;
  o.model = model;
  o.input = input;
  o.output = output;
  o.embeddings = embeddings;
  o.quiet = true;
  inference::score(o);
}

}  // namespace smlab::testing
