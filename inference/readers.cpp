// The input-reader registry of `smlab score` (readers.h): delimited text, JSONL, image files and
// packed HDF5 shards.
#include "inference/readers.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/csv.h"
#include "datasets/hdf5_io.h"
#include "datasets/pack.h"

namespace smlab::inference {
namespace fs = std::filesystem;
using models::InputKind;
using nlohmann::json;
using text::split;
using text::trim;

namespace {

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s;
  for (auto x : d) {
    if (!s.empty()) s += 'x';
    s += std::to_string(x);
  }
  return s;
}

bool is_index(const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit); }

/// Columns of a delimited file: from a header naming the fields, or from indices/defaults.
struct Columns {
  int64_t id = -1, text = -1, extra = -1;
  bool ids_are_lines = false;
  bool header = false;  ///< the first line was a header (skip it)
};

Columns pick_columns(const ReadOptions& o, const std::vector<std::string>& first, bool want_text, int64_t width) {
  Columns c;
  c.ids_are_lines = o.id_field.empty() || o.id_field == "line";
  const auto find = [&](const std::string& name) -> int64_t {
    for (size_t i = 0; i < first.size(); ++i)
      if (trim(first[i]) == name) return static_cast<int64_t>(i);
    return -1;
  };
  const int64_t hid = c.ids_are_lines ? -1 : find(o.id_field), htext = want_text ? find(o.text_field) : -1;
  if ((hid >= 0 || c.ids_are_lines) && (!want_text || htext >= 0) && (hid >= 0 || htext >= 0)) {
    c.id = hid;
    c.text = htext;
    c.extra = o.extra_field.empty() ? -1 : find(o.extra_field);
    c.header = true;
    return c;
  }
  if (is_index(o.extra_field)) c.extra = std::stoll(o.extra_field);
  if (!c.ids_are_lines) c.id = is_index(o.id_field) ? std::stoll(o.id_field) : 0;
  if (want_text) c.text = is_index(o.text_field) ? std::stoll(o.text_field) : static_cast<int64_t>(first.size()) - 1;
  if (!want_text && !is_index(o.id_field) && !c.ids_are_lines && static_cast<int64_t>(first.size()) == width) c.id = -1;
  if (!want_text && c.id < 0) c.ids_are_lines = true;
  return c;
}

/// A delimited file, one record per data line. Text artifacts: the payload is the text field;
/// tabular ones: the fields are every column but the id (`width` features).
InputRecords read_delimited(const ReadOptions& o, char delim, const InputSpec& spec) {
  const bool want_text = spec.tokens.has_value();
  const int64_t width = spec.kind == InputKind::Features ? spec.shape.at(0) : 0;
  std::ifstream in(o.input);
  if (!in) throw UserError(o.input.string() + ": cannot open");
  InputRecords out;
  std::string line;
  Columns c;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    bool ok = true;
    const auto f = delim == ',' ? datasets::split_csv_line(line, delim, &ok) : split(line, delim);
    if (lineno == 1) {
      c = pick_columns(o, f, want_text, width);
      if (c.header) continue;
    }
    const auto n = static_cast<int64_t>(f.size());
    Record r;
    r.id = c.id >= 0 && c.id < n ? f[c.id] : std::to_string(lineno);
    if (!ok) {
      r.reject = "line " + std::to_string(lineno) + ": unterminated quote";
    } else if (want_text) {
      if (c.text >= n || c.id >= n)
        r.reject = "line " + std::to_string(lineno) + ": " + std::to_string(n) + " fields, expected at least " +
                   std::to_string(std::max(c.text, c.id) + 1);
      else
        r.payload = f[c.text];
      if (c.extra >= 0 && c.extra < n) r.extra = f[c.extra];
    } else {
      for (int64_t i = 0; i < n; ++i)
        if (i != c.id) r.fields.push_back(f[i]);
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

/// Parses one JSONL line into `r` (text or features), or sets its reject reason.
void parse_jsonl_line(const ReadOptions& o, const std::string& line, int64_t lineno, bool want_text, Record& r) {
  const auto where = "line " + std::to_string(lineno) + ": ";
  try {
    const auto j = json::parse(line);
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    if (j.contains(o.id_field)) r.id = j[o.id_field].is_string() ? j[o.id_field].get<std::string>() : j[o.id_field].dump();
    if (want_text) {
      if (!j.contains(o.text_field) || !j[o.text_field].is_string())
        r.reject = where + "no string field '" + o.text_field + "'";
      else
        r.payload = j[o.text_field].get<std::string>();
      if (!o.extra_field.empty() && j.contains(o.extra_field))
        r.extra = j[o.extra_field].is_string() ? j[o.extra_field].get<std::string>() : j[o.extra_field].dump();
    } else {
      const auto& v = j.contains("features") ? j["features"] : json();
      if (!v.is_array()) r.reject = where + "no array field 'features'";
      else
        for (const auto& x : v) r.fields.push_back(x.dump());
    }
  } catch (const std::exception& e) {
    r.reject = where + "not JSON (" + std::string(e.what()).substr(0, 80) + ")";
  }
}

InputRecords read_jsonl(const ReadOptions& o, const InputSpec& spec) {
  std::ifstream in(o.input);
  if (!in) throw UserError(o.input.string() + ": cannot open");
  InputRecords out;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    Record r;
    r.id = std::to_string(lineno);
    if (trim(line).empty()) r.reject = "line " + std::to_string(lineno) + ": empty line";
    else parse_jsonl_line(o, line, lineno, spec.tokens.has_value(), r);
    out.records.push_back(std::move(r));
  }
  return out;
}

InputRecords read_image_folder(const ReadOptions& o, const InputSpec&) {
  static const std::set<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(o.input)) {
    const std::string ext = text::lower(e.path().extension().string());
    if (e.is_regular_file() && exts.count(ext)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  InputRecords out;
  for (const auto& f : files) out.records.push_back({fs::relative(f, o.input).string(), f.string(), "", {}, -1, ""});
  return out;
}

InputRecords read_image_list(const ReadOptions& o, const InputSpec&) {
  std::ifstream in(o.input);
  if (!in) throw UserError(o.input.string() + ": cannot open");
  InputRecords out;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty()) continue;
    fs::path p = line;
    if (p.is_relative()) p = o.input.parent_path() / p;
    out.records.push_back({line, p.string(), "", {}, -1, ""});
  }
  return out;
}

/// One shard of an HDF5 input, with its manifest entry when a pack folder lists it.
struct ShardFile {
  fs::path path;
  json entry;  ///< null without a manifest
};

/// The shard files of an HDF5 input: the file itself, the shards listed in a pack folder's
/// manifest.json (in its order, each checked against the manifest's size and CRC-32 as training
/// checks them), or every .h5/.hdf5 file of a folder (sorted).
std::vector<ShardFile> hdf5_files(const fs::path& input) {
  if (!fs::is_directory(input)) return {{input, json()}};
  std::vector<ShardFile> files;
  const fs::path manifest = input / "manifest.json";
  if (fs::exists(manifest)) {
    try {
      const auto m = json::parse(read_file(manifest));
      for (const auto& sh : m.at("shards")) {
        const fs::path p = input / sh.at("file").get<std::string>();
        if (!fs::exists(p)) throw UserError(p.string() + ": shard listed in " + manifest.string() + " is missing");
        datasets::verify_shard_file(p, sh);
        files.push_back({p, sh});
      }
    } catch (const json::exception& e) {
      throw UserError(manifest.string() + ": malformed pack manifest (" + e.what() + ")");
    }
  } else {
    for (const auto& e : fs::directory_iterator(input))
      if (e.is_regular_file() && is_hdf5_file(e.path())) files.push_back({e.path(), json()});
    std::sort(files.begin(), files.end(), [](const ShardFile& a, const ShardFile& b) { return a.path < b.path; });
  }
  if (files.empty()) throw UserError(input.string() + ": no HDF5 shards (.h5) in this folder");
  return files;
}

/// Checks that shard `f` holds what `spec` takes; appends its pixels to `store`; returns the
/// store index of its first record (0 for text shards).
int64_t take_shard_pixels(const fs::path& f, datasets::h5::Shard& sh, const InputSpec& spec, PixelStore& store) {
  const bool video = spec.kind == InputKind::Video;
  if (spec.tokens) {
    if (sh.texts.empty())
      throw UserError(f.string() + ": a shard of " + (sh.image_shape.size() == 5 ? "video clips" : "images") +
                      ", but the model takes text");
    return 0;
  }
  if (sh.image_shape.empty())
    throw UserError(f.string() + ": a text shard, but the model takes " + models::input_kind_name(spec.kind));
  if (!video && sh.image_shape.size() != 4)
    throw UserError(f.string() + ": a shard of video clips [N, T, H, W, C]; the model takes images [N, H, W, C]");
  if (video && sh.image_shape.size() != 5)
    throw UserError(f.string() + ": a shard of images [N, H, W, C]; the model takes video clips [N, T, H, W, C]");
  const std::vector<int64_t> shape(sh.image_shape.begin() + 1, sh.image_shape.end());
  if (store.shape.empty()) store.shape = shape;
  if (shape != store.shape)
    throw UserError(f.string() + ": " + models::input_kind_name(spec.kind) + "s of " + dims_str(shape) +
                    " where the earlier shards hold " + dims_str(store.shape) + "; score the shards separately");
  int64_t bytes = 1;
  for (auto d : shape) bytes *= d;
  const int64_t base = static_cast<int64_t>(store.data.size()) / bytes;
  store.data.insert(store.data.end(), sh.images.begin(), sh.images.end());
  return base;
}

/// Packed HDF5 shards (`smlab pack`): texts, or images / video clips kept in the PixelStore. The
/// id of a record is the shard's stored id (an optional 'ids' dataset) or its index over all shards.
InputRecords read_hdf5(const ReadOptions& o, const InputSpec& spec) {
  InputRecords out;
  for (const auto& [f, entry] : hdf5_files(o.input)) {
    auto sh = datasets::h5::read_shard(f);
    if (!entry.is_null()) datasets::check_shard_count(f, sh, entry);
    const int64_t n = sh.count();
    if (n == 0) continue;
    const int64_t base = take_shard_pixels(f, sh, spec, out.pixels);
    for (int64_t i = 0; i < n; ++i) {
      Record r;
      r.id = sh.ids.empty() ? std::to_string(out.records.size()) : sh.ids[i];
      if (spec.tokens) {
        r.payload = std::move(sh.texts[i]);
      } else {
        r.payload = f.filename().string() + "#" + std::to_string(i);
        r.pixels = base + i;
      }
      out.records.push_back(std::move(r));
    }
  }
  const auto& st = out.pixels.shape;
  if (spec.kind == InputKind::Video && !st.empty() && st[0] != spec.shape.at(0))
    throw UserError(o.input.string() + ": clips of " + std::to_string(st[0]) + " frames; the model takes " +
                    std::to_string(spec.shape.at(0)) + " (re-pack with --frames " + std::to_string(spec.shape.at(0)) +
                    ")");
  return out;
}

}  // namespace

bool is_hdf5_file(const fs::path& p) { return p.extension() == ".h5" || p.extension() == ".hdf5"; }

Registry<InputReader>& reader_registry() {
  static Registry<InputReader> r("input format");
  return r;
}

void register_readers() {
  auto& r = reader_registry();
  const std::vector<InputKind> rows = {InputKind::Tokens, InputKind::Features};
  r.add("tsv", {"tab-separated text or tabular rows (a header naming --id-field/--text-field, or column indices)", rows,
                [](const ReadOptions& o, const InputSpec& s) { return read_delimited(o, '\t', s); }});
  r.add("csv", {"comma-separated text or tabular rows (quoted fields allowed)", rows,
                [](const ReadOptions& o, const InputSpec& s) { return read_delimited(o, ',', s); }});
  r.add("jsonl", {"one JSON object per line: --id-field and --text-field, or \"features\": [...]", rows, read_jsonl});
  r.add("images", {"a folder of image files (recursive, sorted; id = relative path)", {InputKind::Image}, read_image_folder});
  r.add("list", {"a .list file of image paths, relative to its folder", {InputKind::Image}, read_image_list});
  r.add("hdf5", {"packed shards from 'smlab pack': images, video clips or texts",
                 {InputKind::Image, InputKind::Video, InputKind::Tokens}, read_hdf5});
}

std::string detect_input_format(const fs::path& input, const std::string& requested) {
  if (requested != "auto") return requested;
  if (fs::is_directory(input)) {
    if (fs::exists(input / "manifest.json")) return "hdf5";
    for (const auto& e : fs::directory_iterator(input))
      if (e.is_regular_file() && is_hdf5_file(e.path())) return "hdf5";
    return "images";
  }
  const auto ext = input.extension().string();
  if (is_hdf5_file(input)) return "hdf5";
  if (ext == ".tsv" || ext == ".txt") return "tsv";
  if (ext == ".csv") return "csv";
  if (ext == ".jsonl" || ext == ".json") return "jsonl";
  if (ext == ".list") return "list";
  throw UserError(input.string() + ": cannot tell the input format from the extension '" + ext +
                  "'; pass --input-format (" + text::join(reader_registry().names(), ", ") + ")");
}

InputRecords read_input(const ReadOptions& o, const std::string& format, const InputSpec& spec, const fs::path& model) {
  const auto& reader = reader_registry().get(format);
  if (std::find(reader.kinds.begin(), reader.kinds.end(), spec.kind) == reader.kinds.end()) {
    std::vector<std::string> fit;
    for (const auto& [name, r] : reader_registry().entries())
      if (std::find(r.kinds.begin(), r.kinds.end(), spec.kind) != r.kinds.end()) fit.push_back(name);
    const std::string what = spec.kind == InputKind::Video ? "video clips" : models::input_kind_name(spec.kind) + " inputs";
    throw UserError(model.string() + " takes " + what + ": --input must be " +
                    (fit.empty() ? std::string("(no reader serves this kind)") : text::join(fit, ", ")) + ", got " +
                    format);
  }
  return reader.read(o, spec);
}

}  // namespace smlab::inference
