#include "core/op_count.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <set>
#include <stdexcept>

namespace smlab {

namespace prof = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

OpCounts count_ops(const std::function<void()>& fn, int runs, const std::string& prefix) {
  if (impl::profilerEnabled()) throw std::runtime_error("count_ops: a profiler is already active in this thread");
  const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
  const std::set<impl::ActivityType> activities = {impl::ActivityType::CPU};
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  std::unique_ptr<prof::ProfilerResult> result;
  try {
    for (int i = 0; i < runs; ++i) fn();
  } catch (...) {
    prof::disableProfiler();
    throw;
  }
  result = prof::disableProfiler();
  OpCounts out;
  out.runs = runs;
  std::vector<std::pair<uint64_t, std::string>> started;
  for (const auto& e : result->events()) {
    std::string name = e.name();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    ++out.by_name[name];
    ++out.total;
    started.emplace_back(e.startNs(), std::move(name));
  }
  std::stable_sort(started.begin(), started.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [t, name] : started) out.sequence.push_back(std::move(name));
  return out;
}

}  // namespace smlab
