// The hook registry: every built-in hook of the training loop, by name.
//
// Core hooks (evaluation, checkpoint, early_stopping, tensorboard, ema) are switched by their own
// settings (train.eval_every..., train.early_stop_patience, train.tensorboard, train.ema_decay) and
// cannot be listed in train.hooks; optional hooks (grad_norm_logger, ...) are chosen by name there:
//
//   train: {hooks: [grad_norm_logger]}
//
// A factory returns nullptr when its settings leave the hook off. Adding a hook: subclass HookBase
// (trainers/trainer.h), then one hook_registry().add(...) in hooks.cpp (docs/training.md).
#pragma once
#include <memory>
#include <vector>

#include "core/components.h"
#include "trainers/trainer.h"

namespace smlab::trainers {

using HookFactory = std::function<std::shared_ptr<HookBase>(const TrainerOptions& opts)>;
ComponentRegistry<HookFactory>& hook_registry();

/// The core hooks' names, in the order they run.
const std::vector<std::string>& core_hook_names();

/// The core hooks that `opts` switches on, in order.
std::vector<std::shared_ptr<HookBase>> build_core_hooks(const TrainerOptions& opts);
/// The hooks named in train.hooks, in their order. A core hook's name, or a name listed twice,
/// is a UserError naming train.hooks's file and line.
std::vector<std::shared_ptr<HookBase>> build_optional_hooks(const TrainerOptions& opts);

/// Stops training at the end of epoch `epoch` (after that epoch's evaluation and last.pt), so that
/// `--resume` continues exactly where an uninterrupted run would be. Used by successive halving's rungs
/// and by `smlab train --stop-at-epoch`.
std::shared_ptr<HookBase> stop_at_epoch_hook(int64_t epoch);

/// Fills hook_registry() and exposes it (kind "hook"); called by register_builtin().
void register_hooks();

}  // namespace smlab::trainers
