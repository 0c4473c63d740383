// `smlab explain`: attributions for the inputs `smlab score` reads, from a run folder (the C++
// model: every method) or a TorchScript artifact (gradients through its forward: the input-space
// methods for images, clips and features; no layer methods, and no text, whose ids carry no
// gradient). Writes <output>/scores.json (every score), overlay_<n>.png per image or clip (a strip
// of frames) and tokens.html for text; on request faithfulness.json (deletion and insertion
// curves, analysis/faithfulness.h), box_mass.json (clips) and top_words.json / .csv (text).
//
//   ExplainOptions o{.model = "runs/cifar/latest", .input = "imgs/", .output = "expl"};
//   auto r = explain(o);   // r.json: what scores.json holds
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/explain_methods.h"
#include "analysis/faithfulness.h"

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
  int64_t batch_size = 0;  ///< rows per method call and per faithfulness forward (0 = all at once; 256 for curves)
  bool overlays = true;    ///< images and clips: overlay_<n>.png
  MethodParams params;
  /// Deletion and insertion curves against random rankings (analysis/faithfulness.h) into
  /// faithfulness.json: images, clips and texts of classification models.
  std::optional<faithfulness::FaithfulnessOptions> faithfulness;
  /// Explain the run's own dataset split (train, val or test) instead of --input: for runs whose
  /// inputs are float tensors (Moving-MNIST, generated data), which no input file maps to.
  std::string split;
  /// Clips: the share of each frame's |map| inside the object's box (analysis/faithfulness.h) into box_mass.json.
  bool box_mass = false;
  int64_t top_words = 0;   ///< text: the N most positive and negative words per class into top_words.json/.csv
  int64_t min_count = 5;   ///< text: occurrences a word needs for top_words
  /// "json": every item's scores in scores.json; "h5": the raw score tensor (with ids, targets and
  /// probabilities, and the token ids of texts) in scores.h5, for large batches; scores.json keeps the rest.
  std::string scores_format = "json";
};

struct ExplainResult {
  nlohmann::json json;  ///< scores.json
  std::vector<std::filesystem::path> files;
  std::string faithfulness;  ///< the one-line summary of faithfulness.json ("" without curves)
  std::string box_mass;      ///< the one-line summary of box_mass.json
};

ExplainResult explain(const ExplainOptions& o);

}  // namespace smlab::analysis::explain
