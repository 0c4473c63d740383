// Registries of components that configs select by name.
//
// A component is a factory (`make`) plus a one-line help text and the schema of its own
// config parameters. Each kind of component has one registry (models, datasets, optimizers,
// schedulers, losses, metrics, augmentations) owned by its folder; every registry is also
// exposed here through a type-erased view, so that the config validator, `smlab info` and the
// generated docs/configs.md see all of them the same way.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"

namespace smlab {

struct ComponentMeta {
  std::string help;
  config::Schema params;
};

template <class Fn>
struct Component : ComponentMeta {
  Fn make;
  Component(std::string help_, config::Schema params_, Fn make_)
      : ComponentMeta{std::move(help_), std::move(params_)}, make(std::move(make_)) {}
};

template <class Fn>
using ComponentRegistry = Registry<Component<Fn>>;

/// What the config layer, the CLI and the docs need to know of a registry.
struct RegistryView {
  std::function<std::vector<std::string>()> names;
  std::function<const ComponentMeta&(const std::string&)> meta;  ///< throws UserError for unknown names
};

/// Registry kind ("model", "dataset", ...) -> view. Filled by expose().
std::map<std::string, RegistryView>& registry_views();

/// Any registry whose entries derive from ComponentMeta (Component<Fn>, or a richer entry such as
/// datasets::AugmentComponent).
template <class Entry>
void expose(const Registry<Entry>& r) {
  registry_views()[r.kind()] = RegistryView{
      [&r] { return r.names(); },
      [&r](const std::string& name) -> const ComponentMeta& { return r.get(name); }};
}

}  // namespace smlab
