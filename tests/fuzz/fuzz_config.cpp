// Fuzzes the YAML config loader (core/config.cpp): `_base_` files, merging, origins, the alias and
// nesting limits, environment interpolation and validation against the experiment schema.
// Input: a main YAML file, optionally followed by "\n#--- base\n" and a base file (base.yaml, which
// the main file can name in `_base_`), then optionally "\n#--- overrides\n" and one "key=value"
// override per line. The main file is loaded both from disk (config::load) and from memory
// (config::load_string), and a loaded config is dumped and hashed.
#include <string>
#include <vector>

#include "core/config.h"
#include "fuzz_common.h"
#include "fuzz_registries.h"

int smlab_fuzz_config(const uint8_t* data, size_t size) {
  using namespace smlab;
  fuzz::register_stand_in_components();
  const auto parts = fuzz::split_parts(data, size, "\n#--- base\n", 2);
  const auto rest = fuzz::split_parts(reinterpret_cast<const uint8_t*>(parts.back().data()), parts.back().size(),
                                      "\n#--- overrides\n", 2);
  const std::string main = parts.size() > 1 ? parts[0] : rest[0];
  const std::string base = parts.size() > 1 ? rest[0] : "";
  std::vector<std::string> overrides;
  if (rest.size() > 1)
    for (const auto& line : fuzz::split_parts(reinterpret_cast<const uint8_t*>(rest[1].data()), rest[1].size(), "\n", 8))
      overrides.push_back(line);
  const auto dir = fuzz::scratch();
  fuzz::write_file(dir / "main.yaml", main);
  fuzz::write_file(dir / "base.yaml", base);
  fuzz::run([&] {
    const auto cfg = config::load(dir / "main.yaml", overrides);
    (void)cfg.hash();
  });
  fuzz::run([&] { (void)config::load_string(main, "fuzz.yaml", {}, dir).dump(); });
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_config)
