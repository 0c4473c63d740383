// open_run (open_run.h).
#include "inference/open_run.h"

#include "core/device.h"
#include "core/error.h"
#include "trainers/checkpoint.h"

namespace smlab::inference {
namespace fs = std::filesystem;

Checkpoint parse_checkpoint(const std::string& s) {
  if (s == "best") return Checkpoint::Best;
  if (s == "last") return Checkpoint::Last;
  throw UsageError("--checkpoint must be best or last, got '" + s + "'");
}

std::string checkpoint_name(Checkpoint c) { return c == Checkpoint::Best ? "best" : "last"; }

OpenedRun open_run(const fs::path& dir, Checkpoint which, std::optional<c10::Device> device,
                   const std::vector<std::string>& overrides, const DataBuilder& data) {
  const RunDir run = RunDir::open(dir);
  auto cfg = config::load(run.config_file(), overrides);
  const c10::Device dev = device ? *device : resolve_device(cfg.get<std::string>("experiment.device"));
  auto ds = data ? data(cfg) : datasets::build(cfg, datasets::Split::Train);
  auto model = models::build(cfg, ds->info());
  const fs::path ckpt = run.checkpoints() / (checkpoint_name(which) + ".pt");
  trainers::load_checkpoint(ckpt, *model, nullptr, nullptr, /*restore_rng=*/false);
  model->to(dev);
  model->eval();
  auto info = ds->info();
  return OpenedRun{run, std::move(cfg), std::move(ds), std::move(info), std::move(model), ckpt, dev};
}

}  // namespace smlab::inference
