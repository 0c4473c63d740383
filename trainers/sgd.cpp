#include "trainers/sgd.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <memory>
#include <vector>

namespace smlab::trainers {

namespace {

using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

// True when every tensor is on the same CUDA device (the multi-tensor kernels' condition).
bool one_cuda_device(const std::vector<torch::Tensor>& ts) {
  if (ts.empty() || !ts.front().is_cuda()) return false;
  const auto d = ts.front().device();
  for (const auto& t : ts)
    if (t.device() != d || !t.is_cuda()) return false;
  return true;
}

}  // namespace

torch::Tensor SGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const SGDOptions&>(group.options());
    const double m = o.momentum(), lr = o.lr(), wd = o.weight_decay(), damp = o.dampening();
    std::vector<torch::Tensor> params, grads, bufs;  // bufs: momentum buffers that already exist
    std::vector<torch::Tensor> with_buf_grads;  // the gradients matching bufs
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      params.push_back(p);
      grads.push_back(wd != 0 ? p.grad().add(p, wd) : p.grad());
    }
    if (params.empty()) continue;
    const bool foreach = one_cuda_device(params);
    std::vector<torch::Tensor> steps(grads);  // what p moves along, times -lr
    torch::Tensor m_t;                        // the momentum as a 0-dim tensor (CPU path)
    if (m != 0) {
      for (size_t i = 0; i < params.size(); ++i) {
        auto it = state().find(params[i].unsafeGetTensorImpl());
        if (it == state().end()) {  // first step: the buffer is the gradient itself
          auto st = std::make_unique<SGDParamState>();
          st->momentum_buffer(grads[i].detach().clone());
          steps[i] = st->momentum_buffer();
          state()[params[i].unsafeGetTensorImpl()] = std::move(st);
          continue;
        }
        auto buf = static_cast<SGDParamState&>(*it->second).momentum_buffer();
        if (foreach) {
          bufs.push_back(buf);
          with_buf_grads.push_back(grads[i]);
        } else {
          // A 0-dim tensor of the buffer's dtype: Tensor::mul_(double) converts the scalar for every
          // parameter (five operators where this is one); the product is the same float.
          if (!m_t.defined() || m_t.scalar_type() != buf.scalar_type() || m_t.device() != buf.device())
            m_t = torch::scalar_tensor(m, buf.options());
          buf.mul_(m_t).add_(grads[i], 1 - damp);
        }
        steps[i] = buf;
      }
      if (foreach && !bufs.empty()) {
        at::_foreach_mul_(bufs, m);
        at::_foreach_add_(bufs, with_buf_grads, 1 - damp);
      }
      if (o.nesterov()) {
        if (foreach) steps = at::_foreach_add(grads, steps, m);
        else
          for (size_t i = 0; i < steps.size(); ++i) steps[i] = grads[i].add(steps[i], m);
      }
    }
    if (foreach) {
      at::_foreach_add_(params, steps, -lr);
    } else {
      for (size_t i = 0; i < params.size(); ++i) params[i].add_(steps[i], -lr);
    }
  }
  return loss;
}

void clear_grads(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) p.mutable_grad().reset();
}

}  // namespace smlab::trainers
