// LR schedules against their closed forms (and torch.optim.lr_scheduler's definitions).
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "trainers/optim.h"

using smlab::trainers::LRSchedule;
using smlab::trainers::ScheduleContext;

namespace {
LRSchedule make(const std::vector<std::string>& ov, int64_t total, int64_t spe, int64_t warmup) {
  const auto cfg = smlab::config::load_string("version: 1\n", "s.yaml", ov);
  ScheduleContext ctx;
  ctx.total_steps = total;
  ctx.steps_per_epoch = spe;
  ctx.warmup_steps = warmup;
  return LRSchedule(cfg, 0.1, ctx);
}
}  // namespace

TEST(Schedules, CosineWithWarmup) {
  auto s = make({"sched.name=cosine", "sched.min_lr_ratio=0.1"}, 110, 10, 10);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1 * 1.0 / 10);  // warmup (step+1)/W, cosine still at its start
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.1 * 5.0 / 10);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.1);               // t = 0 after warmup
  // t = T/2 = 50: floor + (1 - floor) * (1 + cos(pi/2)) / 2 = 0.1 + 0.9 * 0.5
  EXPECT_NEAR(s.lr_at(60), 0.1 * (0.1 + 0.9 * 0.5), 1e-15);
  EXPECT_NEAR(s.lr_at(110), 0.1 * 0.1, 1e-15);      // end: min_lr_ratio x base
}

TEST(Schedules, StepAndMultistep) {
  auto st = make({"sched.name=step", "sched.step_epochs=2", "sched.gamma=0.5"}, 100, 10, 0);
  EXPECT_DOUBLE_EQ(st.lr_at(19), 0.1);
  EXPECT_DOUBLE_EQ(st.lr_at(20), 0.05);
  EXPECT_DOUBLE_EQ(st.lr_at(45), 0.025);
  auto ms = make({"sched.name=multistep", "sched.milestones=[3, 5]", "sched.gamma=0.1"}, 100, 10, 0);
  EXPECT_DOUBLE_EQ(ms.lr_at(29), 0.1);
  EXPECT_NEAR(ms.lr_at(30), 0.01, 1e-15);
  EXPECT_NEAR(ms.lr_at(50), 0.001, 1e-15);
}

TEST(Schedules, OneCycleMatchesTorchDefinition) {
  // torch.optim.lr_scheduler.OneCycleLR(max_lr=0.1, total_steps=100, pct_start=0.3, div_factor=25,
  // final_div_factor=1e4, anneal_strategy='cos'): initial 0.004 at step 0, 0.1 at step 29, 4e-7 at step 99.
  auto s = make({"sched.name=onecycle"}, 100, 10, 0);
  EXPECT_NEAR(s.lr_at(0), 0.1 / 25, 1e-12);
  EXPECT_NEAR(s.lr_at(29), 0.1, 1e-12);
  EXPECT_NEAR(s.lr_at(99), 0.1 / 25 / 1e4, 1e-12);
  // midway through the first phase: cos annealing from 0.004 to 0.1 at frac 0.5 -> their mean
  EXPECT_NEAR(s.lr_at(14) + 0, 0.1 + (0.004 - 0.1) / 2 * (std::cos(M_PI * 14.0 / 29.0) + 1), 1e-12);
}

TEST(Schedules, ConstantKeepsBaseAfterWarmup) {
  auto s = make({"sched.name=constant"}, 50, 10, 5);
  EXPECT_DOUBLE_EQ(s.lr_at(2), 0.1 * 3 / 5);
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(49), 0.1);
}
