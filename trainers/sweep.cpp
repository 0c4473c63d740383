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
#include "core/text.h"
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

fs::path run_folder(const SweepSpec& spec, size_t point, int64_t seed) {
  return spec.output_dir / spec.name / ("p" + std::to_string(point) + "-s" + std::to_string(seed));
}

std::optional<json> finished_summary(const fs::path& run) {
  const fs::path f = run / "summary.json";
  if (!fs::exists(f)) return std::nullopt;
  try {
    json s = json::parse(read_file(f));
    const std::string status = s.value("status", "");
    if (status == "completed" || status == "early_stopped" || status == "max_steps" || status == "nonfinite_loss")
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

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
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

}  // namespace

SweepSpec load_sweep(const fs::path& file) {
  Origins origins;
  const YAML::Node raw = config::load_raw(file, &origins);
  auto where = [&](const std::string& key) {
    auto it = origins.find(key);
    return it == origins.end() ? config::Origin{file.string(), 0} : it->second;
  };
  const std::vector<std::string> allowed = {"base", "name", "seeds", "set", "grid", "points", "metrics", "output_dir"};
  for (const auto& kv : raw) {
    const auto key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw config::ConfigError(where(key).str() + ": " + key + ": unknown sweep key" + text::did_you_mean(key, allowed) +
                                " (allowed: " + text::join(allowed, ", ") + ")");
    }
  }
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
  if (raw["grid"] && raw["points"]) {
    throw config::ConfigError(where("points").str() + ": give either grid or points, not both");
  }
  if (raw["grid"]) {
    spec.points = grid_points(raw["grid"], where);
  } else if (raw["points"]) {
    if (!raw["points"].IsSequence()) throw config::ConfigError(where("points").str() + ": points: expected a list of override mappings");
    for (const auto& p : raw["points"]) spec.points.push_back({override_map(p, where("points"), "points")});
  } else {
    spec.points = {SweepPoint{}};
  }
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
      throw config::ConfigError(where(raw["grid"] ? key : raw["points"] ? "points" : "set").str() + ": point " +
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
  return spec;
}

json write_results(const SweepSpec& spec) {
  const fs::path dir = spec.output_dir / spec.name;
  std::ostringstream csv;
  csv << "point,overrides,seed,status";
  for (const auto& m : spec.metrics) csv << "," << m;
  csv << ",train_seconds,run_dir\n";
  json points = json::array();
  for (size_t i = 0; i < spec.points.size(); ++i) {
    json agg = {{"point", i}, {"overrides", spec.points[i].label()}, {"runs", 0}};
    std::vector<std::vector<double>> values(spec.metrics.size());
    for (auto seed : spec.seeds) {
      const fs::path run = run_folder(spec, i, seed);
      auto summary = finished_summary(run);
      if (!summary) continue;
      agg["runs"] = agg["runs"].get<int>() + 1;
      csv << i << "," << csv_field(spec.points[i].label()) << "," << seed << "," << (*summary)["status"].get<std::string>();
      for (size_t m = 0; m < spec.metrics.size(); ++m) {
        auto v = metric_at(*summary, spec.metrics[m]);
        csv << "," << (v ? fmt(*v) : "");
        if (v) values[m].push_back(*v);
      }
      csv << "," << fmt(summary->value("train_seconds", 0.0)) << "," << csv_field(run.string()) << "\n";
    }
    for (size_t m = 0; m < spec.metrics.size(); ++m) {
      const auto& v = values[m];
      if (v.empty()) continue;
      double mean = 0, var = 0;
      for (double x : v) mean += x;
      mean /= v.size();
      for (double x : v) var += (x - mean) * (x - mean);
      const double sd = v.size() > 1 ? std::sqrt(var / (v.size() - 1)) : 0.0;  // sample std over seeds
      agg["metrics"][spec.metrics[m]] = {{"mean", mean}, {"std", sd}, {"n", v.size()}};
    }
    points.push_back(agg);
  }
  // Markdown: mean ± std per point, best mean per column in bold.
  std::ostringstream md;
  md << "# Sweep `" << spec.name << "`\n\n"
     << "Base config: `" << spec.base.string() << "`; seeds: " << spec.seeds.size()
     << "; cells are mean ± sample std over seeds. Bold marks the best point per column; points are ranked by `"
     << spec.metrics[0] << "`.\n\n";
  md << "| point | overrides | runs |";
  for (const auto& m : spec.metrics) md << " " << m << " |";
  md << "\n|---|---|---|";
  for (size_t m = 0; m < spec.metrics.size(); ++m) md << "---|";
  md << "\n";
  std::vector<int> best(spec.metrics.size(), -1);
  for (size_t m = 0; m < spec.metrics.size(); ++m) {
    const bool up = larger_is_better(spec.metrics[m]);
    for (size_t i = 0; i < points.size(); ++i) {
      if (!points[i].contains("metrics") || !points[i]["metrics"].contains(spec.metrics[m])) continue;
      const double v = points[i]["metrics"][spec.metrics[m]]["mean"];
      if (best[m] < 0) {
        best[m] = static_cast<int>(i);
        continue;
      }
      const double b = points[best[m]]["metrics"][spec.metrics[m]]["mean"];
      if (up ? v > b : v < b) best[m] = static_cast<int>(i);
    }
  }
  for (size_t i = 0; i < points.size(); ++i) {
    md << "| " << i << " | `" << points[i]["overrides"].get<std::string>() << "` | " << points[i]["runs"] << " |";
    for (size_t m = 0; m < spec.metrics.size(); ++m) {
      if (!points[i].contains("metrics") || !points[i]["metrics"].contains(spec.metrics[m])) {
        md << " - |";
        continue;
      }
      const auto& c = points[i]["metrics"][spec.metrics[m]];
      const std::string cellv = cell(c, points[i]["runs"].get<int>());
      md << " " << (best[m] == static_cast<int>(i) ? "**" + cellv + "**" : cellv) << " |";
    }
    md << "\n";
  }
  write_file_atomic(dir / "results.csv", csv.str());
  write_file_atomic(dir / "results.md", md.str());
  return {{"points", points}, {"best_point", best.empty() ? -1 : best[0]}};
}

namespace {

struct Job {
  size_t point;
  int64_t seed;
  fs::path run;
  bool resume;
};

std::vector<std::string> job_overrides(const SweepSpec& spec, const Job& j, const SweepOptions& o) {
  auto ov = assignments(spec, spec.points[j.point]);
  ov.push_back("experiment.seed=" + std::to_string(j.seed));
  ov.push_back("experiment.name=" + spec.name + "-p" + std::to_string(j.point));
  ov.push_back("train.progress=none");
  for (const auto& e : o.extra_overrides) ov.push_back(e);
  return ov;
}

pid_t spawn_job(const SweepSpec& spec, const Job& j, const SweepOptions& o, const std::string& device) {
  std::vector<std::string> argv = {o.smlab_binary, "train"};
  if (j.resume) {
    argv.push_back("--resume");
    argv.push_back(j.run.string());
  } else {
    argv.push_back(spec.base.string());
    argv.push_back("--run-dir");
    argv.push_back(j.run.string());
  }
  for (const auto& ov : job_overrides(spec, j, o)) argv.push_back(ov);
  if (!device.empty()) argv.push_back("experiment.device=" + device);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  fs::create_directories(j.run.parent_path());
  const std::string log = (j.run.parent_path() / (j.run.filename().string() + ".log")).string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + o.smlab_binary + ": " + std::strerror(rc));
  return pid;
}

void report_point(const SweepSpec& spec, size_t i, size_t total) {
  const json res = write_results(spec);
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

}  // namespace

fs::path run_sweep(const SweepSpec& spec, const SweepOptions& options) {
  const fs::path dir = spec.output_dir / spec.name;
  fs::create_directories(dir);
  // One sweep per folder: a second would start the same runs and race on results.md.
  const FileLock lock = FileLock::acquire(dir / ".lock", "sweep folder " + dir.string() +
                                                             " is in use by another smlab sweep; wait for it to finish",
                                          /*remove_on_release=*/true);
  remove_stale_temporaries(dir);
  std::vector<Job> jobs;
  std::vector<size_t> remaining(spec.points.size(), 0);
  for (size_t i = 0; i < spec.points.size(); ++i) {
    for (auto seed : spec.seeds) {
      const fs::path run = run_folder(spec, i, seed);
      if (finished_summary(run)) continue;
      const bool resume = fs::exists(run / "checkpoints" / "last.pt");
      if (!resume && fs::exists(run)) fs::remove_all(run);  // started but never checkpointed
      jobs.push_back({i, seed, run, resume});
      ++remaining[i];
    }
  }
  const size_t skipped = spec.points.size() * spec.seeds.size() - jobs.size();
  std::cout << "[sweep] " << spec.name << ": " << spec.points.size() << " points x " << spec.seeds.size()
            << " seeds; " << jobs.size() << " runs to do" << (skipped ? ", " + std::to_string(skipped) + " already done" : "")
            << "; folder " << dir.string() << std::endl;
  for (size_t i = 0; i < spec.points.size(); ++i)
    if (remaining[i] == 0) report_point(spec, i, spec.points.size());

  if (options.jobs <= 1) {
    for (const auto& j : jobs) {
      auto ov = job_overrides(spec, j, options);
      if (!options.device.empty()) ov.push_back("experiment.device=" + options.device);
      TrainOptions to;
      to.run_dir = j.run;
      to.resume = j.resume;
      const auto cfg = config::load(j.resume ? j.run / "config.yaml" : spec.base, j.resume ? std::vector<std::string>{} : ov);
      const int signal = train(cfg, to).signal;
      if (--remaining[j.point] == 0) report_point(spec, j.point, spec.points.size());
      if (signal != 0) {  // the run saved its checkpoint; the rest of the sweep waits for a rerun
        write_results(spec);
        throw Interrupted(signal, "interrupted by signal " + std::to_string(signal) + " after " + j.run.string() +
                                      " saved its checkpoint; rerun the same command to resume the sweep");
      }
    }
  } else {
    const int gpus = static_cast<int>(torch::cuda::device_count());
    std::map<pid_t, std::pair<size_t, int>> running;  // pid -> (job, slot)
    std::vector<bool> slot_busy(options.jobs, false);
    size_t next = 0;
    while (next < jobs.size() || !running.empty()) {
      while (next < jobs.size() && static_cast<int>(running.size()) < options.jobs) {
        int slot = 0;
        while (slot_busy[slot]) ++slot;
        std::string device = options.device;
        if (device.empty() && gpus > 1) device = "cuda:" + std::to_string(slot % gpus);
        running[spawn_job(spec, jobs[next], options, device)] = {next, slot};
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
      if (--remaining[j.point] == 0) report_point(spec, j.point, spec.points.size());
    }
  }
  const json res = write_results(spec);
  std::cout << "[sweep] results: " << (dir / "results.md").string() << " and " << (dir / "results.csv").string() << "\n";
  if (res["best_point"].get<int>() >= 0) {
    std::cout << "[sweep] best by " << spec.metrics[0] << ": point " << res["best_point"] << " ("
              << spec.points[res["best_point"].get<int>()].label() << ")\n";
  }
  return dir;
}

}  // namespace smlab::trainers
