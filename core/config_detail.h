// Internals of the config loader shared by core/config.cpp (loading, validation) and
// core/config_override.cpp (command-line overrides, environment interpolation).
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "core/config.h"

namespace smlab::config::detail {

using Origins = std::map<std::string, Origin>;

/// Throws ConfigError "where: path: msg".
[[noreturn]] void fail(const Origin& where, const std::string& path, const std::string& msg);
/// The origin of `path` or of its nearest recorded parent; else `fallback_file` without a line.
Origin origin_of(const Origins& origins, const std::string& path, const std::string& fallback_file);
std::string join_path(const std::string& a, const std::string& b);
/// `doc` after checking it against the expansion and nesting limits (nested aliases); errors name `display`.
YAML::Node checked(YAML::Node doc, const std::string& display);

}  // namespace smlab::config::detail
