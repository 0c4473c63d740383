// Stand-in component registries for the config harnesses: the fuzz build links only the parsing code,
// not the models, datasets and optimizers that fill the real registries (tools/register_all.cpp).
// Every registry kind the experiment schema names gets two components, "alpha" (no parameters) and
// "beta" (an integer, a bounded number, a choice and a list), and any name passes as one of them,
// so that validation runs past the component lookups. Where a registry is already exposed (the
// normal test build, after register_all), the real one stays.
#pragma once
#include <set>

#include "core/components.h"
#include "core/config.h"

namespace smlab::fuzz {

inline void register_stand_in_components() {
  static const bool done = [] {
    static const ComponentMeta alpha{"stand-in without parameters", config::Schema()};
    static const ComponentMeta beta{"stand-in with parameters",
                                    config::Schema()
                                        .integer("k", 3, "an integer", 1, 64)
                                        .number("p", 0.5, "a probability", 0.0, 1.0)
                                        .choice("mode", "a", {"a", "b"}, "a choice")
                                        .list("sizes", config::Type::IntList, "[8, 4]", "a list", 1, 1024)};
    std::set<std::string> kinds;
    for (const auto& s : config::experiment_sections()) {
      if (!s.registry.empty()) kinds.insert(s.registry);
      for (const auto& f : s.fields.fields())
        if (!f.registry.empty()) kinds.insert(f.registry);
    }
    for (const auto& kind : kinds)
      if (!registry_views().count(kind))  // the normal test build has the real ones (register_all)
        registry_views()[kind] = RegistryView{
          [] { return std::vector<std::string>{"alpha", "beta"}; },
          [](const std::string& name) -> const ComponentMeta& { return name == "alpha" ? alpha : beta; }};
    return true;
  }();
  (void)done;
}

}  // namespace smlab::fuzz
