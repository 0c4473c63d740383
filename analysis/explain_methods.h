// The registry of attribution methods behind `smlab explain`: each entry has its help, the schema
// of the parameters it reads, the input kinds it fits, and whether it needs the run folder (the
// C++ model with its taps) or also works through a TorchScript artifact's forward.
//
//   auto& m = explain::method_registry().get("grad_cam");       // unknown: lists the known ones
//   auto a = explain::run_method("integrated_gradients", subject, targets, params);
//   a.scores;   // image [B, H, W], clip [B, T, H, W], tokens [B, L], features [B, F], series [B, T, F]
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "analysis/explain.h"
#include "core/components.h"
#include "core/registry.h"
#include "models/model.h"

namespace smlab::analysis::explain {

/// What is explained: a differentiable forward over `x` and what kind of input `x` is. Images and
/// clips are float pixels NC(T)HW in [0, 255] (the forward normalises them); tokens are int64 ids
/// [B, L] with 0 = padding; features [B, F]; series [B, T, F].
struct Subject {
  Forward forward;
  torch::Tensor x;
  models::InputKind kind = models::InputKind::Image;
  bool has_taps = true;  ///< false for a TorchScript artifact: no layer methods
  std::string name;      ///< the run or artifact, for errors
};

/// Parameters of the methods (each method's schema says which it reads, with ranges).
struct MethodParams {
  std::string layer;  ///< "" = the method's default layer
  int64_t steps = 64;
  Rule rule = Rule::GaussLegendre;
  int64_t samples = 25;
  double noise = 0.15;
  uint64_t seed = 0;
};

struct Attribution {
  torch::Tensor scores;  ///< see the header comment; float, on the CPU
  std::string layer;     ///< the layer used ("" = the input)
  std::string over;      ///< what the scores are attributed to: "pixels", "tokens", "features", ...
};

using MethodFn = std::function<Attribution(const Subject&, const torch::Tensor& target, const MethodParams&)>;

struct Method : Component<MethodFn> {
  std::vector<models::InputKind> kinds;
  bool needs_run = false;  ///< needs the C++ model's taps (Grad-CAM, text embeddings)
  Method(std::string help_, config::Schema params_, MethodFn make_, std::vector<models::InputKind> kinds_,
         bool needs_run_)
      : Component<MethodFn>(std::move(help_), std::move(params_), std::move(make_)),
        kinds(std::move(kinds_)),
        needs_run(needs_run_) {}
};

Registry<Method>& method_registry();
/// Fills the registry (from smlab::register_all()).
void register_methods();

/// The methods that fit `kind` (and a TorchScript artifact when `artifact`), in registry order.
std::vector<std::string> methods_for(models::InputKind kind, bool artifact);
/// The default method of a kind: grad_cam for images and clips, integrated_gradients otherwise.
std::string default_method(models::InputKind kind);

/// Runs method `name` after checking that it fits `s` (a UserError saying which methods do) and
/// that `p` is within the method's schema ranges.
Attribution run_method(const std::string& name, const Subject& s, const torch::Tensor& target, const MethodParams& p);

}  // namespace smlab::analysis::explain
