// Counts the ATen operators a piece of code dispatches, with PyTorch's own profiler (Kineto, CPU
// activity): the same collector Python's torch.profiler.profile(activities=[CPU]) uses, so a count
// taken here and one taken in Python over the same loop are comparable. Each dispatched operator is
// one event, nested ones included (aten::linear and the aten::addmm it calls are two), in forward
// and backward alike. On a GPU every such operator is at least one host-side dispatch and usually
// one kernel launch, so for small models the count per step is a proxy for launch-bound speed that
// can be measured on a CPU (bench/train_step.py --ops, `smlab bench ops`).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace smlab {

struct OpCounts {
  std::map<std::string, int64_t> by_name;  // "aten::addmm" -> calls over all the runs
  int64_t total = 0;                       // sum of by_name
  int runs = 0;                            // how many times the code ran while counting
  std::vector<std::string> sequence;       // the counted events in the order they started
  double per_run() const { return runs > 0 ? static_cast<double>(total) / runs : 0.0; }
};

/// Runs `fn` `runs` times under the profiler and counts the events whose name starts with
/// `prefix` ("aten::" by default; "" counts every event: autograd nodes and annotations too).
/// Throws std::runtime_error when a profiler is already active in this thread.
OpCounts count_ops(const std::function<void()>& fn, int runs, const std::string& prefix = "aten::");

}  // namespace smlab
