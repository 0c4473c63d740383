// One registry per component kind (models, datasets, optimizers, ...).
//
// Registration is explicit: each folder exposes a `register_*()` function that
// smlab::register_all() calls, so no static initialiser can be dropped by the linker.
// Registering a name twice is an error; an unknown name lists the known ones.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/text.h"

namespace smlab {

template <class Entry>
class Registry {
 public:
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  /// Adds `name`. Throws std::logic_error when the name is already taken.
  void add(const std::string& name, Entry entry) {
    if (entries_.count(name)) {
      throw std::logic_error("smlab: duplicate registration of " + kind_ + " '" + name + "'");
    }
    entries_.emplace(name, std::move(entry));
  }

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }

  /// The entry for `name`; an unknown name throws UserError listing the known names.
  const Entry& get(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      throw UserError("unknown " + kind_ + " '" + name + "'" + text::did_you_mean(name, names()) +
                      " (known " + kind_ + "s: " + text::join(names(), ", ") + ")");
    }
    return it->second;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }

  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::string& kind() const { return kind_; }
  void clear() { entries_.clear(); }

 private:
  std::string kind_;
  std::map<std::string, Entry> entries_;
};

}  // namespace smlab
