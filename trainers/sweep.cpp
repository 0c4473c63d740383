#include "trainers/sweep.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <torch/cuda.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/file_lock.h"
#include "core/process.h"
#include "core/text.h"
#include "trainers/sweep_search.h"
#include "trainers/trainer.h"

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;

namespace smlab::trainers {

std::string SweepPoint::label() const {
  std::vector<std::string> parts;
  for (const auto& [k, v] : overrides) parts.push_back(k + "=" + v);
  return parts.empty() ? "(base)" : text::join(parts, " ");
}

namespace {

using Origins = std::map<std::string, config::Origin>;

std::string flow(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

std::vector<std::string> assignments(const SweepSpec& spec, const SweepPoint& p) {
  std::vector<std::string> out;
  for (const auto& [k, v] : spec.common) out.push_back(k + "=" + v);
  for (const auto& [k, v] : p.overrides) out.push_back(k + "=" + v);
  return out;
}

std::vector<std::pair<std::string, std::string>> override_map(const YAML::Node& n, const config::Origin& where,
                                                              const std::string& what) {
  if (!n.IsMap()) throw config::ConfigError(where.str() + ": " + what + ": expected a mapping of key: value overrides");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : n) out.emplace_back(kv.first.as<std::string>(), flow(kv.second));
  return out;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

/// "mean ± std" over the seeds that reported the metric; a single value has no spread to show, and a
/// metric missing from some finished runs says over how many it was computed.
std::string cell(const json& c, int runs) {
  const int n = c["n"].get<int>();
  std::string out = fmt(c["mean"]);
  if (n > 1) out += " ± " + fmt(c["std"]);
  if (n < runs) out += " (" + std::to_string(n) + "/" + std::to_string(runs) + " runs)";
  return out;
}

/// The cartesian product of a `grid:` mapping (key: [values]), in the file's key order.
template <class Where>
std::vector<SweepPoint> grid_points(const YAML::Node& grid, const Where& where) {
  if (!grid.IsMap()) throw config::ConfigError(where("grid").str() + ": grid: expected key: [values] pairs");
  std::vector<SweepPoint> points = {SweepPoint{}};
  for (const auto& kv : grid) {
    const auto key = kv.first.as<std::string>();
    if (!kv.second.IsSequence() || kv.second.size() == 0) {
      throw config::ConfigError(where("grid." + key).str() + ": grid." + key + ": expected a non-empty list of values");
    }
    std::vector<SweepPoint> next;
    for (const auto& p : points) {
      for (const auto& v : kv.second) {
        SweepPoint q = p;
        q.overrides.emplace_back(key, flow(v));
        next.push_back(q);
      }
    }
    points = std::move(next);
  }
  return points;
}

/// The `stats:` section (metric, baseline, alpha); unknown keys are refused like the top level's.
template <class Where>
void parse_stats(const YAML::Node& n, const Where& where, SweepSpec* spec) {
  if (!n.IsMap()) throw config::ConfigError(where("stats").str() + ": stats: expected a mapping (metric, baseline, alpha)");
  const std::vector<std::string> allowed = {"metric", "baseline", "alpha"};
  refuse_unknown_keys(n, allowed, "stats", "unknown stats key", where);
  auto& st = spec->stats;
  if (n["metric"]) {
    st.metric = n["metric"].as<std::string>();
    if (std::find(spec->metrics.begin(), spec->metrics.end(), st.metric) == spec->metrics.end()) {
      throw config::ConfigError(where("stats.metric").str() + ": stats.metric: '" + st.metric +
                                "' is not among the sweep's metrics (" + text::join(spec->metrics, ", ") + ")");
    }
  }
  if (n["alpha"]) {
    try {
      st.alpha = n["alpha"].as<double>();
    } catch (const YAML::Exception&) {
      st.alpha = -1;
    }
    if (!(st.alpha > 0 && st.alpha < 0.5)) {
      throw config::ConfigError(where("stats.alpha").str() + ": stats.alpha: expected a number in (0, 0.5), e.g. 0.05");
    }
  }
  if (n["baseline"]) {
    try {
      st.baseline = find_point(*spec, n["baseline"].as<std::string>(), "stats.baseline");
    } catch (const config::ConfigError& e) {
      const std::string m = e.what();
      throw config::ConfigError(where("stats.baseline").str() + m.substr(spec->file.string().size()));
    }
    st.baseline_named = true;
    if (spec->seeds.size() < 2) {
      throw config::ConfigError(where("stats.baseline").str() + ": stats.baseline: a paired test needs at least 2 seeds, "
                                "but seeds has " + std::to_string(spec->seeds.size()) + " (e.g. seeds: [0, 1, 2])");
    }
  }
}

/// The points of a sweep file: its grid, its list, its random draw, or the base alone.
template <class Where>
std::vector<SweepPoint> parse_points(const YAML::Node& raw, const Where& where) {
  if ((raw["grid"] ? 1 : 0) + (raw["points"] ? 1 : 0) + (raw["random"] ? 1 : 0) > 1) {
    throw config::ConfigError(where(raw["random"] ? "random" : "points").str() +
                              ": give one of grid, points or random, not several");
  }
  if (raw["random"]) return random_points(raw["random"], where);
  if (raw["grid"]) return grid_points(raw["grid"], where);
  if (!raw["points"]) return {SweepPoint{}};
  if (!raw["points"].IsSequence()) throw config::ConfigError(where("points").str() + ": points: expected a list of override mappings");
  std::vector<SweepPoint> points;
  for (const auto& p : raw["points"]) points.push_back({override_map(p, where("points"), "points")});
  return points;
}

}  // namespace

std::vector<std::string> run_overrides(const SweepSpec& spec, size_t point, int64_t seed, const SweepOptions& o) {
  auto ov = assignments(spec, spec.points[point]);
  ov.push_back("experiment.seed=" + std::to_string(seed));
  ov.push_back("experiment.name=" + spec.name + "-p" + std::to_string(point));
  ov.push_back("train.progress=none");
  for (const auto& e : o.extra_overrides) ov.push_back(e);
  return ov;
}

fs::path sweep_run_folder(const SweepSpec& spec, size_t point, int64_t seed) {
  return spec.output_dir / spec.name / ("p" + std::to_string(point) + "-s" + std::to_string(seed));
}

std::optional<json> finished_summary(const fs::path& run) {
  const fs::path f = run / "summary.json";
  if (!fs::exists(f)) return std::nullopt;
  try {
    json s = json::parse(read_file(f));
    const std::string status = s.value("status", "");
    if (finished_status(status) || status == "nonfinite_loss")
      return s;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::optional<double> metric_at(const json& summary, const std::string& path) {
  const json* cur = &summary;
  for (const auto& part : text::split(path, '.')) {
    if (!cur->is_object() || !cur->contains(part)) return std::nullopt;
    cur = &(*cur)[part];
  }
  if (!cur->is_number()) return std::nullopt;
  return cur->get<double>();
}

size_t find_point(const SweepSpec& spec, const std::string& ref, const std::string& what) {
  const std::string r = text::trim(ref);
  if (!r.empty() && r.find_first_not_of("0123456789") == std::string::npos) {
    const size_t i = std::stoul(r);
    if (i < spec.points.size()) return i;
  }
  for (size_t i = 0; i < spec.points.size(); ++i)
    if (spec.points[i].label() == r) return i;
  std::vector<std::string> known;
  for (size_t i = 0; i < spec.points.size() && i < 20; ++i) known.push_back(std::to_string(i) + ": " + spec.points[i].label());
  if (spec.points.size() > 20) known.push_back("...");
  throw config::ConfigError(spec.file.string() + ": " + what + ": '" + r + "' is not a point of the sweep (give an index 0-" +
                            std::to_string(spec.points.size() - 1) + " or an override label; points: " +
                            text::join(known, "; ") + ")");
}

SweepSpec load_sweep(const fs::path& file) {
  Origins origins;
  const YAML::Node raw = config::load_raw(file, &origins);
  auto where = [&](const std::string& key) {
    auto it = origins.find(key);
    return it == origins.end() ? config::Origin{file.string(), 0} : it->second;
  };
  const std::vector<std::string> allowed = {"base",    "name",       "seeds", "set", "grid",
                                           "points",  "metrics",    "output_dir", "stats", "random", "halving"};
  refuse_unknown_keys(raw, allowed, "", "unknown sweep key", where);
  SweepSpec spec;
  spec.file = file;
  if (!raw["base"]) throw config::ConfigError(file.string() + ": base: required (the experiment config to sweep over)");
  spec.base = file.parent_path() / raw["base"].as<std::string>();
  if (!fs::exists(spec.base)) {
    throw config::ConfigError(where("base").str() + ": base: config '" + raw["base"].as<std::string>() +
                              "' not found (looked at " + spec.base.string() + ")");
  }
  spec.name = raw["name"] ? raw["name"].as<std::string>() : file.stem().string();
  spec.output_dir = raw["output_dir"] ? raw["output_dir"].as<std::string>() : "runs/sweeps";
  try {
    spec.seeds = raw["seeds"] ? raw["seeds"].as<std::vector<int64_t>>() : std::vector<int64_t>{0};
  } catch (const YAML::Exception&) {
    throw config::ConfigError(where("seeds").str() + ": seeds: expected a list of integers such as [0, 1, 2]");
  }
  if (spec.seeds.empty()) throw config::ConfigError(where("seeds").str() + ": seeds: needs at least one seed");
  if (raw["set"]) spec.common = override_map(raw["set"], where("set"), "set");
  spec.points = parse_points(raw, where);
  if (raw["halving"]) parse_halving(raw["halving"], where, &spec);
  // Resolve every point now: a bad override fails before any run starts.
  std::string default_metric;
  for (size_t i = 0; i < spec.points.size(); ++i) {
    try {
      const auto cfg = config::load(spec.base, assignments(spec, spec.points[i]));
      if (default_metric.empty()) {
        // The selection metric, with train.best_metric=auto read off the loss's task.
        default_metric = cfg.get<std::string>("train.best_metric");
        if (default_metric == "auto") default_metric = cfg.name_of("loss") == "cross_entropy" ? "top1" : "mae";
      }
    } catch (const config::ConfigError& e) {
      const std::string key = spec.points[i].overrides.empty() ? "set" : "grid." + spec.points[i].overrides[0].first;
      const std::string at = raw["grid"] ? key : raw["points"] ? "points" : raw["random"] ? "random" : "set";
      throw config::ConfigError(where(at).str() + ": point " +
                                std::to_string(i) + " (" + spec.points[i].label() + "): " + e.what());
    }
  }
  if (raw["metrics"]) {
    spec.metrics = raw["metrics"].as<std::vector<std::string>>();
  } else {
    spec.metrics = {"test." + default_metric, "val." + default_metric};
  }
  for (const auto& m : spec.metrics) {
    if (text::split(m, '.').size() != 2) {
      throw config::ConfigError(where("metrics").str() + ": metrics: '" + m +
                                "' should be split.metric, e.g. test.top1 or val.macro_f1");
    }
  }
  if (raw["stats"]) parse_stats(raw["stats"], where, &spec);
  if (spec.halving.on && spec.halving.metric.empty()) spec.halving.metric = "val." + default_metric;
  if (spec.stats.metric.empty()) spec.stats.metric = spec.metrics[0];
  return spec;
}

namespace {

struct Job {
  size_t point;
  int64_t seed;
  fs::path run;
  bool resume;
};

pid_t spawn_job(const SweepSpec& spec, const Job& j, const SweepOptions& o, const std::string& device) {
  return spawn_train(spec, j.point, j.seed, j.run, j.resume, o, device);
}

void report_point(const SweepSpec& spec, const SweepOptions& o, size_t i, size_t total) {
  const json res = o.reporter(spec);
  const auto& p = res["points"][i];
  std::cout << "[sweep] point " << i + 1 << "/" << total << " " << p["overrides"].get<std::string>() << ":";
  if (p.contains("metrics")) {
    for (const auto& m : spec.metrics) {
      if (!p["metrics"].contains(m)) continue;
      std::cout << " " << m << " " << cell(p["metrics"][m], p["runs"].get<int>());
    }
  }
  std::cout << " (" << p["runs"] << "/" << spec.seeds.size() << " seeds)" << std::endl;
}

/// jobs = 1: every run in this process, one after another.
void run_here(const SweepSpec& spec, const SweepOptions& options, const std::vector<Job>& jobs, std::vector<size_t>& remaining) {
  for (const auto& j : jobs) {
    auto ov = run_overrides(spec, j.point, j.seed, options);
    if (!options.device.empty()) ov.push_back("experiment.device=" + options.device);
    TrainOptions to;
    to.run_dir = j.run;
    to.resume = j.resume;
    int signal = 0;
    try {
      const auto cfg = config::load(j.resume ? j.run / "config.yaml" : spec.base, j.resume ? std::vector<std::string>{} : ov);
      signal = train(cfg, to).signal;
    } catch (const std::exception& e) {  // one failed run does not stop the sweep; the table shows it
      const fs::path log = j.run.parent_path() / (j.run.filename().string() + ".log");
      std::ofstream(log, std::ios::app) << "[sweep] run failed: " << e.what() << "\n";
      std::cerr << "[sweep] run " << j.run.string() << " failed (see " << log.string() << "): " << e.what() << "\n";
    }
    // The tables after every run (seed-major order finishes a point only in the last seed's round).
    if (--remaining[j.point] == 0) report_point(spec, options, j.point, spec.points.size());
    else options.reporter(spec);
    if (signal != 0) {  // the run saved its checkpoint (the tables are written above); the rest waits for a rerun
      throw Interrupted(signal, "interrupted by signal " + std::to_string(signal) + " after " + j.run.string() +
                                    " saved its checkpoint; rerun the same command to resume the sweep");
    }
  }
}

/// jobs > 1: `smlab train` processes, spread over the GPUs when there are several.
void run_as_processes(const SweepSpec& spec, const SweepOptions& options, const std::vector<Job>& jobs,
                      std::vector<size_t>& remaining) {
  std::map<pid_t, std::pair<size_t, int>> running;  // pid -> (job, slot)
  std::vector<bool> slot_busy(options.jobs, false);
  size_t next = 0;
  while (next < jobs.size() || !running.empty()) {
    while (next < jobs.size() && static_cast<int>(running.size()) < options.jobs) {
      int slot = 0;
      while (slot_busy[slot]) ++slot;
      running[spawn_job(spec, jobs[next], options, slot_device(options, slot))] = {next, slot};
      slot_busy[slot] = true;
      ++next;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Job& j = jobs[it->second.first];
    slot_busy[it->second.second] = false;
    running.erase(it);
    if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3)) {
      std::cerr << "[sweep] run " << j.run.string() << " failed (see " << j.run.string() << ".log)\n";
    }
    // The tables after every run (seed-major order finishes a point only in the last seed's round).
    if (--remaining[j.point] == 0) report_point(spec, options, j.point, spec.points.size());
    else options.reporter(spec);
  }
}

}  // namespace

pid_t spawn_train(const SweepSpec& spec, size_t point, int64_t seed, const fs::path& run, bool resume, const SweepOptions& o,
                  const std::string& device, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {o.smlab_binary, "train"};
  if (resume) {
    argv.push_back("--resume");
    argv.push_back(run.string());
  } else {
    argv.push_back(spec.base.string());
    argv.push_back("--run-dir");
    argv.push_back(run.string());
  }
  for (const auto& ov : run_overrides(spec, point, seed, o)) argv.push_back(ov);
  if (!device.empty()) argv.push_back("experiment.device=" + device);
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  fs::create_directories(run.parent_path());
  const std::string log = (run.parent_path() / (run.filename().string() + ".log")).string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  exit_with_me();  // the child gets SIGTERM (checkpoint, exit 143) if this sweep is killed
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + o.smlab_binary + ": " + std::strerror(rc));
  return pid;
}

bool prepare_run_folder(const fs::path& run) {
  if (fs::exists(run / "checkpoints" / "last.pt")) return true;
  if (fs::exists(run)) fs::remove_all(run);  // started but never checkpointed
  return false;
}

std::string slot_device(const SweepOptions& o, int slot) {
  if (!o.device.empty()) return o.device;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  return gpus > 1 ? "cuda:" + std::to_string(slot % gpus) : "";
}

void print_sweep_outcome(const SweepSpec& spec, const SweepOptions& options) {
  const fs::path dir = spec.output_dir / spec.name;
  const json res = options.reporter(spec);
  std::cout << "[sweep] results: " << (dir / "results.md").string() << " and " << (dir / "results.csv").string() << "\n";
  if (res["best_point"].get<int>() >= 0) {
    std::cout << "[sweep] best by " << spec.metrics[0] << ": point " << res["best_point"] << " ("
              << spec.points[res["best_point"].get<int>()].label() << ")\n";
  }
}

fs::path run_sweep(const SweepSpec& spec, const SweepOptions& options) {
  TORCH_CHECK(static_cast<bool>(options.reporter), "run_sweep: SweepOptions.reporter is empty (pass analysis::write_sweep_results)");
  const fs::path dir = spec.output_dir / spec.name;
  fs::create_directories(dir);
  // One sweep per folder: a second would start the same runs and race on results.md (and halving.json).
  const FileLock lock = FileLock::acquire(dir / ".lock", "sweep folder " + dir.string() +
                                                             " is in use by another smlab sweep; wait for it to finish",
                                          /*remove_on_release=*/true);
  remove_stale_temporaries(dir);
  if (spec.halving.on) {
    run_halving(spec, options);
    return dir;
  }
  std::vector<Job> jobs;
  std::vector<size_t> remaining(spec.points.size(), 0);
  // Seed-major: every point's first seed before any point's second, so that a sweep stopped part-way
  // (or still running) already has one run of every point to compare.
  for (auto seed : spec.seeds) {
    for (size_t i = 0; i < spec.points.size(); ++i) {
      const fs::path run = sweep_run_folder(spec, i, seed);
      if (finished_summary(run)) continue;
      const bool resume = prepare_run_folder(run);
      jobs.push_back({i, seed, run, resume});
      ++remaining[i];
    }
  }
  const size_t skipped = spec.points.size() * spec.seeds.size() - jobs.size();
  std::cout << "[sweep] " << spec.name << ": " << spec.points.size() << " points x " << spec.seeds.size()
            << " seeds; " << jobs.size() << " runs to do" << (skipped ? ", " + std::to_string(skipped) + " already done" : "")
            << "; folder " << dir.string() << std::endl;
  for (size_t i = 0; i < spec.points.size(); ++i)
    if (remaining[i] == 0) report_point(spec, options, i, spec.points.size());
  options.reporter(spec);  // the tables as they stand, before any run (a resumed sweep's finished runs)

  if (options.jobs <= 1) {
    run_here(spec, options, jobs, remaining);
  } else {
    run_as_processes(spec, options, jobs, remaining);
  }
  print_sweep_outcome(spec, options);
  return dir;
}

}  // namespace smlab::trainers
