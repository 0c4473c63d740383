// CUDA-graph capture of the whole training step (train.cuda_graphs): forward, loss, backward,
// gradient clipping and the optimizer update are recorded once into a CUDA graph and replayed
// for every later batch, which removes the per-kernel launch cost of small models.
//
// How: the first kWarmupSteps steps run eagerly on a side stream (this creates the optimizer
// state, cuDNN/cuBLAS handles and workspaces); the next step sets the gradients to None, captures
// the step reading static input/target buffers, and every step from then on copies its batch into
// those buffers and replays the graph. The learning rate lives in a device tensor that is refilled
// before each replay, so LR schedules work; AdamW's step count is a device tensor advanced inside
// the graph (and the optimizer's host-side count alongside it, so checkpoints stay correct).
// The optimizer update is a capturable re-implementation of LibTorch's SGD and AdamW steps that
// updates the optimizer's own state tensors (momentum buffers, moments) in place.
//
// Constraints (checked by cuda_graph_refusal, reported naming train.cuda_graphs): a CUDA device,
// static shapes (data.drop_last: true; every batch must have the captured shape), grad_accum 1,
// one process (no DDP), amp none or bf16 (fp16's loss scaler skips steps from the host), and the
// sgd or adamw optimizer. Models and losses must not synchronise with the host in training mode.
//
// Example (inside the trainer):
//   GraphedStep g(optimizer, [&](auto& x, auto& y) { return loss_fn(model.forward(x), y); }, /*grad_clip=*/0, device);
//   for (batch ...) { auto loss = g.step(x, y); window += loss; }
#pragma once
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "models/model.h"
#include "trainers/optim.h"

namespace smlab::trainers {

/// Why train.cuda_graphs cannot be used here ("" when it can). `world` is the number of processes.
std::string cuda_graph_refusal(const config::Config& cfg, const c10::Device& device, int world);

/// Whether this smlab was compiled with CUDA (graph capture is compiled in).
bool cuda_graphs_compiled();

class GraphedStep {
 public:
  /// Forward pass and loss of one batch (under the trainer's autocast), returning the loss.
  using ForwardLoss = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& y)>;
  /// Eager steps before the capture.
  static constexpr int kWarmupSteps = 3;

  /// `optimizer` must be LibTorch's SGD or AdamW (as built by build_optimizer); its parameter
  /// groups' learning rates are read at every step. grad_clip > 0 clips the global L2 norm.
  GraphedStep(torch::optim::Optimizer& optimizer, ForwardLoss forward_loss, double grad_clip, const c10::Device& device);
  ~GraphedStep();
  GraphedStep(const GraphedStep&) = delete;
  GraphedStep& operator=(const GraphedStep&) = delete;

  /// One optimizer step on (x, y), both on the device: forward, loss, backward, clipping, update.
  /// Returns the loss as a device scalar; it is overwritten by the next call.
  /// Throws UserError when the batch shape differs from the captured one or the capture fails.
  torch::Tensor step(const torch::Tensor& x, const torch::Tensor& y);

  /// Steps run so far, and whether the graph has been captured.
  int64_t steps() const { return steps_; }
  bool captured() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t steps_ = 0;
};

}  // namespace smlab::trainers
