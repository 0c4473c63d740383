#include "core/components.h"

namespace smlab {

std::map<std::string, RegistryView>& registry_views() {
  static std::map<std::string, RegistryView> views;
  return views;
}

}  // namespace smlab
