// Typed YAML experiment configs.
//
// One YAML file fully describes a run. A file may start from others with `_base_`
// (a path or a list of paths, relative to the file) and then holds only what it changes.
// Values may use `${VAR}` / `${VAR:-default}` environment interpolation (e.g. ${SMLAB_DATA}),
// and the command line may override any key as `key.sub=value`.
//
// The schema gives every key a type, a default, and a range or a set of choices. Sections whose
// `name` picks a registered component (model, data, optim, sched, loss) accept that component's
// own parameters as well. Every error names the file, the line, the key path, and what is allowed.
//
// Example:
//   auto cfg = smlab::config::load("experiments/quickstart.yaml", {"train.epochs=3"});
//   int epochs = cfg.get<int>("train.epochs");
#pragma once
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace smlab::config {

/// A config error: the message names file:line, the key path and what is allowed.
class ConfigError : public UserError {
 public:
  using UserError::UserError;
};

/// ComponentList: a list whose entries are registered component names (`hflip`) or maps
/// `{name: hflip, p: 0.3}` of a name and that component's own parameters (Field::registry names the
/// registry). The resolved config holds every entry as a map with all parameters filled.
enum class Type { Bool, Int, Float, String, IntList, FloatList, StringList, ComponentList };
std::string type_name(Type t);

/// One key of a schema. `key` is relative to the schema's section ("epochs", "amp").
struct Field {
  Field() = default;
  Field(std::string key_, Type type_, std::string default_yaml_, std::string help_)
      : key(std::move(key_)), type(type_), default_yaml(std::move(default_yaml_)), help(std::move(help_)) {}

  std::string key;
  Type type = Type::String;
  std::string default_yaml;          ///< default as YAML text ("0.1", "[64, 32]", "none"); "" = no default
  std::string help;
  std::optional<double> min, max;    ///< numeric range (for lists: each element)
  bool min_exclusive = false;
  std::vector<std::string> choices;  ///< allowed strings; empty = any
  std::string registry;              ///< choices come from this registry kind ("model", ...)
  bool required = false;
};

/// A list of fields with builder helpers:
///   Schema().integer("epochs", 10, "epochs to train", 1).choice("amp", "none", {"none","bf16","fp16"}, "...")
class Schema {
 public:
  Schema& add(Field f);
  Schema& boolean(const std::string& key, bool def, const std::string& help);
  Schema& integer(const std::string& key, long long def, const std::string& help,
                  std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  Schema& number(const std::string& key, double def, const std::string& help,
                 std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt,
                 bool min_exclusive = false);
  Schema& string(const std::string& key, const std::string& def, const std::string& help);
  Schema& choice(const std::string& key, const std::string& def, std::vector<std::string> choices,
                 const std::string& help);
  Schema& list(const std::string& key, Type type, const std::string& def_yaml, const std::string& help,
               std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);

  const std::vector<Field>& fields() const { return fields_; }
  const Field* find(const std::string& key) const;
  std::vector<std::string> keys() const;

 private:
  std::vector<Field> fields_;
};

/// Where a value came from, for error messages.
struct Origin {
  std::string file;  ///< file path, or "command line"
  int line = 0;      ///< 1-based; 0 when unknown
  std::string str() const;
};

/// A resolved, validated config: every key of the schema present, defaults filled.
class Config {
 public:
  Config() = default;
  Config(YAML::Node root, std::string source, std::map<std::string, Origin> origins);

  /// The value at a dotted path ("train.epochs"). Throws std::logic_error for a path the
  /// resolved config lacks (a programming error: the schema guarantees every key).
  template <class T>
  T get(const std::string& path) const {
    return node(path).as<T>();
  }
  bool has(const std::string& path) const;
  YAML::Node node(const std::string& path) const;
  const YAML::Node& root() const { return root_; }

  /// The component name of a section ("model" -> "resnet20").
  std::string name_of(const std::string& section) const { return get<std::string>(section + ".name"); }
  /// The resolved config as YAML text (stable key order), as written to the run folder.
  std::string dump() const;
  /// 12 hex digits of a hash of dump(): identifies the exact configuration.
  std::string hash() const;
  const std::string& source() const { return source_; }
  const std::map<std::string, Origin>& origins() const { return origins_; }

 private:
  YAML::Node root_;
  std::string source_;
  std::map<std::string, Origin> origins_;
};

/// Loads a YAML file, resolves `_base_`, applies `overrides` ("a.b=value"), interpolates
/// environment variables, validates against the schema and fills defaults.
Config load(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

/// Same, from YAML text; `name` stands for the file in messages and `_base_` resolves
/// relative to `base_dir`.
Config load_string(const std::string& yaml, const std::string& name, const std::vector<std::string>& overrides = {},
                   const std::filesystem::path& base_dir = ".");

/// Reads a YAML file with `_base_` resolved and origins tracked, but no validation.
/// Used by the sweep loader, whose files have their own schema.
YAML::Node load_raw(const std::filesystem::path& file, std::map<std::string, Origin>* origins = nullptr);

/// Applies one "a.b=value" override to `root` (value parsed as YAML). Throws ConfigError.
/// A number indexes a list (`augment.train.0.scale=[0.5,1]`); a list entry given as a plain name
/// becomes the map {name: that name} when one of its keys is set.
void apply_override(YAML::Node& root, const std::string& assignment, std::map<std::string, Origin>* origins);

/// Replaces ${VAR} and ${VAR:-default} in every string scalar. An unset variable with no
/// default is an error naming the key and the variable.
void interpolate_env(YAML::Node& root, const std::map<std::string, Origin>& origins);

// ----------------------------------------------------------------------------------------
// The experiment schema
// ----------------------------------------------------------------------------------------

/// A config section (e.g. "train") with its fixed fields. When `registry` is non-empty the
/// section's `name` picks a component of that registry, and the component's own parameter
/// schema (component_params) is accepted in the same section.
struct Section {
  std::string name;
  std::string help;
  Schema fields;
  std::string registry;
};

/// Top-level sections of an experiment config.
const std::vector<Section>& experiment_sections();

/// The parameter schema of a registered component (e.g. registry "model", name "mlp").
/// Implemented by core/components.cpp from the registries.
const Schema& component_params(const std::string& registry, const std::string& name);
std::vector<std::string> component_names(const std::string& registry);

/// docs/configs.md, generated from the schema and the registries.
std::string render_docs();

}  // namespace smlab::config
