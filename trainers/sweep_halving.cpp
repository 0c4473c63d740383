// Asynchronous successive halving (ASHA, Li et al. 2020) over a sweep's points, one run at a time.
//
// Rungs are epochs r_0 < r_1 < ... < r_K (r_K = train.epochs of every run). A point "at rung k" has all
// its seeds trained to r_k epochs; its rung value is the mean of `metric` over them. The loop: look for
// a point in the top floor(n_k / eta) of the n_k points that finished rung k and was not promoted yet,
// highest k first; promote it (resume its runs from their checkpoints to r_{k+1}); otherwise start the
// next point at rung 0; stop when neither is possible. A run stopped at a rung is stopped by a hook at
// the epoch's end, after its checkpoint, so resuming it is the same as never having stopped (the
// trainer's bit-identical resume). Each finished rung is recorded in halving.json before the next
// decision; a killed sweep replays the same decisions from it and only trains what is missing.
// Known gap: a kill in the moment between a rung's last.pt and its summary.json leaves a run whose
// summary still shows the previous rung; resuming it trains one epoch past the rung before stopping.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "trainers/sweep_search.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::trainers {
namespace {

/// Stops training at the end of epoch `at` (after the evaluation and last.pt of that epoch).
class StopAtEpoch : public HookBase {
 public:
  explicit StopAtEpoch(int64_t at) : at_(at) {}
  void after_epoch(Trainer& t) override {
    if (t.epoch() >= at_) t.request_stop();
  }

 private:
  int64_t at_;
};

std::optional<json> any_summary(const fs::path& run) {
  try {
    if (fs::exists(run / "summary.json")) return json::parse(read_file(run / "summary.json"));
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

/// Trains (or resumes) run (point, seed) to `epochs` and returns its rung metric (nullopt if it failed).
std::optional<double> train_to(const SweepSpec& spec, const SweepOptions& o, size_t point, int64_t seed, int64_t epochs) {
  const fs::path run = sweep_run_folder(spec, point, seed);
  if (auto s = any_summary(run); s && s->value("epochs", int64_t{-1}) == epochs) return metric_at(*s, spec.halving.metric);
  const bool resume = fs::exists(run / "checkpoints" / "last.pt");
  if (!resume && fs::exists(run)) fs::remove_all(run);
  TrainOptions to;
  to.run_dir = run;
  to.resume = resume;
  if (epochs < spec.halving.rungs.back()) to.hooks.push_back(std::make_shared<StopAtEpoch>(epochs));
  json summary;
  int signal = 0;
  try {
    auto ov = run_overrides(spec, point, seed, o);
    if (!o.device.empty()) ov.push_back("experiment.device=" + o.device);
    const auto cfg = config::load(resume ? run / "config.yaml" : spec.base, resume ? std::vector<std::string>{} : ov);
    const auto result = train(cfg, to);
    summary = result.summary;
    signal = result.signal;
  } catch (const std::exception& e) {
    const fs::path log = run.parent_path() / (run.filename().string() + ".log");
    std::ofstream(log, std::ios::app) << "[sweep] run failed: " << e.what() << "\n";
    std::cerr << "[sweep] run " << run.string() << " failed (see " << log.string() << "): " << e.what() << "\n";
    return std::nullopt;
  }
  if (signal != 0) {
    // A signal stopped the run (after its checkpoint): its last value is not the rung's. Stop the sweep.
    o.reporter(spec);
    throw Interrupted(signal, "interrupted by signal " + std::to_string(signal) + " in " + run.string() + " at epoch " +
                                  std::to_string(summary.value("epochs", 0)) + " of its rung of " + std::to_string(epochs) +
                                  "; rerun the same command to resume the sweep");
  }
  return metric_at(summary, spec.halving.metric);
}

struct Rungs {
  std::vector<std::map<size_t, double>> value;  ///< per rung: point -> mean metric (worst when failed)
  std::vector<std::set<size_t>> promoted;       ///< per rung: points promoted from it
};

/// The next (point, rung) to train, or nullopt when the search is over.
std::optional<std::pair<size_t, size_t>> next_action(const SweepSpec& spec, Rungs& r, size_t* next_new, bool up) {
  const size_t K = spec.halving.rungs.size();
  for (size_t k = K - 1; k-- > 0;) {
    std::vector<std::pair<double, size_t>> ranked;
    for (const auto& [p, v] : r.value[k]) ranked.emplace_back(up ? -v : v, p);
    std::sort(ranked.begin(), ranked.end());  // best first, ties by point index
    const size_t top = ranked.size() / static_cast<size_t>(spec.halving.eta);
    for (size_t i = 0; i < top; ++i) {
      if (r.promoted[k].count(ranked[i].second)) continue;
      r.promoted[k].insert(ranked[i].second);
      return std::make_pair(ranked[i].second, k + 1);
    }
  }
  if (*next_new < spec.points.size()) return std::make_pair((*next_new)++, size_t{0});
  return std::nullopt;
}

}  // namespace

json run_halving(const SweepSpec& spec, const SweepOptions& options) {
  const auto& H = spec.halving;
  const fs::path dir = spec.output_dir / spec.name, state_file = dir / "halving.json";
  fs::create_directories(dir);
  json state = {{"eta", H.eta}, {"rungs", H.rungs}, {"metric", H.metric}, {"results", json::object()}};
  if (fs::exists(state_file)) {
    const json old = json::parse(read_file(state_file));
    if (old.value("rungs", json()) != state["rungs"] || old.value("eta", 0) != H.eta || old.value("metric", "") != H.metric) {
      throw UserError(state_file.string() + ": written by a sweep with other halving settings; remove " + dir.string() +
                      " or restore the sweep file's halving section");
    }
    state["results"] = old["results"];
  }
  const bool up = larger_is_better(H.metric);
  const double worst = up ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  Rungs r{std::vector<std::map<size_t, double>>(H.rungs.size()), std::vector<std::set<size_t>>(H.rungs.size())};
  size_t next_new = 0;
  int64_t epochs_trained = 0;
  json actions = json::array();
  std::cout << "[sweep] " << spec.name << ": successive halving over " << spec.points.size() << " points x "
            << spec.seeds.size() << " seeds, rungs " << json(H.rungs).dump() << " epochs, eta " << H.eta << ", by "
            << H.metric << "; folder " << dir.string() << std::endl;
  while (auto action = next_action(spec, r, &next_new, up)) {
    const auto [p, k] = *action;
    const std::string key = std::to_string(k) + "/" + std::to_string(p);
    epochs_trained += static_cast<int64_t>(spec.seeds.size()) * (H.rungs[k] - (k ? H.rungs[k - 1] : 0));
    actions.push_back({p, k});
    if (!state["results"].contains(key)) {
      std::vector<double> got;
      for (auto seed : spec.seeds)
        if (auto v = train_to(spec, options, p, seed, H.rungs[k])) got.push_back(*v);
      double mean = worst;
      if (!got.empty()) {
        mean = 0;
        for (double v : got) mean += v / static_cast<double>(got.size());
      }
      state["results"][key] = got.empty() ? json(nullptr) : json(mean);
      write_file_atomic(state_file, state.dump(1));
      std::cout << "[sweep] point " << p << " (" << spec.points[p].label() << ") at rung " << k << " (" << H.rungs[k]
                << " epochs): " << H.metric << " " << (got.empty() ? "failed" : std::to_string(mean)) << std::endl;
      options.reporter(spec);
    }
    const json& v = state["results"][key];
    r.value[k][p] = v.is_null() ? worst : v.get<double>();
  }
  const int64_t grid = static_cast<int64_t>(spec.points.size() * spec.seeds.size()) * H.rungs.back();
  state["epochs_trained"] = epochs_trained;
  state["grid_epochs"] = grid;
  state["actions"] = actions;
  write_file_atomic(state_file, state.dump(1));
  std::cout << "[sweep] halving trained " << epochs_trained << " epochs against the grid's " << grid << " ("
            << (100.0 * static_cast<double>(epochs_trained) / static_cast<double>(grid)) << "%); "
            << r.value.back().size() << " point(s) reached the last rung\n";
  print_sweep_outcome(spec, options);
  return state;
}

}  // namespace smlab::trainers
