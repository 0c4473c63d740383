// SGD with momentum as Python's torch.optim.SGD runs it, and a gradient reset as Python's
// zero_grad(set_to_none=True) does it: the training step dispatches no more operators than its
// Python peer (bench/train_step.py --ops, tests/python/test_op_counts.py).
//
// smlab::trainers::SGD is a torch::optim::SGD (same options, same SGDParamState momentum buffers,
// so checkpoints written by either load in the other) whose step() differs in how it dispatches:
//   * on CPU, per parameter: buf.mul_(m).add_(g, 1 - dampening); p.add_(buf or g + m * buf, -lr),
//     as torch.optim.SGD's single-tensor path, without LibTorch's extra per-parameter operators;
//   * when every parameter with a gradient is on one CUDA device, one multi-tensor (_foreach)
//     call per term for all of them, as torch.optim.SGD does there by default (foreach=None).
// The arithmetic is the same in both paths and as upstream's; tests/unit/test_sgd.cpp compares
// them with torch::optim::SGD step by step.
#pragma once
#include <torch/optim/optimizer.h>
#include <torch/optim/sgd.h>

namespace smlab::trainers {

class SGD : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

/// Drops every parameter's gradient (Python's zero_grad(set_to_none=True)): no operator is
/// dispatched, unlike LibTorch's Optimizer::zero_grad, which detaches each gradient first.
void clear_grads(torch::optim::Optimizer& opt);

}  // namespace smlab::trainers
