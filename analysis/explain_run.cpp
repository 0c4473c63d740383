#include "analysis/explain_run.h"

#include <algorithm>
#include <map>
#include <memory>

#include "analysis/explain_render.h"
#include "analysis/explain_words.h"
#include "core/atomic_file.h"
#include "core/device.h"
#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/tokenizer.h"
#include "inference/export.h"
#include "inference/open_run.h"
#include "inference/preprocess.h"
#include "inference/readers.h"
#include "inference/writers.h"

namespace smlab::analysis::explain {
namespace {

namespace fs = std::filesystem;
using models::InputKind;

/// The model behind a run folder or an artifact, as a differentiable forward over the explained
/// input (float pixels NC(T)HW in [0, 255] for images and clips), with the artifact contract
/// that says how to read inputs.
struct Loaded {
  Forward forward;
  inference::ArtifactSpec spec;
  std::map<std::string, std::string> files;
  bool is_run = false;
  std::shared_ptr<void> keep;  ///< the model (or artifact) the forward uses
  const config::Config* cfg = nullptr;  ///< run folders: the run's config (kept alive by `keep`)
};

bool pixel_kind(InputKind k) { return k == InputKind::Image || k == InputKind::Video; }

/// NC(T)HW float pixels -> the layout the artifact graph takes (NHWC / NTHWC; the graph casts
/// to float and normalises, so a float input carries gradients).
torch::Tensor to_channels_last_pixels(const torch::Tensor& x) {
  return x.dim() == 5 ? x.permute({0, 2, 3, 4, 1}) : x.permute({0, 2, 3, 1});
}

Loaded load_run(const fs::path& dir, const ExplainOptions& o, c10::Device device) {
  auto r = std::make_shared<inference::OpenedRun>(
      inference::open_run(dir, inference::parse_checkpoint(o.checkpoint), torch::kCPU));
  // The artifact contract of this run (preprocessing, classes, tokenizer), as `smlab export` makes it.
  auto a = inference::export_model(*r->model, r->cfg, r->info);
  r->model->to(device);
  r->model->eval();
  Loaded l{{}, a.spec, a.files, true, r, &r->cfg};
  auto* model = r->model.get();
  if (a.spec.input.pixels) {
    const auto& p = *a.spec.input.pixels;
    const int64_t c = r->info.input_shape.at(0);
    std::vector<int64_t> shape(r->info.input_shape.size() + 1, 1);
    shape[1] = c;
    auto mean = p.mean.empty() ? torch::zeros({c}) : torch::tensor(p.mean, torch::kFloat);
    auto stdv = p.std.empty() ? torch::ones({c}) : torch::tensor(p.std, torch::kFloat);
    const auto scale = (p.scale / stdv).view(shape).to(device), shift = (-mean / stdv).view(shape).to(device);
    l.forward = [model, scale, shift](const torch::Tensor& x) { return model->forward(x * scale + shift); };
  } else {
    l.forward = [model](const torch::Tensor& x) { return model->forward(x); };
  }
  return l;
}

Loaded load_artifact_file(const fs::path& path, c10::Device device) {
  auto a = std::make_shared<inference::Artifact>(inference::load_artifact(path, device));
  Loaded l{{}, a->spec, a->files, false, a, nullptr};
  auto* art = a.get();
  if (a->spec.input.pixels) {
    l.forward = [art](const torch::Tensor& x) { return art->forward(to_channels_last_pixels(x)); };
  } else {
    l.forward = [art](const torch::Tensor& x) { return art->forward(x); };
  }
  return l;
}

/// The prepared inputs of the first `limit` records, as the forward takes them.
struct Batch {
  std::vector<std::string> ids;
  torch::Tensor raw;  ///< as prepared: uint8 NHWC / NTHWC pixels, int64 ids, float features
  torch::Tensor x;    ///< the forward's input
  std::vector<std::pair<std::string, std::string>> rejects;
};

Batch read_batch(const ExplainOptions& o, const Loaded& l, c10::Device device) {
  const auto& spec = l.spec.input;
  if (spec.kind == InputKind::Series)
    throw UserError("explain reads series windows from the run's data only through the library "
                    "(analysis/explain.h); the CLI takes images, clips, texts and tabular rows");
  if ((spec.kind == InputKind::Image || spec.kind == InputKind::Video) && !spec.pixels)
    throw UserError(o.model.string() + ": its " + models::input_kind_name(spec.kind) +
                    " inputs are float tensors, not pixels (generated or Moving-MNIST data), which no input file "
                    "maps to yet; explain the run's own data with --split test (or train, val)");
  const auto fmt = inference::detect_input_format(o.input, o.input_format);
  auto in = inference::read_input(inference::ReadOptions{o.input, o.id_field, o.text_field}, fmt, spec, o.model);
  if (static_cast<int64_t>(in.records.size()) > o.limit) in.records.resize(o.limit);
  auto prep = inference::make_preprocessor(spec, l.files, o.model, 1);
  const auto p = (*prep)(in.records, in.pixels);
  Batch b;
  for (const auto& [pos, why] : p.bad) b.rejects.emplace_back(in.records[pos].id, why);
  if (p.ok.empty()) throw UserError("no input of " + o.input.string() + " could be read for explaining");
  for (auto i : p.ok) b.ids.push_back(in.records[i].id);
  b.raw = p.inputs;
  if (spec.pixels) {
    b.x = (b.raw.dim() == 5 ? b.raw.permute({0, 4, 1, 2, 3}) : b.raw.permute({0, 3, 1, 2})).to(torch::kFloat);
  } else {
    b.x = b.raw;
  }
  b.x = b.x.contiguous().to(device);
  return b;
}

datasets::Split parse_split(const std::string& s) {
  if (s == "train") return datasets::Split::Train;
  if (s == "val") return datasets::Split::Val;
  if (s == "test") return datasets::Split::Test;
  throw UserError("--split must be train, val or test, got '" + s + "'");
}

/// The first `limit` examples of the run's own dataset split, for runs whose inputs are float
/// tensors; `raw` holds them min-max scaled to uint8 NHWC / NTHWC for the overlays.
Batch read_split(const ExplainOptions& o, const Loaded& l, c10::Device device) {
  if (!l.cfg) throw UserError("--split needs a run folder: the artifact " + o.model.string() + " keeps no dataset");
  if (l.spec.input.pixels)
    throw UserError("--split reads runs whose inputs are float tensors; " + o.model.string() +
                    " takes pixels: pass them with --input");
  const auto data = datasets::build(*l.cfg, parse_split(o.split));
  const int64_t n = std::min(o.limit, data->size());
  if (n == 0) throw UserError("the " + o.split + " split of " + o.model.string() + " is empty");
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  const auto x = data->get(idx).input.to(torch::kFloat);
  Batch b;
  for (int64_t i = 0; i < n; ++i) b.ids.push_back(o.split + "/" + std::to_string(i));
  const auto lo = x.min(), hi = x.max();
  auto px = ((x - lo) / (hi - lo).clamp_min(1e-12) * 255.0).round().to(torch::kByte);
  if (px.dim() == 5) b.raw = px.permute({0, 2, 3, 4, 1}).contiguous();
  else if (px.dim() == 4) b.raw = px.permute({0, 2, 3, 1}).contiguous();
  else b.raw = px;
  b.x = x.contiguous().to(device);
  return b;
}

/// A [H, W] or [T, H, W] map (float32 values) as nested JSON arrays.
nlohmann::json tensor_json(const torch::Tensor& t) {
  if (t.dim() == 0) return t.item<double>();
  if (t.dim() == 1) {
    auto c = t.to(torch::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
  auto j = nlohmann::json::array();
  for (int64_t i = 0; i < t.size(0); ++i) j.push_back(tensor_json(t[i]));
  return j;
}

std::string class_name(const inference::OutputSpec& out, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(out.classes.size()) ? out.classes[k] : std::to_string(k);
}

std::string item_title(const ExplainOptions& o, const Attribution& a) {
  return o.model.filename().string() + ", " + o.method + (a.layer.empty() ? "" : " at " + a.layer);
}

/// tokens.html and each item's pieces and words in the JSON; returns each row's words.
std::vector<WordRow> write_tokens(const ExplainOptions& o, const Loaded& l, const Batch& b, const Attribution& a,
                                  nlohmann::json& items, ExplainResult& r) {
  std::shared_ptr<const datasets::Tokenizer> tok;
  const auto& name = l.spec.input.tokens ? l.spec.input.tokens->tokenizer : std::string();
  if (!name.empty() && l.files.count(name)) tok = datasets::Tokenizer::from_bytes(l.files.at(name), name);
  std::vector<HighlightRow> rows;
  std::vector<WordRow> word_rows;
  for (size_t i = 0; i < b.ids.size(); ++i) {
    std::vector<std::string> pieces;
    std::vector<double> scores;
    std::vector<int64_t> real;
    auto ids = b.raw[i].to(torch::kCPU);
    for (int64_t j = 0; j < ids.size(0); ++j) {
      const int64_t id = ids[j].item<int64_t>();
      if (id == 0) continue;  // padding
      real.push_back(id);
      pieces.push_back(tok ? tok->piece(static_cast<int>(id)) : "#" + std::to_string(id));
      scores.push_back(a.scores[i][j].item<double>());
    }
    const auto words = words_from_pieces(pieces, scores);
    auto& item = items[i];
    item["pieces"] = nlohmann::json::array();
    for (size_t k = 0; k < pieces.size(); ++k) item["pieces"].push_back({{"piece", pieces[k]}, {"score", scores[k]}});
    item["ids"] = real;
    item["words"] = nlohmann::json::array();
    for (const auto& [w, s] : words) item["words"].push_back({{"word", w}, {"score", s}});
    rows.push_back({b.ids[i], "target " + item["target_name"].get<std::string>(), words});
    word_rows.push_back({item["target_name"].get<std::string>(), words});
  }
  const auto path = o.output / "tokens.html";
  write_file_atomic(path, highlight_html("smlab explain: " + item_title(o, a), rows));
  r.files.push_back(path);
  return word_rows;
}

}  // namespace

namespace {

/// overlay_<n>.png per image or clip.
void write_maps(const ExplainOptions& o, const Batch& b, const Attribution& a, ExplainResult& r) {
  if (!o.overlays || !can_write_png()) return;
  for (size_t i = 0; i < b.ids.size(); ++i) {
    const auto path = o.output / ("overlay_" + std::to_string(i) + ".png");
    write_overlay_png(path, b.raw[i], a.scores[i]);
    r.files.push_back(path);
  }
}

/// Outputs [B, K] of the forward without gradients, `batch_size` rows at a time (0 = all).
torch::Tensor outputs_of(const Forward& f, const torch::Tensor& x, int64_t batch_size) {
  torch::NoGradGuard g;
  const int64_t bs = batch_size > 0 ? batch_size : x.size(0);
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += bs)
    parts.push_back(f(x.narrow(0, i, std::min(bs, x.size(0) - i))).to(torch::kCPU, torch::kFloat));
  return torch::cat(parts);
}

/// run_method over `batch_size` rows at a time (0 = all at once; SmoothGrad's noise is then drawn per chunk).
Attribution run_chunked(const std::string& method, const Subject& s, const torch::Tensor& target,
                        const MethodParams& p, int64_t batch_size) {
  if (batch_size <= 0 || batch_size >= s.x.size(0)) return run_method(method, s, target, p);
  std::vector<torch::Tensor> parts;
  Attribution a;
  for (int64_t i = 0; i < s.x.size(0); i += batch_size) {
    const int64_t m = std::min(batch_size, s.x.size(0) - i);
    Subject c = s;
    c.x = s.x.narrow(0, i, m);
    a = run_method(method, c, target.narrow(0, i, m), p);
    parts.push_back(a.scores);
  }
  a.scores = torch::cat(parts);
  return a;
}

/// The curves and top words need a fitting run: checked before any attribution is computed.
void check_extras(const ExplainOptions& o, const Loaded& l) {
  const auto kind = l.spec.input.kind;
  if (o.faithfulness) {
    if (kind != InputKind::Image && kind != InputKind::Video && kind != InputKind::Tokens)
      throw UserError("--faithfulness needs a model of images, clips or texts, whose scores form a map over the "
                      "input; " + o.model.string() + " takes " + models::input_kind_name(kind));
    if (!l.spec.output.classification())
      throw UserError("--faithfulness follows a class probability; " + o.model.string() + " is not a classifier");
  }
  if (o.box_mass && kind != InputKind::Video)
    throw UserError("--box-mass needs a model of clips; " + o.model.string() + " takes " + models::input_kind_name(kind));
  if (o.top_words > 0 && kind != InputKind::Tokens)
    throw UserError("--top-words needs a text model; " + o.model.string() + " takes " + models::input_kind_name(kind));
}

/// faithfulness.json and top_words.json / .csv, when asked for.
void write_extras(const ExplainOptions& o, const Loaded& l, const Batch& b, const Attribution& a,
                  const torch::Tensor& target, const std::vector<WordRow>& words, ExplainResult& r) {
  if (o.faithfulness) {
    auto fo = *o.faithfulness;
    if (o.batch_size > 0) fo.batch_size = o.batch_size;
    const auto f = faithfulness::evaluate(l.forward, b.x, a.scores, target, l.spec.input.kind, fo);
    auto j = faithfulness::to_json(f, b.ids, target, o.method + (a.layer.empty() ? "" : " at " + a.layer));
    j["model"] = o.model.string();
    r.faithfulness = faithfulness::summary_line(j);
    const auto path = o.output / "faithfulness.json";
    write_file_atomic(path, j.dump(1) + "\n");
    r.files.push_back(path);
  }
  if (o.box_mass) {
    const auto boxes = faithfulness::object_boxes(b.x);
    auto j = faithfulness::box_mass_json(faithfulness::mass_inside(a.scores, boxes), boxes, b.ids,
                                         o.method + (a.layer.empty() ? "" : " at " + a.layer));
    j["model"] = o.model.string();
    r.box_mass = faithfulness::box_mass_line(j);
    const auto path = o.output / "box_mass.json";
    write_file_atomic(path, j.dump(1) + "\n");
    r.files.push_back(path);
  }
  if (o.top_words > 0) {
    const auto t = top_words(words, o.top_words, o.min_count);
    const auto json = o.output / "top_words.json", csv = o.output / "top_words.csv";
    write_file_atomic(json, top_words_json(t, o.min_count).dump(1) + "\n");
    write_file_atomic(csv, top_words_csv(t));
    r.files.push_back(json);
    r.files.push_back(csv);
  }
}

/// scores.h5: ids, target, probability (or output), the raw scores [N, ...] and, for texts, the token ids.
fs::path write_scores_h5(const ExplainOptions& o, const Batch& b, const Attribution& a, const torch::Tensor& target,
                         const torch::Tensor& probs, bool cls, InputKind kind) {
  using datasets::h5::Array;
  const auto n = static_cast<int64_t>(b.ids.size());
  const auto rows = torch::arange(n, torch::kLong);
  std::vector<Array> v;
  v.push_back(Array{Array::Str, "ids", {n}, {}, {}, b.ids});
  v.push_back(inference::h5_array("target", target.cpu()));
  v.push_back(inference::h5_array(cls ? "probability" : "output", probs.cpu().index({rows, target.cpu()})));
  v.push_back(inference::h5_array("scores", a.scores.detach().cpu().to(torch::kFloat)));
  if (kind == InputKind::Tokens) v.push_back(inference::h5_array("input_ids", b.x.cpu()));
  const auto path = o.output / "scores.h5";
  datasets::h5::write_arrays(path, v);
  return path;
}

}  // namespace

ExplainResult explain(const ExplainOptions& opts) {
  ExplainOptions o = opts;
  const auto device = resolve_device(o.device);
  if (!fs::exists(o.model)) throw UserError("no run folder or artifact at " + o.model.string());
  const Loaded l = fs::is_directory(o.model) ? load_run(o.model, o, device) : load_artifact_file(o.model, device);
  const auto kind = l.spec.input.kind;
  if (o.method.empty()) o.method = l.is_run ? default_method(kind) : "integrated_gradients";
  method_registry().get(o.method);  // an unknown name lists the known ones before any input is read
  check_extras(o, l);
  const auto b = o.split.empty() ? read_batch(o, l, device) : read_split(o, l, device);
  Subject s{l.forward, b.x, kind, l.is_run, o.model.string()};
  const auto outputs = outputs_of(l.forward, b.x, o.batch_size);
  const auto target = resolve_targets(outputs, o.target);
  const auto a = run_chunked(o.method, s, target, o.params, o.batch_size);

  fs::create_directories(o.output);
  ExplainResult r;
  auto items = nlohmann::json::array();
  const bool cls = l.spec.output.classification();
  const auto probs = cls ? torch::softmax(outputs, 1) : outputs;
  for (size_t i = 0; i < b.ids.size(); ++i) {
    const int64_t t = target[i].item<int64_t>();
    nlohmann::json item{{"id", b.ids[i]}, {"target", t}, {"target_name", class_name(l.spec.output, t)},
                        {cls ? "probability" : "output", probs[i][t].item<double>()}};
    if (kind != InputKind::Tokens && o.scores_format == "json") item["scores"] = tensor_json(a.scores[i]);
    items.push_back(item);
  }
  std::vector<WordRow> words;
  if (kind == InputKind::Tokens) words = write_tokens(o, l, b, a, items, r);
  if (pixel_kind(kind)) write_maps(o, b, a, r);
  write_extras(o, l, b, a, target, words, r);
  auto rejects = nlohmann::json::array();
  for (const auto& [id, why] : b.rejects) rejects.push_back({{"id", id}, {"reason", why}});
  r.json = {{"model", o.model.string()}, {"format", l.is_run ? "run" : "artifact"}, {"model_name", l.spec.model},
            {"input_kind", models::input_kind_name(kind)}, {"method", o.method}, {"layer", a.layer},
            {"over", a.over}, {"target", o.target}, {"items", items}, {"rejects", rejects},
            {"params", {{"steps", o.params.steps}, {"samples", o.params.samples}, {"noise", o.params.noise},
                        {"seed", o.params.seed}}}};
  if (o.scores_format == "h5") {
    const auto h5 = write_scores_h5(o, b, a, target, probs, cls, kind);
    r.json["scores_file"] = h5.filename().string();
    r.files.insert(r.files.begin(), h5);
  }
  const auto path = o.output / "scores.json";
  write_file_atomic(path, r.json.dump(1) + "\n");
  r.files.insert(r.files.begin(), path);
  return r;
}

}  // namespace smlab::analysis::explain
