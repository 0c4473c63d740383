// Asynchronous successive halving (ASHA, Li et al. 2020) over a sweep's points: one run at a time in this
// process, or with --jobs N as up to N `smlab train --stop-at-epoch` processes.
//
// Rungs are epochs r_0 < r_1 < ... < r_K (r_K = train.epochs of every run). A point "at rung k" has all
// its seeds trained to r_k epochs; its rung value is the mean of `metric` over them. The loop: look for
// a point in the top floor(n_k / eta) of the n_k points that finished rung k and was not promoted yet,
// highest k first; promote it (resume its runs from their checkpoints to r_{k+1}); otherwise start the
// next point at rung 0; stop when neither is possible. A run stopped at a rung is stopped by a hook at
// the epoch's end, after its checkpoint, so resuming it is the same as never having stopped (the
// trainer's bit-identical resume). Each finished rung is recorded in halving.json before the next
// decision, and so is every decision (`actions`); a killed sweep replays the recorded decisions, trains
// what they still lack, then goes on deciding. One at a time, the decisions are a function of the results,
// so a resumed sweep makes the same ones as an uninterrupted one. With --jobs N they also depend on which
// runs finish first (that is what makes ASHA asynchronous): a point is promoted as soon as it is in the top
// 1/eta of the rung's results so far.
// Known gap: a kill in the moment between a rung's last.pt and its summary.json leaves a run whose
// summary still shows the previous rung; resuming it trains one epoch past the rung before stopping.
#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <deque>
#include <list>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "trainers/hooks.h"
#include "trainers/sweep_search.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::trainers {
namespace {

std::optional<json> any_summary(const fs::path& run) {
  try {
    if (fs::exists(run / "summary.json")) return json::parse(read_file(run / "summary.json"));
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

/// The rung value of a run already trained to `epochs` (a resumed sweep), if it is.
std::optional<double> done_at(const SweepSpec& spec, const fs::path& run, int64_t epochs) {
  if (auto s = any_summary(run); s && s->value("epochs", int64_t{-1}) == epochs) return metric_at(*s, spec.halving.metric);
  return std::nullopt;
}

/// Trains (or resumes) run (point, seed) to `epochs` and returns its rung metric (nullopt if it failed).
std::optional<double> train_to(const SweepSpec& spec, const SweepOptions& o, size_t point, int64_t seed, int64_t epochs) {
  const fs::path run = sweep_run_folder(spec, point, seed);
  if (auto v = done_at(spec, run, epochs)) return v;
  const bool resume = prepare_run_folder(run);
  TrainOptions to;
  to.run_dir = run;
  to.resume = resume;
  if (epochs < spec.halving.rungs.back()) to.hooks.push_back(stop_at_epoch_hook(epochs));
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


using Action = std::pair<size_t, size_t>;  // (point, rung)

/// The search's state: the rung results, the decisions made, and halving.json that records both.
class Search {
 public:
  Search(const SweepSpec& spec, const SweepOptions& o)
      : spec_(spec), o_(o), H_(spec.halving), file_(spec.output_dir / spec.name / "halving.json"),
        up_(larger_is_better(H_.metric)),
        worst_(up_ ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity()),
        r_{std::vector<std::map<size_t, double>>(H_.rungs.size()), std::vector<std::set<size_t>>(H_.rungs.size())} {
    state_ = {{"eta", H_.eta}, {"rungs", H_.rungs}, {"metric", H_.metric}, {"results", json::object()},
              {"actions", json::array()}};
    if (fs::exists(file_)) load();
  }

  /// Recorded decisions whose rung results are missing (a resumed sweep trains these first).
  std::deque<Action> pending;

  /// The next (point, rung) to train; decisions whose results are recorded are taken on the way.
  std::optional<Action> decide() {
    while (auto a = next_action(spec_, r_, &next_new_, up_)) {
      note(*a);
      write_file_atomic(file_, state_.dump(1));
      if (!known(*a)) return a;
      learn(*a);
    }
    return std::nullopt;
  }

  /// What to train next: a recorded decision still missing its result, else a new decision.
  std::optional<Action> next() {
    if (pending.empty()) return decide();
    const Action a = pending.front();
    pending.pop_front();
    return a;
  }

  int64_t epochs(size_t k) const { return H_.rungs[k]; }
  bool last_rung(size_t k) const { return k + 1 == H_.rungs.size(); }

  /// Records the rung result of `a` from its seeds' values (none: failed).
  void record(const Action& a, const std::vector<double>& got) {
    double mean = worst_;
    if (!got.empty()) {
      mean = 0;
      for (double v : got) mean += v / static_cast<double>(got.size());
    }
    state_["results"][key(a)] = got.empty() ? json(nullptr) : json(mean);
    write_file_atomic(file_, state_.dump(1));
    std::cout << "[sweep] point " << a.first << " (" << spec_.points[a.first].label() << ") at rung " << a.second << " ("
              << H_.rungs[a.second] << " epochs): " << H_.metric << " " << (got.empty() ? "failed" : std::to_string(mean))
              << std::endl;
    o_.reporter(spec_);
    learn(a);
  }

  json finish() {
    const int64_t grid = static_cast<int64_t>(spec_.points.size() * spec_.seeds.size()) * H_.rungs.back();
    state_["epochs_trained"] = epochs_trained_;
    state_["grid_epochs"] = grid;
    write_file_atomic(file_, state_.dump(1));
    std::cout << "[sweep] halving trained " << epochs_trained_ << " epochs against the grid's " << grid << " ("
              << (100.0 * static_cast<double>(epochs_trained_) / static_cast<double>(grid)) << "%); "
              << r_.value.back().size() << " point(s) reached the last rung\n";
    return state_;
  }

 private:
  static std::string key(const Action& a) { return std::to_string(a.second) + "/" + std::to_string(a.first); }
  bool known(const Action& a) const { return state_["results"].contains(key(a)); }
  void learn(const Action& a) {
    const json& v = state_["results"][key(a)];
    r_.value[a.second][a.first] = v.is_null() ? worst_ : v.get<double>();
  }
  void note(const Action& a) {
    const auto [p, k] = a;
    epochs_trained_ += static_cast<int64_t>(spec_.seeds.size()) * (H_.rungs[k] - (k ? H_.rungs[k - 1] : 0));
    state_["actions"].push_back({p, k});
  }

  void load() {
    const json old = json::parse(read_file(file_));
    if (old.value("rungs", json()) != state_["rungs"] || old.value("eta", 0) != H_.eta || old.value("metric", "") != H_.metric) {
      throw UserError(file_.string() + ": written by a sweep with other halving settings; remove " +
                      file_.parent_path().string() + " or restore the sweep file's halving section");
    }
    state_["results"] = old["results"];
    // Replay the recorded decisions in order, as next_action made them.
    for (const auto& a : old.value("actions", json::array())) {
      const Action act{a.at(0).get<size_t>(), a.at(1).get<size_t>()};
      if (act.first >= spec_.points.size() || act.second >= H_.rungs.size() || (act.second == 0 && act.first != next_new_))
        throw UserError(file_.string() + ": its decisions do not fit the sweep file's points; remove " +
                        file_.parent_path().string() + " to start the search again");
      if (act.second == 0) ++next_new_;
      else r_.promoted[act.second - 1].insert(act.first);
      note(act);
      if (known(act)) learn(act);
      else pending.push_back(act);
    }
  }

  const SweepSpec& spec_;
  const SweepOptions& o_;
  const SweepHalving& H_;
  fs::path file_;
  bool up_;
  double worst_;
  Rungs r_;
  json state_;
  size_t next_new_ = 0;
  int64_t epochs_trained_ = 0;
};

/// One at a time, in this process.
void search_here(const SweepSpec& spec, const SweepOptions& o, Search& s) {
  while (true) {
    const auto a = s.next();
    if (!a) return;
    std::vector<double> got;
    for (auto seed : spec.seeds)
      if (auto v = train_to(spec, o, a->first, seed, s.epochs(a->second))) got.push_back(*v);
    s.record(*a, got);
  }
}

/// A rung of one point in flight with --jobs: its seeds still to start, running and finished.
struct Unit {
  Action action;
  std::deque<int64_t> to_start;
  int running = 0;
  std::vector<double> got;
};

/// --jobs N: up to N `smlab train --stop-at-epoch` processes; a decision is made whenever a slot is free.
void search_in_processes(const SweepSpec& spec, const SweepOptions& o, Search& s) {
  std::list<Unit> units;
  struct Child { std::list<Unit>::iterator unit; int64_t seed; int slot; };
  std::map<pid_t, Child> running;
  std::vector<bool> slot_busy(o.jobs, false);
  int interrupted = 0;
  auto finish_if_done = [&](std::list<Unit>::iterator u) {
    if (!u->to_start.empty() || u->running > 0) return;
    s.record(u->action, u->got);
    units.erase(u);
  };
  while (true) {
    while (!interrupted && static_cast<int>(running.size()) < o.jobs) {
      auto u = std::find_if(units.begin(), units.end(), [](const Unit& x) { return !x.to_start.empty(); });
      if (u == units.end()) {
        const auto a = s.next();
        if (!a) break;
        units.push_back({*a, std::deque<int64_t>(spec.seeds.begin(), spec.seeds.end()), 0, {}});
        continue;
      }
      const int64_t seed = u->to_start.front(), epochs = s.epochs(u->action.second);
      u->to_start.pop_front();
      const fs::path run = sweep_run_folder(spec, u->action.first, seed);
      if (auto v = done_at(spec, run, epochs)) {
        u->got.push_back(*v);
        finish_if_done(u);
        continue;
      }
      const bool resume = prepare_run_folder(run);
      std::vector<std::string> extra;
      if (!s.last_rung(u->action.second)) extra = {"--stop-at-epoch", std::to_string(epochs)};
      int slot = 0;
      while (slot_busy[slot]) ++slot;
      running[spawn_train(spec, u->action.first, seed, run, resume, o, slot_device(o, slot), extra)] = {u, seed, slot};
      slot_busy[slot] = true;
      ++u->running;
    }
    if (running.empty()) break;
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Child c = it->second;
    running.erase(it);
    slot_busy[c.slot] = false;
    --c.unit->running;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const fs::path run = sweep_run_folder(spec, c.unit->action.first, c.seed);
    if (code == 128 + SIGINT || code == 128 + SIGTERM || code == 128 + SIGKILL) {
      interrupted = code - 128;  // its checkpoint is kept; the rung is not recorded, so a rerun trains it
      continue;
    }
    if (auto v = done_at(spec, run, s.epochs(c.unit->action.second))) c.unit->got.push_back(*v);
    else std::cerr << "[sweep] run " << run.string() << " failed (see " << run.string() << ".log)\n";
    if (!interrupted) finish_if_done(c.unit);
  }
  if (interrupted) {
    o.reporter(spec);
    throw Interrupted(interrupted, "interrupted by signal " + std::to_string(interrupted) +
                                       "; rerun the same command to resume the sweep");
  }
}

}  // namespace

json run_halving(const SweepSpec& spec, const SweepOptions& options) {
  const auto& H = spec.halving;
  fs::create_directories(spec.output_dir / spec.name);
  Search search(spec, options);
  std::cout << "[sweep] " << spec.name << ": successive halving over " << spec.points.size() << " points x "
            << spec.seeds.size() << " seeds, rungs " << json(H.rungs).dump() << " epochs, eta " << H.eta << ", by "
            << H.metric << (options.jobs > 1 ? ", " + std::to_string(options.jobs) + " runs at a time" : "")
            << "; folder " << (spec.output_dir / spec.name).string() << std::endl;
  if (options.jobs > 1) search_in_processes(spec, options, search);
  else search_here(spec, options, search);
  json state = search.finish();
  print_sweep_outcome(spec, options);
  return state;
}

}  // namespace smlab::trainers
