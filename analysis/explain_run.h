// `smlab explain`: attributions for the inputs `smlab score` reads, from a run folder (the C++
// model: every method) or a TorchScript artifact (gradients through its forward: the input-space
// methods for images, clips and features; no layer methods, and no text, whose ids carry no
// gradient). Writes <output>/scores.json (every score), overlay_<n>.png per image or clip (a strip
// of frames) and tokens.html for text.
//
//   ExplainOptions o{.model = "runs/cifar/latest", .input = "imgs/", .output = "expl"};
//   auto r = explain(o);   // r.json: what scores.json holds
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/explain_methods.h"

namespace smlab::analysis::explain {

struct ExplainOptions {
  std::filesystem::path model;   ///< run folder or artifact (.pt)
  std::filesystem::path input;   ///< what `smlab score` reads (images, list, tsv, csv, jsonl, hdf5)
  std::filesystem::path output;  ///< folder
  std::string method;            ///< "" = default_method(kind)
  std::string target = "pred";   ///< pred or an output index
  std::string input_format = "auto";
  std::string id_field = "id", text_field = "text";
  std::string checkpoint = "best";  ///< run folders: best or last
  std::string device = "cpu";
  int64_t limit = 16;  ///< inputs explained (the first ones)
  MethodParams params;
};

struct ExplainResult {
  nlohmann::json json;  ///< scores.json
  std::vector<std::filesystem::path> files;
};

ExplainResult explain(const ExplainOptions& o);

}  // namespace smlab::analysis::explain
