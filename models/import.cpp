#include "models/import.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace smlab::models {

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

std::string first_few(const std::vector<std::string>& items, size_t n) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < n; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > n) out += " (and " + std::to_string(items.size() - n) + " more)";
  return out;
}

void import_weights(torch::nn::Module& m, const std::filesystem::path& torchscript_file, bool strict) {
  const std::string file = torchscript_file.string();
  if (!std::filesystem::is_regular_file(torchscript_file)) {
    throw UserError("import_weights: no such file: " + file);
  }
  torch::jit::Module src;
  try {
    src = torch::jit::load(file, torch::kCPU);
  } catch (const c10::Error& e) {
    throw UserError("import_weights: " + file + " is not a readable TorchScript module: " + e.what_without_backtrace());
  }

  std::map<std::string, torch::Tensor> source;
  for (const auto& p : src.named_parameters(/*recurse=*/true)) source[p.name] = p.value;
  for (const auto& b : src.named_buffers(/*recurse=*/true)) source[b.name] = b.value;

  std::map<std::string, torch::Tensor> target;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) target[p.key()] = p.value();
  for (const auto& b : m.named_buffers(/*recurse=*/true)) target[b.key()] = b.value();

  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [name, t] : target) {
    auto it = source.find(name);
    if (it == source.end()) {
      missing.push_back(name);
    } else if (it->second.sizes() != t.sizes()) {
      mismatched.push_back(name + " (file " + shape_str(it->second) + ", model " + shape_str(t) + ")");
    }
  }
  for (const auto& [name, t] : source) {
    if (!target.count(name)) unexpected.push_back(name);
  }

  if (!mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    std::string msg = "import_weights: " + file + " does not match the model:";
    if (!mismatched.empty()) {
      msg += "\n  " + std::to_string(mismatched.size()) + " shape mismatch(es): " + first_few(mismatched);
    }
    if (strict && !missing.empty()) {
      msg += "\n  " + std::to_string(missing.size()) + " missing from the file: " + first_few(missing);
    }
    if (strict && !unexpected.empty()) {
      msg += "\n  " + std::to_string(unexpected.size()) + " unexpected in the file: " + first_few(unexpected);
    }
    throw UserError(msg);
  }

  torch::NoGradGuard no_grad;
  for (auto& [name, t] : target) {
    auto it = source.find(name);
    if (it != source.end()) t.copy_(it->second);
  }
}

}  // namespace smlab::models
