#include "core/config.h"

#include <cmath>
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>

#include "core/components.h"
#include "core/config_detail.h"
#include "core/text.h"

namespace fs = std::filesystem;

namespace smlab::config {

// ------------------------------------------------------------------------------- schema

std::string type_name(Type t) {
  switch (t) {
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "string";
    case Type::IntList: return "list of int";
    case Type::FloatList: return "list of float";
    case Type::StringList: return "list of string";
    case Type::ComponentList: return "list of name or {name, params}";
  }
  return "?";
}

Schema& Schema::add(Field f) {
  if (find(f.key)) throw std::logic_error("schema: duplicate key '" + f.key + "'");
  fields_.push_back(std::move(f));
  return *this;
}

Schema& Schema::boolean(const std::string& key, bool def, const std::string& help) {
  return add({key, Type::Bool, def ? "true" : "false", help});
}

Schema& Schema::integer(const std::string& key, long long def, const std::string& help, std::optional<double> min,
                        std::optional<double> max) {
  Field f{key, Type::Int, std::to_string(def), help};
  f.min = min;
  f.max = max;
  return add(f);
}

namespace {
std::string number_text(double v) {
  std::ostringstream o;
  o.precision(15);
  o << v;
  std::string s = o.str();
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

Schema& Schema::number(const std::string& key, double def, const std::string& help, std::optional<double> min,
                       std::optional<double> max, bool min_exclusive) {
  Field f{key, Type::Float, number_text(def), help};
  f.min = min;
  f.max = max;
  f.min_exclusive = min_exclusive;
  return add(f);
}

Schema& Schema::string(const std::string& key, const std::string& def, const std::string& help) {
  return add({key, Type::String, def.empty() ? "\"\"" : def, help});
}

Schema& Schema::choice(const std::string& key, const std::string& def, std::vector<std::string> choices,
                       const std::string& help) {
  Field f{key, Type::String, def, help};
  f.choices = std::move(choices);
  return add(f);
}

Schema& Schema::list(const std::string& key, Type type, const std::string& def_yaml, const std::string& help,
                     std::optional<double> min, std::optional<double> max) {
  Field f{key, type, def_yaml, help};
  f.min = min;
  f.max = max;
  return add(f);
}

const Field* Schema::find(const std::string& key) const {
  for (const auto& f : fields_)
    if (f.key == key) return &f;
  return nullptr;
}

std::vector<std::string> Schema::keys() const {
  std::vector<std::string> out;
  for (const auto& f : fields_) out.push_back(f.key);
  return out;
}

std::string Origin::str() const {
  if (file.empty()) return "<config>";
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

// ------------------------------------------------------------------------------- loading

namespace detail {

[[noreturn]] void fail(const Origin& where, const std::string& path, const std::string& msg) {
  throw ConfigError(where.str() + ": " + (path.empty() ? "" : path + ": ") + msg);
}

Origin origin_of(const Origins& origins, const std::string& path, const std::string& fallback_file) {
  std::string p = path;
  while (true) {
    if (auto it = origins.find(p); it != origins.end()) return it->second;
    const auto dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p = p.substr(0, dot);
  }
  return Origin{fallback_file, 0};
}

std::string join_path(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

}  // namespace detail

using namespace detail;

namespace {

/// Records file:line of every key (the line of the key itself, not of its value).
void record_origins(const YAML::Node& node, const std::string& path, const std::string& file, Origins* origins) {
  if (!origins) return;
  if (node.IsSequence()) {  // list entries as path.0, path.1, ... (augment.train.0.scale)
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string child = join_path(path, std::to_string(i));
      (*origins)[child] = Origin{file, node[i].Mark().line + 1};
      record_origins(node[i], child, file, origins);
    }
    return;
  }
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    const std::string child = join_path(path, kv.first.as<std::string>());
    (*origins)[child] = Origin{file, kv.first.Mark().line + 1};
    record_origins(kv.second, child, file, origins);
  }
}

/// Deep merge: maps merge key by key, anything else replaces.
void merge_into(YAML::Node dst, const YAML::Node& src) {
  for (const auto& kv : src) {
    const std::string key = kv.first.as<std::string>();
    if (kv.second.IsMap() && dst[key] && dst[key].IsMap()) {
      merge_into(dst[key], kv.second);
    } else {
      dst[key] = YAML::Clone(kv.second);
    }
  }
}

}  // namespace

namespace detail {

// Resource limits on a parsed document. yaml-cpp shares aliased nodes, so parsing is linear, but
// every walk over the tree (origins, merging, validation) visits an alias once per reference: nested
// aliases ("billion laughs") would take exponential time. A config is a few hundred nodes.
constexpr int64_t kMaxExpandedNodes = 100000;
constexpr int kMaxDepth = 64;

/// Walks `n` as the later passes will, and stops at the limits with an error naming `display`.
void check_expansion(const YAML::Node& n, const std::string& display, int depth, int64_t& visited) {
  if (++visited > kMaxExpandedNodes)
    throw ConfigError(display + ": the document expands to more than " + std::to_string(kMaxExpandedNodes) +
                      " nodes (nested YAML aliases?); a config is a few hundred keys: remove the aliases");
  if (depth > kMaxDepth)
    throw ConfigError(display + ": nesting deeper than " + std::to_string(kMaxDepth) + " levels; flatten the document");
  if (n.IsMap()) {
    for (const auto& kv : n) {
      // Later passes read every key as text; a list, map or null key ("[a]: 1", "? {b: 2}") would
      // escape them as yaml-cpp's "bad conversion" (found by tests/fuzz/fuzz_config.cpp).
      if (!kv.first.IsScalar())
        throw ConfigError(display + ":" + std::to_string(kv.first.Mark().line + 1) +
                          ": a key must be a plain name, not a list, a map or null");
      check_expansion(kv.first, display, depth + 1, visited);
      check_expansion(kv.second, display, depth + 1, visited);
    }
  } else if (n.IsSequence()) {
    for (const auto& v : n) check_expansion(v, display, depth + 1, visited);
  }
}

YAML::Node checked(YAML::Node doc, const std::string& display) {
  int64_t visited = 0;
  check_expansion(doc, display, 0, visited);
  return doc;
}

}  // namespace detail

namespace {

YAML::Node parse_file(const fs::path& file) {
  if (!fs::exists(file)) throw ConfigError(file.string() + ": config file not found");
  // A folder made yaml-cpp's reader throw "basic_filebuf::underflow ... Is a directory" (fuzz_config).
  if (fs::is_directory(file)) throw ConfigError(file.string() + ": a folder, not a config file");
  try {
    return checked(YAML::LoadFile(file.string()), file.string());
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file.string() + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  } catch (const YAML::BadFile&) {
    throw ConfigError(file.string() + ": cannot read config file");
  }
}

YAML::Node resolve_bases(const YAML::Node& doc, const std::string& display, const fs::path& dir,
                         std::vector<std::string>& stack, Origins* origins);

YAML::Node load_file_recursive(const fs::path& file, std::vector<std::string>& stack, Origins* origins) {
  const std::string canon = fs::weakly_canonical(file).string();
  if (std::find(stack.begin(), stack.end(), canon) != stack.end()) {
    std::vector<std::string> cycle(std::find(stack.begin(), stack.end(), canon), stack.end());
    cycle.push_back(canon);
    throw ConfigError(file.string() + ": cyclic _base_: " + text::join(cycle, " -> "));
  }
  const YAML::Node doc = parse_file(file);
  stack.push_back(canon);
  YAML::Node out = resolve_bases(doc, file.string(), file.parent_path(), stack, origins);
  stack.pop_back();
  return out;
}

YAML::Node resolve_bases(const YAML::Node& doc, const std::string& display, const fs::path& dir,
                         std::vector<std::string>& stack, Origins* origins) {
  YAML::Node out(YAML::NodeType::Map);
  if (!doc || doc.IsNull()) return out;
  if (!doc.IsMap()) throw ConfigError(display + ":" + std::to_string(doc.Mark().line + 1) +
                                      ": a config file must be a mapping of keys to values");
  if (const YAML::Node base = doc["_base_"]) {
    std::vector<YAML::Node> bases;
    if (base.IsSequence()) {
      for (const auto& b : base) bases.push_back(b);
    } else {
      bases.push_back(base);
    }
    for (const auto& b : bases) {
      const Origin where{display, b.Mark().line + 1};
      if (!b.IsScalar()) fail(where, "_base_", "expected a file path or a list of file paths");
      const fs::path p = dir / b.as<std::string>();
      if (!fs::exists(p)) fail(where, "_base_", "base file '" + b.as<std::string>() + "' not found (looked at " + p.string() + ")");
      merge_into(out, load_file_recursive(p, stack, origins));
    }
  }
  YAML::Node own(YAML::NodeType::Map);
  for (const auto& kv : doc) {
    if (kv.first.as<std::string>() == "_base_") continue;
    own[kv.first.as<std::string>()] = kv.second;
  }
  record_origins(doc, "", display, origins);  // `doc`, not `own`: only parsed nodes carry line marks
  merge_into(out, own);
  return out;
}

// ------------------------------------------------------------------------------- validation

bool parse_float(const std::string& s, double* out) {
  try {
    size_t pos = 0;
    *out = std::stod(s, &pos);
    return pos == s.size();
  } catch (...) {
    return false;
  }
}

std::string describe_range(const Field& f) {
  std::string lo = f.min ? number_text(*f.min) : "", hi = f.max ? number_text(*f.max) : "";
  if (f.type == Type::Int || f.type == Type::IntList) {
    if (f.min) lo = std::to_string(static_cast<long long>(*f.min));
    if (f.max) hi = std::to_string(static_cast<long long>(*f.max));
  }
  if (f.min && f.max) return std::string(f.min_exclusive ? "(" : "[") + lo + ", " + hi + "]";
  if (f.min) return std::string(f.min_exclusive ? "> " : ">= ") + lo;
  if (f.max) return "<= " + hi;
  return "";
}

void check_range(const Field& f, double v, const std::string& text, const Origin& where, const std::string& path) {
  const bool below = f.min && (f.min_exclusive ? v <= *f.min : v < *f.min);
  const bool above = f.max && v > *f.max;
  if (below || above) fail(where, path, text + " is out of range (allowed: " + describe_range(f) + ")");
}

void check_scalar(const Field& f, Type scalar_type, const YAML::Node& n, const Origin& where, const std::string& path) {
  if (!n.IsScalar()) fail(where, path, "expected " + type_name(scalar_type) + ", got a " + (n.IsMap() ? "mapping" : n.IsSequence() ? "list" : "null"));
  const std::string s = n.Scalar();
  switch (scalar_type) {
    case Type::Bool: {
      bool b;
      if (!YAML::convert<bool>::decode(n, b)) fail(where, path, "expected true or false, got '" + s + "'");
      break;
    }
    case Type::Int: {
      long long v;
      if (!text::parse_int(s, &v)) fail(where, path, "expected an integer, got '" + s + "'");
      check_range(f, static_cast<double>(v), s, where, path);
      break;
    }
    case Type::Float: {
      double v;
      // YAML spells infinities and NaN .inf/.nan; both they and nan/inf are refused by name.
      double yaml_v = 0;
      const bool yaml_special = YAML::convert<double>::decode(n, yaml_v) && !std::isfinite(yaml_v);
      if (yaml_special || (parse_float(s, &v) && !std::isfinite(v)))
        fail(where, path, "expected a finite number, got '" + s + "'");
      if (!parse_float(s, &v)) fail(where, path, "expected a number, got '" + s + "'");
      check_range(f, v, s, where, path);
      break;
    }
    default: {
      std::vector<std::string> allowed = f.choices;
      if (!f.registry.empty()) allowed = component_names(f.registry);
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
        const std::string what = f.registry.empty() ? "value" : f.registry;
        fail(where, path, "unknown " + what + " '" + s + "'" + text::did_you_mean(s, allowed) +
                              " (allowed: " + text::join(allowed, ", ") + ")");
      }
    }
  }
}

void check_value(const Field& f, const YAML::Node& n, const Origin& where, const std::string& path) {
  Type elem;
  switch (f.type) {
    case Type::IntList: elem = Type::Int; break;
    case Type::FloatList: elem = Type::Float; break;
    case Type::StringList: elem = Type::String; break;
    case Type::ComponentList: throw std::logic_error("check_value: " + path + " is a component list (see resolve_components)");
    default: return check_scalar(f, f.type, n, where, path);
  }
  if (!n.IsSequence()) fail(where, path, "expected a " + type_name(f.type) + " such as [1, 2], got '" + (n.IsScalar() ? n.Scalar() : "a mapping") + "'");
  for (size_t i = 0; i < n.size(); ++i) check_scalar(f, elem, n[i], where, path + "[" + std::to_string(i) + "]");
}

YAML::Node default_node(const Field& f) { return YAML::Load(f.default_yaml); }

/// One entry of a component list: a name or {name: ..., params...}, checked against the component's
/// schema and returned as a map holding the name and every parameter (defaults filled).
YAML::Node resolve_component(const Field& list, const YAML::Node& entry, const Origins& origins,
                             const std::string& source, const std::string& path) {
  const Origin where = origin_of(origins, path, source);
  Field name_field{"name", Type::String, "", list.help};
  name_field.registry = list.registry;
  // Copy-initialised, never assigned: yaml-cpp's operator= would write through into the entry.
  const YAML::Node name_node = entry.IsMap() ? entry["name"] : entry;
  if (!name_node) fail(where, path, "a mapping entry needs a `name` key (the " + list.registry + ")");
  check_value(name_field, name_node, entry.IsMap() ? origin_of(origins, path + ".name", source) : where,
              entry.IsMap() ? path + ".name" : path);
  const std::string name = name_node.Scalar();
  const Schema& params = component_params(list.registry, name);
  YAML::Node out(YAML::NodeType::Map);
  out["name"] = name;
  if (entry.IsMap()) {
    for (const auto& kv : entry) {
      const std::string key = kv.first.as<std::string>();
      if (key == "name" || params.find(key)) continue;
      std::vector<std::string> keys = params.keys();
      fail(origin_of(origins, path + "." + key, source), path + "." + key,
           "unknown parameter of " + list.registry + " '" + name + "'" + text::did_you_mean(key, keys) +
               " (allowed: " + (keys.empty() ? std::string("none") : text::join(keys, ", ")) + ")");
    }
  }
  for (const auto& f : params.fields()) {
    const std::string p = path + "." + f.key;
    YAML::Node value = entry.IsMap() && entry[f.key] ? YAML::Clone(entry[f.key]) : YAML::Node();
    if (!value || value.IsNull()) {
      if (f.required || f.default_yaml.empty()) fail(origin_of(origins, p, source), p, "required key is missing (" + f.help + ")");
      value = default_node(f);
    }
    check_value(f, value, origin_of(origins, p, source), p);
    out[f.key] = value;
  }
  return out;
}

YAML::Node resolve_components(const Field& f, const YAML::Node& n, const Origins& origins, const std::string& source,
                              const std::string& path) {
  if (!n.IsSequence())
    fail(origin_of(origins, path, source), path,
         "expected a list of " + f.registry + " names or {name: ..., params} mappings, such as [hflip]");
  YAML::Node out(YAML::NodeType::Sequence);
  for (size_t i = 0; i < n.size(); ++i)
    out.push_back(resolve_component(f, n[i], origins, source, path + "." + std::to_string(i)));
  return out;
}

YAML::Node validate(const YAML::Node& in, const Origins& origins, const std::string& source) {
  YAML::Node out(YAML::NodeType::Map);
  const auto& sections = experiment_sections();
  std::vector<std::string> top_keys = {"version"};
  for (const auto& s : sections) top_keys.push_back(s.name);
  for (const auto& kv : in) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(top_keys.begin(), top_keys.end(), key) == top_keys.end()) {
      fail(origin_of(origins, key, source), key,
           "unknown section" + text::did_you_mean(key, top_keys) + " (allowed: " + text::join(top_keys, ", ") + ")");
    }
  }
  // version
  {
    const YAML::Node v = in["version"];
    const Origin where = origin_of(origins, "version", source);
    if (v && !(v.IsScalar() && v.Scalar() == "1")) {
      fail(where, "version", "unsupported config version '" + (v.IsScalar() ? v.Scalar() : std::string("?")) +
                                 "' (this smlab reads version 1)");
    }
    out["version"] = 1;
  }
  for (const auto& sec : sections) {
    const YAML::Node given = in[sec.name];
    const Origin sec_origin = origin_of(origins, sec.name, source);
    if (given && !given.IsNull() && !given.IsMap()) fail(sec_origin, sec.name, "expected a mapping of keys to values");
    Schema schema = sec.fields;
    if (!sec.registry.empty()) {
      const Field* name_field = schema.find("name");
      std::string name = name_field->default_yaml;
      if (given && given["name"]) {
        check_value(*name_field, given["name"], origin_of(origins, sec.name + ".name", source), sec.name + ".name");
        name = given["name"].Scalar();
      }
      for (const auto& f : component_params(sec.registry, name).fields()) schema.add(f);
    }
    YAML::Node section(YAML::NodeType::Map);
    if (given && given.IsMap()) {
      for (const auto& kv : given) {
        const std::string key = kv.first.as<std::string>();
        if (!schema.find(key)) {
          const std::string path = sec.name + "." + key;
          std::vector<std::string> full;
          for (const auto& k : schema.keys()) full.push_back(k);
          fail(origin_of(origins, path, source), path,
               "unknown key" + text::did_you_mean(key, full) + " (allowed keys in '" + sec.name +
                   "': " + text::join(schema.keys(), ", ") + ")");
        }
      }
    }
    for (const auto& f : schema.fields()) {
      const std::string path = sec.name + "." + f.key;
      const Origin where = origin_of(origins, path, source);
      YAML::Node value = (given && given.IsMap() && given[f.key]) ? YAML::Clone(given[f.key]) : YAML::Node();
      if (!value || value.IsNull()) {
        if (f.required || f.default_yaml.empty()) fail(where, path, "required key is missing (" + f.help + ")");
        value = default_node(f);
      }
      if (f.type == Type::ComponentList) {
        value = resolve_components(f, value, origins, source, path);
      } else {
        check_value(f, value, where, path);
      }
      section[f.key] = value;
    }
    out[sec.name] = section;
  }
  return out;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

// ------------------------------------------------------------------------------- public API

YAML::Node load_raw(const fs::path& file, Origins* origins) {
  std::vector<std::string> stack;
  return load_file_recursive(file, stack, origins);
}

namespace {

Config finish(YAML::Node merged, const std::string& source, Origins origins, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) apply_override(merged, o, &origins);
  interpolate_env(merged, origins);
  YAML::Node resolved = validate(merged, origins, source);
  // experiment.name defaults to the config file's stem, fixed here so the resolved config
  // written into the run folder names its experiment.
  if (resolved["experiment"]["name"].as<std::string>().empty()) {
    std::string stem = fs::path(source).stem().string();
    resolved["experiment"]["name"] = stem.empty() ? std::string("experiment") : stem;
  }
  return Config(resolved, source, std::move(origins));
}

}  // namespace

Config load(const fs::path& file, const std::vector<std::string>& overrides) {
  Origins origins;
  YAML::Node merged = load_raw(file, &origins);
  return finish(merged, file.string(), std::move(origins), overrides);
}

Config load_string(const std::string& yaml, const std::string& name, const std::vector<std::string>& overrides,
                   const fs::path& base_dir) {
  YAML::Node doc;
  try {
    doc = checked(YAML::Load(yaml), name);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
  Origins origins;
  std::vector<std::string> stack;
  YAML::Node merged = resolve_bases(doc, name, base_dir, stack, &origins);
  return finish(merged, name, std::move(origins), overrides);
}

Config::Config(YAML::Node root, std::string source, Origins origins)
    : root_(std::move(root)), source_(std::move(source)), origins_(std::move(origins)) {}

namespace {
// Walks a dotted path without modifying `root` (yaml-cpp's operator= would assign through).
std::optional<YAML::Node> lookup(const YAML::Node& root, const std::string& path) {
  YAML::Node cur;
  cur.reset(root);
  for (const auto& part : text::split(path, '.')) {
    long long index = -1;
    if (cur.IsSequence() && text::parse_int(part, &index)) {  // list entries by number: "augment.train.0.scale"
      if (index < 0 || static_cast<size_t>(index) >= cur.size()) return std::nullopt;
      const YAML::Node next = static_cast<const YAML::Node&>(cur)[static_cast<size_t>(index)];
      cur.reset(next);
      continue;
    }
    if (!cur.IsMap()) return std::nullopt;
    const YAML::Node next = static_cast<const YAML::Node&>(cur)[part];
    if (!next) return std::nullopt;
    cur.reset(next);
  }
  return cur;
}
}  // namespace

YAML::Node Config::node(const std::string& path) const {
  auto n = lookup(root_, path);
  if (!n) throw std::logic_error("config: no key '" + path + "' in the resolved config");
  return *n;
}

bool Config::has(const std::string& path) const { return lookup(root_, path).has_value(); }

std::string Config::dump() const {
  YAML::Emitter e;
  e << root_;
  return std::string(e.c_str()) + "\n";
}

std::string Config::hash() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(dump())));
  return std::string(buf).substr(0, 12);
}

const Schema& component_params(const std::string& registry, const std::string& name) {
  auto& views = registry_views();
  auto it = views.find(registry);
  if (it == views.end()) throw std::logic_error("config: no registry '" + registry + "'");
  return it->second.meta(name).params;
}

std::vector<std::string> component_names(const std::string& registry) {
  auto& views = registry_views();
  auto it = views.find(registry);
  if (it == views.end()) throw std::logic_error("config: no registry '" + registry + "'");
  return it->second.names();
}

}  // namespace smlab::config
