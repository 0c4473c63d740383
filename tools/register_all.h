// Explicit registration of every built-in component (models, datasets, optimizers, ...).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace smlab {

/// Fills every registry. Idempotent and thread-safe; the CLI and the tests call it first.
void register_all();

/// Every registry's kind mapped to its sorted names (for `smlab info` and the registry test).
std::map<std::string, std::vector<std::string>> registry_catalog();

}  // namespace smlab
