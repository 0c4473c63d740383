// trainers::SGD (trainers/sgd.h) against LibTorch's torch::optim::SGD: the same parameters after
// every step, for plain, momentum, Nesterov and weight-decay settings and two parameter groups,
// with momentum buffers that load into either (the checkpoint format is upstream's); and
// clear_grads leaves no gradient, as zero_grad(set_to_none=true) does.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "trainers/sgd.h"

namespace {

std::vector<torch::Tensor> make_params(int seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps = {torch::randn({7, 5}), torch::randn({5}), torch::randn({3, 2, 2})};
  for (auto& p : ps) p.set_requires_grad(true);
  return ps;
}

torch::Tensor loss_of(const std::vector<torch::Tensor>& ps, int step) {
  torch::Tensor l = torch::zeros({});
  for (size_t i = 0; i < ps.size(); ++i) l = l + (ps[i] * ps[i]).sum() * (0.1 * (i + 1)) + ps[i].sin().sum() * step;
  return l;
}

void run_both(const torch::optim::SGDOptions& o, bool two_groups) {
  auto a = make_params(1), b = make_params(1);
  auto groups = [&](std::vector<torch::Tensor>& ps) {
    std::vector<torch::optim::OptimizerParamGroup> gs;
    if (two_groups) {
      auto o2 = std::make_unique<torch::optim::SGDOptions>(o);
      o2->weight_decay(0).lr(o.lr() * 0.5);
      gs.emplace_back(std::vector<torch::Tensor>{ps[0]});
      gs.emplace_back(std::vector<torch::Tensor>{ps[1], ps[2]}, std::move(o2));
    } else {
      gs.emplace_back(ps);
    }
    return gs;
  };
  torch::optim::SGD upstream(groups(a), o);
  smlab::trainers::SGD ours(groups(b), o);
  for (int step = 0; step < 6; ++step) {
    upstream.zero_grad(true);
    loss_of(a, step).backward();
    upstream.step();
    smlab::trainers::clear_grads(ours);
    for (const auto& p : b) EXPECT_FALSE(p.grad().defined());
    loss_of(b, step).backward();
    ours.step();
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-7)) << "step " << step << " param " << i << "\n" << a[i] - b[i];
  }
}

TEST(SGD, MatchesLibTorchPlain) { run_both(torch::optim::SGDOptions(0.05), false); }
TEST(SGD, MatchesLibTorchMomentum) { run_both(torch::optim::SGDOptions(0.05).momentum(0.9), false); }
TEST(SGD, MatchesLibTorchNesterovWithWeightDecay) {
  run_both(torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-2), false);
}
TEST(SGD, MatchesLibTorchDampeningAndTwoGroups) {
  run_both(torch::optim::SGDOptions(0.05).momentum(0.8).dampening(0.1).weight_decay(1e-2), true);
}

// Momentum buffers written by one load into the other and the next steps agree.
TEST(SGD, StateIsInterchangeableWithLibTorch) {
  const auto o = torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true);
  auto a = make_params(2), b = make_params(2);
  smlab::trainers::SGD ours(a, o);
  for (int step = 0; step < 3; ++step) {
    smlab::trainers::clear_grads(ours);
    loss_of(a, step).backward();
    ours.step();
  }
  {
    torch::NoGradGuard g;
    for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
  }
  std::stringstream buf;
  torch::serialize::OutputArchive out;
  ours.save(out);
  out.save_to(buf);
  torch::optim::SGD upstream(b, o);
  torch::serialize::InputArchive in;
  in.load_from(buf);
  upstream.load(in);
  for (int step = 3; step < 6; ++step) {
    smlab::trainers::clear_grads(ours);
    loss_of(a, step).backward();
    ours.step();
    upstream.zero_grad(true);
    loss_of(b, step).backward();
    upstream.step();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-7)) << "step " << step;
  }
}

}  // namespace
