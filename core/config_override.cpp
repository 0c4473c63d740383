// Command-line overrides ("a.b=value", list entries by number) and ${VAR} interpolation.
#include <cstdlib>
#include <functional>

#include "core/config.h"
#include "core/config_detail.h"
#include "core/text.h"

namespace smlab::config {

using namespace detail;

namespace {
/// Entry `index` (decimal text) of the list `seq`; anything else is a ConfigError naming `path`.
YAML::Node list_entry(const YAML::Node& seq, const std::string& index, const std::string& path) {
  long long i = -1;
  if (!text::parse_int(index, &i) || i < 0 || static_cast<size_t>(i) >= seq.size()) {
    throw ConfigError("command line: " + path + ": '" + index + "' is not an index of the list there (it has " +
                      std::to_string(seq.size()) + " entries, numbered from 0)");
  }
  YAML::Node out;
  out.reset(seq[static_cast<size_t>(i)]);
  return out;
}
}  // namespace

void apply_override(YAML::Node& root, const std::string& assignment, Origins* origins) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("command line: override '" + assignment + "' must look like key.sub=value");
  }
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  YAML::Node parsed;
  try {
    parsed = value.empty() ? YAML::Node(std::string()) : checked(YAML::Load(value), "command line: " + path);
  } catch (const YAML::Exception& e) {
    throw ConfigError("command line: " + path + ": cannot parse value '" + value + "': " + e.msg);
  }
  const auto parts = text::split(path, '.');
  for (const auto& part : parts)
    if (part.empty())
      throw ConfigError("command line: override '" + assignment + "': the key '" + path +
                        "' has an empty part (two dots, or a dot at an end); write it like train.epochs=3");
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur.IsSequence() ? list_entry(cur, parts[i], path) : cur[parts[i]];
    if (cur.IsSequence() && next.IsScalar()) {  // a plain name (`hflip`) gets keys: it becomes {name: hflip}
      YAML::Node entry(YAML::NodeType::Map);
      entry["name"] = next.Scalar();
      next = entry;  // yaml-cpp assigns through: the list entry itself becomes the map
    }
    if (!next || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    } else if (!next.IsMap() && !next.IsSequence()) {
      throw ConfigError("command line: " + path + ": '" + parts[i] + "' is a value, not a section");
    }
    cur.reset(next);
  }
  if (cur.IsSequence()) {
    YAML::Node entry = list_entry(cur, parts.back(), path);
    entry = parsed;  // assigns through to the list entry
  } else {
    cur[parts.back()] = parsed;
  }
  if (origins) (*origins)[path] = Origin{"command line", 0};
}

void interpolate_env(YAML::Node& root, const Origins& origins) {
  std::function<void(YAML::Node, const std::string&)> walk = [&](YAML::Node n, const std::string& path) {
    if (n.IsMap()) {
      for (auto kv : n) walk(kv.second, join_path(path, kv.first.as<std::string>()));
    } else if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i) walk(n[i], path);
    } else if (n.IsScalar()) {
      const std::string s = n.Scalar();
      if (s.find("${") == std::string::npos) return;
      std::string out;
      size_t i = 0;
      while (i < s.size()) {
        const size_t b = s.find("${", i);
        if (b == std::string::npos) {
          out += s.substr(i);
          break;
        }
        out += s.substr(i, b - i);
        const size_t e = s.find('}', b);
        if (e == std::string::npos) fail(origin_of(origins, path, ""), path, "unterminated '${' in '" + s + "'");
        const std::string expr = s.substr(b + 2, e - b - 2);
        const size_t dflt = expr.find(":-");
        const std::string var = expr.substr(0, dflt);
        const char* val = std::getenv(var.c_str());
        if (val && *val) {
          out += val;
        } else if (dflt != std::string::npos) {
          out += expr.substr(dflt + 2);
        } else {
          fail(origin_of(origins, path, ""), path,
               "environment variable " + var + " is not set (write ${" + var + ":-default} to give a default)");
        }
        i = e + 1;
      }
      n = out;
    }
  };
  walk(root, "");
}

}  // namespace smlab::config
