#include "trainers/checkpoint.h"

#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/zip_check.h"

namespace fs = std::filesystem;

namespace smlab::trainers {

namespace {

std::vector<c10::Device> rng_devices() {
  std::vector<c10::Device> out = {c10::Device(c10::kCPU)};
  for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i)
    out.emplace_back(c10::kCUDA, static_cast<c10::DeviceIndex>(i));
  return out;
}

std::string rng_key(const c10::Device& d) { return "rng_" + d.str(); }

}  // namespace

void save_checkpoint(const fs::path& path, models::Model& model, torch::optim::Optimizer* optimizer,
                     const TrainState& state, const CheckpointExtras& extras) {
  torch::serialize::OutputArchive ar;
  torch::serialize::OutputArchive model_ar;
  model.save(model_ar);
  ar.write("model", model_ar);
  if (optimizer) {
    torch::serialize::OutputArchive opt_ar;
    optimizer->save(opt_ar);
    ar.write("optimizer", opt_ar);
  }
  ar.write("state", c10::IValue(state.to_json().dump()));
  ar.write("format", c10::IValue(std::string("smlab-checkpoint-1")));
  for (const auto& d : rng_devices()) ar.write(rng_key(d), at::globalContext().defaultGenerator(d).get_state());
  for (size_t i = 0; i < extras.ema.size(); ++i) ar.write("ema/" + std::to_string(i), extras.ema[i]);
  ar.write("ema_count", c10::IValue(static_cast<int64_t>(extras.ema.size())));
  if (extras.scaler_scale.defined()) {
    ar.write("scaler/scale", extras.scaler_scale);
    ar.write("scaler/growth", extras.scaler_growth);
  }
  // Serialised in memory first, then written by write_file_atomic: PyTorch's file writer aborts the
  // process when the disk fills up (its destructor throws), while ours reports it as one line and
  // removes the temporary file.
  std::string bytes;
  ar.save_to([&bytes](const void* data, size_t n) -> size_t {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  write_file_atomic(path, bytes);
}

TrainState load_checkpoint(const fs::path& path, models::Model& model, torch::optim::Optimizer* optimizer,
                           CheckpointExtras* extras, bool restore_rng) {
  if (!fs::exists(path)) throw UserError("checkpoint " + path.string() + " does not exist");
  verify_zip_crc(path, "checkpoint");  // PyTorch's reader never checks the records' CRCs
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path.string());
    c10::IValue format;
    if (!ar.try_read("format", format) || format.toStringRef() != "smlab-checkpoint-1") {
      throw UserError("checkpoint " + path.string() + " is not an smlab checkpoint (format marker missing)");
    }
    torch::serialize::InputArchive model_ar;
    ar.read("model", model_ar);
    model.load(model_ar);
    if (optimizer) {
      torch::serialize::InputArchive opt_ar;
      ar.read("optimizer", opt_ar);
      optimizer->load(opt_ar);
    }
    c10::IValue state;
    ar.read("state", state);
    if (restore_rng) {
      for (const auto& d : rng_devices()) {
        torch::Tensor s;
        if (ar.try_read(rng_key(d), s)) {
          at::Generator gen = at::globalContext().defaultGenerator(d);  // a handle to the global generator
          gen.set_state(s);
        }
      }
    }
    if (extras) {
      c10::IValue n;
      ar.read("ema_count", n);
      extras->ema.clear();
      for (int64_t i = 0; i < n.toInt(); ++i) {
        torch::Tensor t;
        ar.read("ema/" + std::to_string(i), t);
        extras->ema.push_back(t);
      }
      torch::Tensor scale, growth;
      if (ar.try_read("scaler/scale", scale) && ar.try_read("scaler/growth", growth)) {
        extras->scaler_scale = scale;
        extras->scaler_growth = growth;
      }
    }
    return TrainState::from_json(nlohmann::json::parse(state.toStringRef()), "checkpoint " + path.string());
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
    throw UserError("checkpoint " + path.string() + " is unreadable or does not match the model: " + what);
  }
}

}  // namespace smlab::trainers
