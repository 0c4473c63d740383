// Taps: named points in a model's forward where an analysis may read or replace an activation,
// the C++ counterpart of PyTorch's forward hooks (the C++ frontend has none).
//
//   h = models::tap("layer4", stages_[3]->forward(h));   // in a model's forward
//
//   models::TapScope scope([&](const std::string& name, const torch::Tensor& t) {
//     if (name == "layer4") kept = t;                     // read (Grad-CAM) ...
//     return t;                                           // ... or return a replacement (IG)
//   });
//   model->forward(x);
//
// Outside a TapScope a tap is the identity and records nothing, so training, export (tracing)
// and scoring are unchanged. The scope is per thread. The names follow the model's registered
// submodules ("layer4", "convs.0", "embedding"), so that they match PyTorch's module paths.
#pragma once
#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>

namespace smlab::models {

using TapFn = std::function<torch::Tensor(const std::string& name, const torch::Tensor& t)>;

/// `t`, or what the current thread's TapScope returns for it.
torch::Tensor tap(const std::string& name, const torch::Tensor& t);

/// Installs `fn` for the current thread until the scope ends (scopes nest; the inner one wins).
class TapScope {
 public:
  explicit TapScope(TapFn fn);
  ~TapScope();
  TapScope(const TapScope&) = delete;
  TapScope& operator=(const TapScope&) = delete;

 private:
  TapFn previous_;
};

/// Prefixes the names of the taps reached while it lives ("backbone." + "layer4"), for a model that
/// runs another registered model as a submodule; nothing at all outside a TapScope.
class TapPrefix {
 public:
  explicit TapPrefix(const std::string& prefix);
  TapPrefix(const TapPrefix&) = delete;
  TapPrefix& operator=(const TapPrefix&) = delete;

 private:
  std::optional<TapScope> scope_;
};

}  // namespace smlab::models
