#include "trainers/cuda_graph.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <sstream>

#include "core/error.h"
#include "trainers/trainer_options.h"

#ifdef SMLAB_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace smlab::trainers {

bool cuda_graphs_compiled() {
#ifdef SMLAB_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string cuda_graph_refusal(const config::Config& cfg, const c10::Device& device, int world) {
  const TrainerOptions o = TrainerOptions::from_config(cfg);
  const std::string key = "train.cuda_graphs=true";
  if (!cuda_graphs_compiled()) return key + " needs an smlab built with CUDA; this build has no CUDA support";
  if (!device.is_cuda())
    return key + " needs a CUDA device, but the run is on " + device.str() +
           " (experiment.device, or no GPU present); set train.cuda_graphs=false";
  if (o.grad_accum != 1)
    return key + " captures one whole optimizer step per batch: it needs train.grad_accum=1 (got " +
           std::to_string(o.grad_accum) + ")";
  if (world > 1)
    return key + " is single-process only: distributed data parallel (" + std::to_string(world) +
           " processes) all-reduces from autograd hooks outside the graph";
  if (o.amp == Amp::FP16)
    return key + " does not support train.amp=fp16 (the loss scaler decides on the host whether to skip a step); "
                 "use train.amp=bf16 or none";
  if (!o.drop_last)
    return key + " needs static shapes: set data.drop_last=true so that every training batch has the same size";
  const std::string opt = cfg.name_of("optim");
  if (opt != "sgd" && opt != "adamw")
    return key + " has a capturable update for optim sgd and adamw only (got '" + opt + "')";
  return "";
}

#ifdef SMLAB_WITH_CUDA

struct GraphedStep::Impl {
  torch::optim::Optimizer& opt;
  ForwardLoss forward_loss;
  double grad_clip;
  c10::Device device;
  c10::cuda::CUDAStream side;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  torch::Tensor static_x, static_y, static_loss;
  std::vector<torch::Tensor> lr;  // one float64 device scalar per parameter group
  torch::Tensor adam_step;        // AdamW step count (float64 device scalar), advanced inside the graph
  bool adamw = false;

  Impl(torch::optim::Optimizer& o, ForwardLoss f, double clip, const c10::Device& d)
      : opt(o), forward_loss(std::move(f)), grad_clip(clip), device(d), side(c10::cuda::getStreamFromPool(false, d.index())) {
    for (auto& g : opt.param_groups()) {
      const bool is_sgd = dynamic_cast<torch::optim::SGDOptions*>(&g.options()) != nullptr;
      const bool is_adamw = dynamic_cast<torch::optim::AdamWOptions*>(&g.options()) != nullptr;
      if (!is_sgd && !is_adamw) throw UserError("train.cuda_graphs=true: the optimizer is neither SGD nor AdamW");
      adamw = is_adamw;
      if (is_adamw && static_cast<torch::optim::AdamWOptions&>(g.options()).amsgrad())
        throw UserError("train.cuda_graphs=true: AdamW with amsgrad has no capturable update");
    }
  }

  std::vector<torch::Tensor> params() const {
    std::vector<torch::Tensor> out;
    for (const auto& g : opt.param_groups())
      for (const auto& p : g.params()) out.push_back(p);
    return out;
  }

  /// An ordinary eager step (LibTorch optimizer), used for the warmup steps.
  torch::Tensor eager_step(const torch::Tensor& x, const torch::Tensor& y) {
    opt.zero_grad(true);
    auto loss = forward_loss(x, y);
    loss.backward();
    if (grad_clip > 0) clip_grad_norm(params(), grad_clip);
    opt.step();
    return loss.detach();
  }

  /// The optimizer update with the learning rate (and AdamW's step) read from device tensors:
  /// LibTorch's SGD::step / AdamW::step arithmetic, without host scalars that would be baked in.
  void capturable_update() {
    torch::NoGradGuard no_grad;
    auto& state = opt.state();
    if (adamw) adam_step.add_(1);
    for (size_t gi = 0; gi < opt.param_groups().size(); ++gi) {
      auto& group = opt.param_groups()[gi];
      const auto& lr_t = lr[gi];
      if (!adamw) {
        const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
        const auto neg_lr = -lr_t;
        for (auto& p : group.params()) {
          if (!p.grad().defined()) continue;
          auto d_p = p.grad();
          if (o.weight_decay() != 0) d_p = d_p.add(p, o.weight_decay());
          if (o.momentum() != 0) {
            auto it = state.find(p.unsafeGetTensorImpl());
            TORCH_CHECK(it != state.end(), "SGD momentum buffer missing after the warmup steps");
            auto& buf = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
            buf.mul_(o.momentum()).add_(d_p, 1 - o.dampening());
            d_p = o.nesterov() ? d_p.add(buf, o.momentum()) : buf;
          }
          p.addcmul_(d_p, neg_lr);  // p += -lr * d_p
        }
      } else {
        const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
        const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
        const auto bc1 = 1 - torch::pow(beta1, adam_step);
        const auto bc2_sqrt = (1 - torch::pow(beta2, adam_step)).sqrt();
        const auto neg_step_size = -lr_t / bc1;
        const auto decay = 1 - lr_t * o.weight_decay();
        for (auto& p : group.params()) {
          if (!p.grad().defined()) continue;
          auto grad = p.grad();
          if (o.weight_decay() != 0) p.mul_(decay);
          auto it = state.find(p.unsafeGetTensorImpl());
          TORCH_CHECK(it != state.end(), "AdamW state missing after the warmup steps");
          auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
          st.exp_avg().mul_(beta1).add_(grad, 1 - beta1);
          st.exp_avg_sq().mul_(beta2).addcmul_(grad, grad, 1 - beta2);
          auto denom = (st.exp_avg_sq().sqrt() / bc2_sqrt).add_(o.eps());
          p.addcmul_(st.exp_avg() / denom, neg_step_size);  // p += -lr / bc1 * exp_avg / denom
        }
      }
    }
  }

  /// AdamW's host-side step counts follow the device count, so that checkpoints hold it.
  void advance_host_step() {
    if (!adamw) return;
    auto& state = opt.state();
    for (auto& group : opt.param_groups())
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        auto it = state.find(p.unsafeGetTensorImpl());
        if (it == state.end()) continue;
        auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
        st.step(st.step() + 1);
      }
  }

  void fill_lr() {
    for (size_t gi = 0; gi < opt.param_groups().size(); ++gi) lr[gi].fill_(opt.param_groups()[gi].options().get_lr());
  }

  void capture(const torch::Tensor& x, const torch::Tensor& y) {
    torch::cuda::synchronize(device.index());
    static_x = x.clone();
    static_y = y.clone();
    lr.clear();
    for (size_t gi = 0; gi < opt.param_groups().size(); ++gi)
      lr.push_back(torch::zeros({}, torch::TensorOptions().device(device).dtype(torch::kDouble)));
    fill_lr();
    if (adamw) {
      int64_t count = -1;
      auto& state = opt.state();
      for (const auto& p : params()) {
        if (!p.requires_grad()) continue;
        auto it = state.find(p.unsafeGetTensorImpl());
        if (it == state.end()) continue;
        const int64_t s = static_cast<torch::optim::AdamWParamState&>(*it->second).step();
        if (count >= 0 && s != count)
          throw UserError("train.cuda_graphs=true: the AdamW parameters have different step counts (" +
                          std::to_string(count) + " and " + std::to_string(s) +
                          "); some parameters do not receive gradients every step");
        count = s;
      }
      adam_step = torch::full({}, static_cast<double>(std::max<int64_t>(count, 0)),
                              torch::TensorOptions().device(device).dtype(torch::kDouble));
    }
    opt.zero_grad(true);  // backward allocates the gradients from the graph's pool: static addresses
    const bool cache = at::autocast::is_autocast_cache_enabled();
    at::autocast::set_autocast_cache_enabled(false);  // casts must be recorded, not served from a cache
    graph = std::make_unique<at::cuda::CUDAGraph>();
    try {
      // Capture on the side stream (capture is not allowed on the default stream).
      at::cuda::CUDAEvent ready;
      ready.record(c10::cuda::getCurrentCUDAStream(device.index()));
      ready.block(side);
      {
        c10::cuda::CUDAStreamGuard guard(side);
        graph->capture_begin();
        auto loss = forward_loss(static_x, static_y);
        loss.backward();
        if (grad_clip > 0) clip_grad_norm(params(), grad_clip);
        capturable_update();
        static_loss = loss.detach();
        graph->capture_end();
      }
      at::cuda::CUDAEvent done;
      done.record(side);
      done.block(c10::cuda::getCurrentCUDAStream(device.index()));
    } catch (const std::exception& e) {
      at::autocast::set_autocast_cache_enabled(cache);
      graph.reset();
      std::string what = e.what();
      if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
      throw UserError("train.cuda_graphs=true: capturing the training step failed (an op in the model or loss "
                      "synchronises with the host or is not capturable): " + what +
                      ". Set train.cuda_graphs=false for this model.");
    }
    at::autocast::set_autocast_cache_enabled(cache);
  }

  void replay(const torch::Tensor& x, const torch::Tensor& y) {
    if (x.sizes() != static_x.sizes() || y.sizes() != static_y.sizes() || x.dtype() != static_x.dtype() ||
        y.dtype() != static_y.dtype()) {
      std::ostringstream msg;
      msg << "train.cuda_graphs=true: a training batch has shape " << x.sizes() << " / " << y.sizes()
          << " but the captured step has " << static_x.sizes() << " / " << static_y.sizes()
          << "; graphs need static shapes (data.drop_last: true, shape-preserving augmentations)";
      throw UserError(msg.str());
    }
    static_x.copy_(x, /*non_blocking=*/true);
    static_y.copy_(y, /*non_blocking=*/true);
    fill_lr();
    graph->replay();
  }
};

GraphedStep::GraphedStep(torch::optim::Optimizer& optimizer, ForwardLoss forward_loss, double grad_clip,
                         const c10::Device& device) {
  if (!device.is_cuda()) throw UserError("train.cuda_graphs=true needs a CUDA device, got " + device.str());
  impl_ = std::make_unique<Impl>(optimizer, std::move(forward_loss), grad_clip, device);
}

GraphedStep::~GraphedStep() = default;

bool GraphedStep::captured() const { return impl_->graph != nullptr; }

torch::Tensor GraphedStep::step(const torch::Tensor& x, const torch::Tensor& y) {
  auto& m = *impl_;
  const auto cur = c10::cuda::getCurrentCUDAStream(m.device.index());
  torch::Tensor loss;
  if (steps_ < kWarmupSteps) {
    // Eager warmup on the side stream, as the CUDA-graph recipe asks: lazy initialisation and the
    // optimizer state are created outside the capture.
    at::cuda::CUDAEvent ready;
    ready.record(cur);
    ready.block(m.side);
    {
      c10::cuda::CUDAStreamGuard guard(m.side);
      loss = m.eager_step(x, y);
    }
    at::cuda::CUDAEvent done;
    done.record(m.side);
    done.block(cur);
  } else {
    if (!m.graph) m.capture(x, y);
    m.replay(x, y);
    m.advance_host_step();
    loss = m.static_loss;
  }
  ++steps_;
  return loss;
}

#else  // no CUDA: the trainer refuses train.cuda_graphs before it gets here

struct GraphedStep::Impl {};
GraphedStep::GraphedStep(torch::optim::Optimizer&, ForwardLoss, double, const c10::Device&) {
  throw UserError("train.cuda_graphs=true needs an smlab built with CUDA; this build has no CUDA support");
}
GraphedStep::~GraphedStep() = default;
bool GraphedStep::captured() const { return false; }
torch::Tensor GraphedStep::step(const torch::Tensor&, const torch::Tensor&) { return {}; }

#endif

}  // namespace smlab::trainers
