// Fuzzes the command-line override parser (config::apply_override, core/config_override.cpp) and
// environment interpolation. Input: one "key.sub=value" assignment per line (at most 16), applied in
// turn to a small document with maps, lists and a component list; then interpolate_env.
#include <map>
#include <string>

#include "core/config.h"
#include "fuzz_common.h"

int smlab_fuzz_override(const uint8_t* data, size_t size) {
  using namespace smlab;
  YAML::Node root = YAML::Load(
      "train: {epochs: 3, lr: 0.1}\n"
      "model: {name: mlp, hidden: [64, 32]}\n"
      "augment: {train: [hflip, {name: crop, scale: [0.5, 1]}]}\n"
      "data: {path: '${SMLAB_FUZZ_UNSET:-data}'}\n");
  std::map<std::string, config::Origin> origins;
  for (const auto& line : fuzz::split_parts(data, size, "\n", 16))
    fuzz::run([&] { config::apply_override(root, line, &origins); });
  fuzz::run([&] { config::interpolate_env(root, origins); });
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_override)
