#include "core/run_dir.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>

#include "core/atomic_file.h"
#include "core/file_lock.h"
#include "core/info.h"

namespace fs = std::filesystem;

namespace smlab {
namespace {

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int rc = ::pclose(p);
  if (rc != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

/// What in `dir` shows that a run already lives there ("" when nothing does).
std::string existing_run_marker(const fs::path& dir) {
  for (const char* f : {"config.yaml", "meta.json", "metrics.jsonl", "summary.json"})
    if (fs::exists(dir / f)) return f;
  std::error_code ec;
  if (fs::is_directory(dir / "checkpoints") && !fs::is_empty(dir / "checkpoints", ec)) return "checkpoints/";
  return "";
}

}  // namespace

void RunDir::lock() {
  lock_ = FileLock::acquire(path_ / ".lock", "run folder " + path_.string() +
                                                 " is in use by another smlab process; wait for it to finish, or train "
                                                 "into another folder");
  // The folder is ours: temporary files of a writer killed mid-write are stale.
  for (const fs::path& d : {path_, checkpoints()}) remove_stale_temporaries(d);
}

nlohmann::json git_state(const fs::path& where) {
  const std::string q = "git -C '" + where.string() + "' ";
  const std::string commit = run_command(q + "rev-parse HEAD 2>/dev/null");
  if (commit.empty()) return {{"commit", "unknown"}, {"dirty", nullptr}};
  const std::string status = run_command(q + "status --porcelain --untracked-files=no 2>/dev/null");
  return {{"commit", commit}, {"dirty", !status.empty()}};
}

std::string experiment_name(const config::Config& cfg) {
  std::string name = cfg.get<std::string>("experiment.name");
  if (name.empty()) name = fs::path(cfg.source()).stem().string();
  if (name.empty()) name = "experiment";
  return name;
}

RunDir RunDir::create(const config::Config& cfg, const std::string& device, const fs::path& explicit_dir) {
  fs::path dir = explicit_dir;
  const fs::path exp_dir = fs::path(cfg.get<std::string>("experiment.output_dir")) / experiment_name(cfg);
  if (dir.empty()) {
    const std::string base = timestamp() + "-" + cfg.hash().substr(0, 8);
    dir = exp_dir / base;
    for (int i = 1; fs::exists(dir); ++i) dir = exp_dir / (base + "." + std::to_string(i));
  } else if (const auto marker = existing_run_marker(dir); !marker.empty()) {
    throw UserError("run folder " + dir.string() + " already holds a run (" + marker + " exists); continue it with " +
                    "'smlab train --resume " + dir.string() + "', or give --run-dir a new folder");
  }
  fs::create_directories(dir / "checkpoints");
  RunDir run(dir);
  run.lock();
  // Re-checked under the lock: another process may have created the run in between.
  if (!explicit_dir.empty() && !existing_run_marker(dir).empty())
    throw UserError("run folder " + dir.string() + " was just created by another smlab process; give --run-dir a new folder");
  write_file_atomic(run.config_file(), "# Resolved by smlab from " + cfg.source() + "\n" + cfg.dump());
  nlohmann::json meta = {{"experiment", experiment_name(cfg)},
                         {"config_source", cfg.source()},
                         {"config_hash", cfg.hash()},
                         {"git", git_state()},
                         {"build", to_json(build_info())},
                         {"device", device},
                         {"seed", cfg.get<int64_t>("experiment.seed")},
                         {"created", timestamp()}};
  write_file_atomic(run.path() / "meta.json", meta.dump(2) + "\n");
  if (explicit_dir.empty()) {
    // `latest` symlink, replaced atomically.
    const fs::path tmp = exp_dir / ".latest.tmp";
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::create_directory_symlink(dir.filename(), tmp, ec);
    if (!ec) fs::rename(tmp, exp_dir / "latest", ec);
  }
  return run;
}

RunDir RunDir::open(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw UserError("run folder " + dir.string() + " does not exist");
  const fs::path real = fs::canonical(dir);
  if (!fs::exists(real / "config.yaml")) {
    throw UserError(dir.string() + " is not a run folder (no config.yaml in it)");
  }
  return RunDir(real);
}

RunDir RunDir::open_for_writing(const fs::path& dir) {
  RunDir run = open(dir);
  run.lock();
  return run;
}

void RunDir::log_metrics(const nlohmann::json& record) const { append_line_durable(metrics_file(), record.dump()); }

int RunDir::rewind_metrics(int64_t step) const {
  if (!fs::exists(metrics_file())) return 0;
  std::istringstream in(read_file(metrics_file()));
  std::string line, kept;
  int dropped = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json r;
    try {
      r = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      ++dropped;  // a line cut by a kill
      continue;
    }
    const bool later = r.contains("step") && r["step"].is_number_integer() && r["step"].get<int64_t>() > step;
    if (later || r.value("split", "") == "test") {
      ++dropped;
      continue;
    }
    kept += line + "\n";
  }
  if (dropped > 0) write_file_atomic(metrics_file(), kept);
  return dropped;
}

void RunDir::write_summary(const nlohmann::json& summary) const {
  write_file_atomic(summary_file(), summary.dump(2) + "\n");
}

}  // namespace smlab
