// Fuzzes checkpoint and artifact metadata: the zip CRC check that runs before every checkpoint or
// artifact is loaded (smlab::verify_zip_crc, core/zip_check.cpp), an artifact's smlab.json
// (inference::ArtifactSpec::from_json, inference/artifact.cpp) and a checkpoint's training state
// (trainers::TrainState::from_json, trainers/train_state.cpp).
// Input: the bytes are checked as a zip archive, and parsed as JSON for the two metadata readers (the
// callers turn a JSON syntax error into a UserError themselves). A spec that was read must survive
// to_json -> from_json unchanged in meaning.
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/zip_check.h"
#include "fuzz_common.h"
#include "inference/artifact.h"
#include "trainers/train_state.h"

int smlab_fuzz_metadata(const uint8_t* data, size_t size) {
  using namespace smlab;
  const auto dir = fuzz::scratch();
  fuzz::write_file(dir / "model.pt", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::run([&] { (void)verify_zip_crc(dir / "model.pt", "artifact"); });
  const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  fuzz::run([&] {
    const auto spec = inference::ArtifactSpec::from_json(j, "model.pt");
    try {
      const auto again = inference::ArtifactSpec::from_json(spec.to_json(), "model.pt");
      if (again.to_json() != spec.to_json()) throw std::logic_error("artifact metadata changes when written and read");
    } catch (const UserError& e) {
      throw std::logic_error(std::string("artifact metadata that was read cannot be read back: ") + e.what());
    }
  });
  fuzz::run([&] {
    const auto s = trainers::TrainState::from_json(j);
    (void)trainers::TrainState::from_json(s.to_json());
  });
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_metadata)
