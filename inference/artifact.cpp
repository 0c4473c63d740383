// The typed artifact contract (artifact.h): JSON for format 2, and the mapping of format 1.
#include "inference/artifact.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/text.h"

namespace smlab::inference {
using nlohmann::json;
using models::InputKind;

namespace {

/// Looks `s` up in `names` (value, name) pairs; unknown: UserError listing the known names.
template <class E>
E parse_enum(const std::string& s, const std::vector<std::pair<E, const char*>>& names, const std::string& what,
             const std::string& where) {
  std::vector<std::string> known;
  for (const auto& [v, n] : names) {
    if (s == n) return v;
    known.push_back(n);
  }
  throw UserError(where + ": unknown " + what + " '" + s + "'" + text::did_you_mean(s, known) + " (known: " +
                  text::join(known, ", ") + "); it was probably written by a newer smlab: upgrade smlab");
}

template <class E>
std::string enum_name(E v, const std::vector<std::pair<E, const char*>>& names) {
  for (const auto& [e, n] : names)
    if (e == v) return n;
  return "?";
}

const std::vector<std::pair<InputKind, const char*>> kKinds = {{InputKind::Image, "image"},
                                                                {InputKind::Video, "video"},
                                                                {InputKind::Tokens, "tokens"},
                                                                {InputKind::Features, "features"},
                                                                {InputKind::Series, "series"}};
const std::vector<std::pair<DType, const char*>> kDTypes = {
    {DType::UInt8, "uint8"}, {DType::Int64, "int64"}, {DType::Float32, "float32"}};
const std::vector<std::pair<Layout, const char*>> kLayouts = {{Layout::NHWC, "NHWC"},
                                                              {Layout::NTHWC, "NTHWC"},
                                                              {Layout::NCHW, "NCHW"},
                                                              {Layout::NCTHW, "NCTHW"},
                                                              {Layout::Flat, "N..."}};
const std::vector<std::pair<TextNormalize, const char*>> kNormalize = {{TextNormalize::None, "none"},
                                                                       {TextNormalize::TweetEval, "tweeteval"}};
const std::vector<std::pair<OutputKind, const char*>> kOutputs = {
    {OutputKind::Logits, "logits"}, {OutputKind::Probabilities, "probabilities"}, {OutputKind::Values, "values"}};
const std::vector<std::pair<datasets::Task, const char*>> kTasks = {
    {datasets::Task::Classification, "classification"}, {datasets::Task::Regression, "regression"}};

/// j[key] as T, or a UserError naming the missing or mistyped field.
template <class T>
T field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) throw UserError(where + ": its metadata has no '" + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw UserError(where + ": metadata field '" + key + "' has the wrong type (" + e.what() + ")");
  }
}

template <class T>
T field_or(const json& j, const char* key, T fallback, const std::string& where) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null() ? field<T>(j, key, where) : fallback;
}

json pixels_json(const PixelPreprocess& p) {
  return {{"resize_shorter", p.resize_shorter}, {"crop", p.crop}, {"scale", p.scale}, {"mean", p.mean}, {"std", p.std}};
}

PixelPreprocess pixels_from(const json& j, const std::string& where) {
  PixelPreprocess p;
  p.resize_shorter = field_or<int64_t>(j, "resize_shorter", 0, where);
  p.crop = field_or<std::vector<int64_t>>(j, "crop", {}, where);
  p.scale = field_or<double>(j, "scale", 1.0 / 255.0, where);
  p.mean = field_or<std::vector<double>>(j, "mean", {}, where);
  p.std = field_or<std::vector<double>>(j, "std", {}, where);
  if (p.mean.size() != p.std.size())
    throw UserError(where + ": pixel preprocessing has " + std::to_string(p.mean.size()) + " means and " +
                    std::to_string(p.std.size()) + " standard deviations");
  return p;
}

json tokens_json(const TokenPreprocess& t) {
  json j = {{"vocab_size", t.vocab_size},
            {"pad_id", t.pad_id},
            {"max_len", t.max_len},
            {"normalize", text_normalize_name(t.normalize)},
            {"variable_length", t.variable_length}};
  if (!t.tokenizer.empty()) j["tokenizer"] = t.tokenizer;
  if (!t.length_check.is_null()) j["length_check"] = t.length_check;
  return j;
}

/// Format 2 reads input.tokens; format 1 kept the same keys directly in input.
TokenPreprocess tokens_from(const json& j, int64_t default_len, const std::string& where) {
  TokenPreprocess t;
  t.vocab_size = field<int64_t>(j, "vocab_size", where);
  t.pad_id = field_or<int64_t>(j, "pad_id", 0, where);
  t.max_len = field_or<int64_t>(j, "max_len", default_len, where);
  t.normalize = parse_text_normalize(field_or<std::string>(j, "normalize", "none", where), where);
  t.variable_length = field_or<bool>(j, "variable_length", false, where);
  t.tokenizer = field_or<std::string>(j, "tokenizer", "", where);
  if (j.contains("length_check")) t.length_check = j.at("length_check");
  return t;
}

}  // namespace

std::string dtype_name(DType d) { return enum_name(d, kDTypes); }
std::string layout_name(Layout l) { return enum_name(l, kLayouts); }
std::string text_normalize_name(TextNormalize n) { return enum_name(n, kNormalize); }
std::string output_kind_name(OutputKind k) { return enum_name(k, kOutputs); }
InputKind parse_input_kind(const std::string& s, const std::string& where) {
  return parse_enum(s, kKinds, "input kind", where);
}
DType parse_dtype(const std::string& s, const std::string& where) { return parse_enum(s, kDTypes, "input dtype", where); }
Layout parse_layout(const std::string& s, const std::string& where) {
  return parse_enum(s, kLayouts, "input layout", where);
}
TextNormalize parse_text_normalize(const std::string& s, const std::string& where) {
  return parse_enum(s, kNormalize, "text normalisation", where);
}
OutputKind parse_output_kind(const std::string& s, const std::string& where) {
  return parse_enum(s, kOutputs, "output kind", where);
}
datasets::Task parse_task(const std::string& s, const std::string& where) { return parse_enum(s, kTasks, "task", where); }

json InputSpec::to_json() const {
  json j = {{"kind", models::input_kind_name(kind)}, {"dtype", dtype_name(dtype)}, {"layout", layout_name(layout)},
            {"shape", shape}};
  if (pixels) j["pixels"] = pixels_json(*pixels);
  if (tokens) j["tokens"] = tokens_json(*tokens);
  return j;
}

InputSpec InputSpec::from_json(const json& j, int format, const std::string& where) {
  InputSpec in;
  in.kind = parse_input_kind(field<std::string>(j, "kind", where), where);
  in.dtype = parse_dtype(field<std::string>(j, "dtype", where), where);
  in.layout = parse_layout(field<std::string>(j, "layout", where), where);
  in.shape = field<std::vector<int64_t>>(j, "shape", where);
  if (in.shape.empty()) throw UserError(where + ": its input shape is empty");
  if (format == 1) {  // flat: input.preprocess, and the token fields in input itself
    if (in.dtype == DType::UInt8) in.pixels = pixels_from(j.value("preprocess", json::object()), where);
    if (in.dtype == DType::Int64) in.tokens = tokens_from(j, in.shape.at(0), where);
  } else {
    if (j.contains("pixels")) in.pixels = pixels_from(j.at("pixels"), where);
    if (j.contains("tokens")) in.tokens = tokens_from(j.at("tokens"), in.shape.at(0), where);
  }
  if (in.dtype == DType::UInt8 && !in.pixels) in.pixels = PixelPreprocess{};
  if (in.dtype == DType::Int64 && !in.tokens)
    throw UserError(where + ": a token-id input without its tokenizer description (input.tokens)");
  if (in.pixels && in.pixels->crop.empty()) {  // crop = the per-sample H, W
    const size_t d = in.shape.size();
    if (d >= 3) in.pixels->crop = {in.shape[d - 3], in.shape[d - 2]};
  }
  return in;
}

json OutputSpec::to_json() const {
  json j = {{"task", enum_name(task, kTasks)}, {"classes", classes}, {"dim", dim}, {"outputs", output_kind_name(outputs)}};
  if (temperature != 1.0) j["temperature"] = temperature;
  if (embed)
    j["embed"] = {{"methods", {"embed", "forward_embed"}},
                  {"dim", embed->dim},
                  {"classifier", embed->classifier},
                  {"relative_error", embed->relative_error}};
  if (ensemble)
    j["ensemble"] = {{"members", ensemble->members},
                     {"method", ensemble->method},
                     {"temperatures", ensemble->temperatures},
                     {"weights", ensemble->weights}};
  return j;
}

/// Format 2's "output" object; format 1 had the same keys at the top level (output_dim for dim).
OutputSpec OutputSpec::from_json(const json& j, const std::string& where) {
  OutputSpec o;
  o.task = parse_task(field<std::string>(j, "task", where), where);
  o.classes = field_or<std::vector<std::string>>(j, "classes", {}, where);
  o.dim = j.contains("dim") ? field<int64_t>(j, "dim", where) : field<int64_t>(j, "output_dim", where);
  o.outputs = parse_output_kind(
      field_or<std::string>(j, "outputs", o.task == datasets::Task::Classification ? "logits" : "values", where), where);
  if (o.classification() && static_cast<int64_t>(o.classes.size()) != o.dim)
    throw UserError(where + ": " + std::to_string(o.classes.size()) + " class names for " + std::to_string(o.dim) +
                    " outputs");
  o.temperature = field_or<double>(j, "temperature", 1.0, where);
  if (!(o.temperature > 0) || !std::isfinite(o.temperature))
    throw UserError(where + ": output.temperature must be a positive number, got " + std::to_string(o.temperature));
  if (j.contains("embed") && j.at("embed").is_object()) {
    const auto& e = j.at("embed");
    o.embed = EmbedSpec{field<int64_t>(e, "dim", where), field_or<std::string>(e, "classifier", "", where),
                        field_or<double>(e, "relative_error", 0.0, where)};
  }
  if (j.contains("ensemble") && j.at("ensemble").is_object()) {
    const auto& e = j.at("ensemble");
    o.ensemble = EnsembleSpec{field_or<std::vector<std::string>>(e, "members", {}, where),
                              field_or<std::string>(e, "method", "", where),
                              field_or<std::vector<double>>(e, "temperatures", {}, where),
                              field_or<std::vector<double>>(e, "weights", {}, where)};
  }
  return o;
}

json ArtifactSpec::to_json() const {
  // Written in this build's layout: a format-1 spec that was read and is saved again becomes format 2.
  json j = {{"format", std::max(format, kArtifactFormat)},
            {"smlab_version", smlab_version},
            {"libtorch_version", libtorch_version},
            {"model", model},
            {"input", input.to_json()},
            {"output", output.to_json()},
            {"config_hash", config_hash},
            {"config", config},
            {"export_check", {{"batch", check_batch}, {"relative_error", check_error}}}};
  if (!run.empty()) j["run"] = run;
  if (!checkpoint.empty()) j["checkpoint"] = checkpoint;
  return j;
}

ArtifactSpec ArtifactSpec::from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw UserError(where + ": its smlab.json is not a JSON object");
  ArtifactSpec a;
  a.format = field_or<int>(j, "format", 0, where);
  a.smlab_version = field_or<std::string>(j, "smlab_version", "?", where);
  if (a.format > kArtifactFormat)
    throw UserError(where + ": artifact format " + std::to_string(a.format) + " (written by smlab " + a.smlab_version +
                    ") is newer than this smlab (" + std::to_string(kArtifactFormat) + "); upgrade smlab");
  if (a.format < 1)
    throw UserError(where + ": artifact format " + std::to_string(a.format) + " is not one smlab wrote; re-export it with "
                    "'smlab export RUN'");
  a.libtorch_version = field_or<std::string>(j, "libtorch_version", "", where);
  a.model = field<std::string>(j, "model", where);
  a.input = InputSpec::from_json(j.value("input", json()), a.format, where);
  a.output = OutputSpec::from_json(a.format == 1 ? j : j.value("output", json()), where);
  a.config_hash = field_or<std::string>(j, "config_hash", "", where);
  a.config = field_or<std::string>(j, "config", "", where);
  if (j.contains("export_check") && j.at("export_check").is_object()) {
    a.check_batch = field_or<int64_t>(j.at("export_check"), "batch", 0, where);
    a.check_error = field_or<double>(j.at("export_check"), "relative_error", 0.0, where);
  }
  a.run = field_or<std::string>(j, "run", "", where);
  a.checkpoint = field_or<std::string>(j, "checkpoint", "", where);
  return a;
}

}  // namespace smlab::inference
