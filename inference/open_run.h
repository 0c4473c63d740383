// Reopening a trained run: the one way every verb and analysis gets a run's model back.
//
//   auto r = smlab::inference::open_run("runs/quickstart/latest", Checkpoint::Best, torch::kCPU);
//   r.model->forward(x);   // eval mode, checkpoint loaded, on the device
//
// open_run = RunDir::open -> config::load (the run's resolved config.yaml + overrides) -> the
// data (datasets::build on the train split, or the caller's builder) -> models::build ->
// load_checkpoint -> to(device) -> eval().
#pragma once
#include <c10/core/Device.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/run_dir.h"
#include "datasets/dataset.h"
#include "models/model.h"

namespace smlab::inference {

enum class Checkpoint { Best, Last };

/// "best" or "last"; anything else is a UsageError: "--checkpoint must be best or last, got 'x'".
Checkpoint parse_checkpoint(const std::string& s);
std::string checkpoint_name(Checkpoint c);

struct OpenedRun {
  RunDir run;
  config::Config cfg;
  std::shared_ptr<datasets::Dataset> data;  ///< what the model was built for (see DataBuilder)
  datasets::DatasetInfo info;
  models::ModelPtr model;  ///< eval mode, checkpoint loaded, on `device`
  std::filesystem::path checkpoint;
  c10::Device device;
};

/// Builds the dataset the model is sized from; default: datasets::build(cfg, Split::Train).
using DataBuilder = std::function<std::shared_ptr<datasets::Dataset>(const config::Config&)>;

/// Opens run folder `dir` (the `latest` link works) at checkpoint `which`. `device`: nothing =
/// the config's experiment.device. Throws UserError for a missing run, config or checkpoint.
OpenedRun open_run(const std::filesystem::path& dir, Checkpoint which, std::optional<c10::Device> device,
                   const std::vector<std::string>& overrides = {}, const DataBuilder& data = {});

}  // namespace smlab::inference
