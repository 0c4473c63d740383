#include "trainers/finetune.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/import.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::trainers {

using models::first_few;  // the report formatting of smlab import-weights
using models::shape_str;

bool under_prefix(const std::string& name, const std::string& prefix) {
  return name.size() >= prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         (name.size() == prefix.size() || name[prefix.size()] == '.');
}

fs::path resolve_weights_file(const fs::path& path, const std::string& what) {
  if (path.empty()) throw UserError(what + " is empty");
  if (fs::is_regular_file(path)) return path;
  if (fs::is_directory(path)) {
    fs::path run = path;
    if (!fs::exists(run / "checkpoints") && fs::exists(run / "latest")) run = run / "latest";  // runs/<experiment>/
    for (const char* f : {"best.pt", "last.pt"}) {
      if (fs::is_regular_file(run / "checkpoints" / f)) return run / "checkpoints" / f;
    }
    throw UserError(what + ": " + path.string() + " is a folder but holds no checkpoints/best.pt or checkpoints/last.pt "
                    "(expected a run folder, an smlab checkpoint or a TorchScript file)");
  }
  throw UserError(what + ": no such file or folder: " + path.string());
}

std::map<std::string, torch::Tensor> read_weights(const fs::path& path, const std::string& what) {
  const fs::path file = resolve_weights_file(path, what);
  torch::jit::Module m;
  try {
    m = torch::jit::load(file.string(), torch::kCPU);
  } catch (const std::exception& e) {
    const auto* c10e = dynamic_cast<const c10::Error*>(&e);
    std::string why = c10e ? c10e->what_without_backtrace() : e.what();
    if (auto nl = why.find('\n'); nl != std::string::npos) why = why.substr(0, nl);
    throw UserError(what + ": " + file.string() + " is neither an smlab checkpoint nor a TorchScript module: " + why);
  }
  // smlab checkpoints (torch::serialize archives) keep the model's tensors in the `model` submodule.
  if (m.hasattr("format") && m.attr("format").isString()) {
    if (m.attr("format").toStringRef() != "smlab-checkpoint-1" || !m.hasattr("model"))
      throw UserError(what + ": " + file.string() + " has an unknown checkpoint format '" +
                      m.attr("format").toStringRef() + "'");
    m = m.attr("model").toModule();
  }
  std::map<std::string, torch::Tensor> out;
  for (const auto& a : m.named_attributes(/*recurse=*/true)) {
    if (a.value.isTensor()) out[a.name] = a.value.toTensor();
  }
  if (out.empty()) throw UserError(what + ": " + file.string() + " holds no tensors");
  return out;
}

std::string classifier_prefix(torch::nn::Module& model) {
  std::string last;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (item.value()->as<torch::nn::Linear>() != nullptr) last = item.key();
  }
  return last;
}

json InitReport::to_json() const {
  json j = {{"file", file}, {"loaded", loaded}, {"skipped", skipped}, {"unused", unused}};
  if (!source_status.empty()) j["source_status"] = source_status;
  return j;
}

bool InitReport::source_unfinished() const {
  return !source_status.empty() && !finished_status(source_status);
}

namespace {

/// The status of the run a checkpoint file belongs to (<run>/checkpoints/<file>): see InitReport.
std::string run_status(const fs::path& file) {
  if (file.parent_path().filename() != "checkpoints") return "";
  const fs::path run = file.parent_path().parent_path();
  if (!fs::exists(run / "config.yaml")) return "";  // not a run folder
  try {
    const json s = json::parse(read_file(run / "summary.json"));
    return s.value("status", "unfinished");
  } catch (const std::exception&) {
    return "unfinished";  // no summary yet, or one being written
  }
}

}  // namespace

std::string InitReport::summary() const {
  std::string s = "loaded " + std::to_string(loaded.size()) + " tensors from " + file;
  if (!skipped.empty()) s += "; skipped (freshly initialised): " + first_few(skipped, 4);
  if (!unused.empty()) s += "; unused from the file: " + first_few(unused, 4);
  return s;
}

InitReport init_from_weights(torch::nn::Module& model, const fs::path& path, bool strict, const std::string& what) {
  const auto source = read_weights(path, what);
  InitReport rep;
  rep.file = resolve_weights_file(path, what).string();
  rep.source_status = run_status(rep.file);
  std::vector<std::pair<std::string, torch::Tensor>> target;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) target.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers(/*recurse=*/true)) target.emplace_back(b.key(), b.value());
  const std::string head = classifier_prefix(model);

  // The classifier is replaced as a whole when any of its tensors does not fit.
  bool replace_head = false;
  std::vector<std::string> head_why;
  for (const auto& [name, t] : target) {
    if (head.empty() || !under_prefix(name, head)) continue;
    auto it = source.find(name);
    if (it == source.end()) {
      replace_head = true;
      head_why.push_back(name + " (not in the file)");
    } else if (it->second.sizes() != t.sizes()) {
      replace_head = true;
      head_why.push_back(name + " (file " + shape_str(it->second) + ", model " + shape_str(t) + ")");
    }
  }
  std::vector<std::string> mismatched, missing;
  std::set<std::string> known;
  for (const auto& [name, t] : target) {
    known.insert(name);
    if (replace_head && under_prefix(name, head)) continue;
    auto it = source.find(name);
    if (it == source.end()) missing.push_back(name);
    else if (it->second.sizes() != t.sizes())
      mismatched.push_back(name + " (file " + shape_str(it->second) + ", model " + shape_str(t) + ")");
  }
  for (const auto& [name, t] : source)
    if (!known.count(name)) rep.unused.push_back(name);
  if (!mismatched.empty() || (strict && (!missing.empty() || !rep.unused.empty()))) {
    std::string msg = what + ": " + rep.file + " does not fit the model";
    if (!head.empty()) msg += " (only the classifier '" + head + "' may differ, and is then replaced)";
    msg += ":";
    if (!mismatched.empty())
      msg += "\n  " + std::to_string(mismatched.size()) + " shape mismatch(es): " + first_few(mismatched, 5);
    if (strict && !missing.empty())
      msg += "\n  " + std::to_string(missing.size()) + " missing from the file: " + first_few(missing, 5);
    if (strict && !rep.unused.empty())
      msg += "\n  " + std::to_string(rep.unused.size()) + " in the file but not in the model: " + first_few(rep.unused, 5);
    if (strict && (!missing.empty() || !rep.unused.empty())) msg += "\n  (finetune.strict=false skips names missing on either side)";
    throw UserError(msg);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : target) {
    if (replace_head && under_prefix(name, head)) continue;
    auto it = source.find(name);
    if (it == source.end()) continue;  // non-strict
    t.copy_(it->second);
    rep.loaded.push_back(name);
  }
  if (replace_head) rep.skipped = head_why;
  for (const auto& m : missing) rep.skipped.push_back(m + " (not in the file)");
  return rep;
}

Freezer::Freezer(torch::nn::Module& model, std::vector<std::string> prefixes, const std::string& where)
    : model_(&model), prefixes_(std::move(prefixes)) {
  std::vector<std::string> unmatched;
  for (const auto& pre : prefixes_) {
    bool any = false;
    for (const auto& p : model.named_parameters(true)) any |= under_prefix(p.key(), pre);
    if (!any) unmatched.push_back("'" + pre + "'");
  }
  if (!unmatched.empty()) {
    std::vector<std::string> top;
    for (const auto& c : model.named_children()) {
      if (!c.value()->parameters(true).empty()) top.push_back(c.key());
    }
    for (const auto& p : model.named_parameters(false)) top.push_back(p.key());
    throw UserError(where + ": " + first_few(unmatched, 20) + (unmatched.size() == 1 ? " matches" : " match") +
                    " no parameter of the model; prefixes are dotted parameter-name prefixes such as " +
                    "'layer1' or 'layer1.0'; the model's top-level modules with parameters: " + first_few(top, 64));
  }
  for (const auto& p : model.named_parameters(true)) {
    ++total_params_;
    for (const auto& pre : prefixes_) {
      if (under_prefix(p.key(), pre)) {
        params_.push_back(p.value());
        break;
      }
    }
  }
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    bool inside = false;
    for (const auto& pre : prefixes_) inside |= under_prefix(item.key(), pre);
    if (inside && item.value()->named_buffers(/*recurse=*/false).contains("running_mean")) norms_.push_back(item.value());
  }
}

void Freezer::freeze() {
  if (prefixes_.empty()) return;
  if (static_cast<int64_t>(params_.size()) == total_params_)
    throw UserError("finetune.freeze [" + first_few(prefixes_, 64) + "] covers every parameter of the model: nothing would train");
  for (auto& p : params_) p.set_requires_grad(false);
  frozen_ = true;
  apply_modes();
}

void Freezer::unfreeze(bool model_training) {
  for (auto& p : params_) p.set_requires_grad(true);
  frozen_ = false;
  for (auto& m : norms_) m->train(model_training);
}

void Freezer::apply_modes() {
  if (!frozen_) return;
  for (auto& m : norms_) m->eval();
}

void add_param_groups(torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params, const config::Config& cfg) {
  const bool split = cfg.get<bool>("optim.no_decay_norm_bias");
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : params) (split && p.dim() <= 1 ? no_decay : decay).push_back(p);
  TORCH_CHECK(!opt.param_groups().empty(), "add_param_groups: the optimizer has no parameter group");
  if (!decay.empty()) opt.add_param_group(torch::optim::OptimizerParamGroup(decay, opt.param_groups()[0].options().clone()));
  if (!no_decay.empty()) {
    std::unique_ptr<torch::optim::OptimizerOptions> o = opt.param_groups()[0].options().clone();
    if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(o.get())) sgd->weight_decay(0);
    if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(o.get())) adamw->weight_decay(0);
    opt.add_param_group(torch::optim::OptimizerParamGroup(no_decay, std::move(o)));
  }
}

TrainState peek_state(const fs::path& checkpoint) {
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(checkpoint.string());
    c10::IValue state;
    ar.read("state", state);
    return TrainState::from_json(json::parse(state.toStringRef()));
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
    throw UserError("checkpoint " + checkpoint.string() + " is unreadable: " + what);
  }
}

}  // namespace smlab::trainers
