// Run folders: runs/<experiment>/<YYYYmmdd-HHMMSS>-<confighash>/ holding
//   config.yaml (fully resolved), meta.json (git commit + dirty flag, versions, device, seed),
//   metrics.jsonl, tb/ (TensorBoard), checkpoints/, summary.json.
// runs/<experiment>/latest points at the newest run.
//
// A process that writes a run (a new one, or --resume) holds an exclusive lock on <run>/.lock for
// as long as any copy of its RunDir lives; a second writer is refused with a message naming the
// folder. The lock is flock(2): the kernel drops it when the process dies, so kill -9 leaves no
// stale lock behind. Readers (eval, export, score) take no lock.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/file_lock.h"

namespace smlab {

class RunDir {
 public:
  /// Creates a new run folder for `cfg` under experiment.output_dir (or uses `explicit_dir`, which
  /// must not already hold a run: that is a UserError pointing at --resume) and locks it.
  static RunDir create(const config::Config& cfg, const std::string& device,
                       const std::filesystem::path& explicit_dir = {});
  /// Opens an existing run folder (for --resume, eval, export). Accepts the `latest` link.
  static RunDir open(const std::filesystem::path& dir);
  /// Opens an existing run folder to continue writing it (--resume): open() plus the writer's lock.
  static RunDir open_for_writing(const std::filesystem::path& dir);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path config_file() const { return path_ / "config.yaml"; }
  std::filesystem::path metrics_file() const { return path_ / "metrics.jsonl"; }
  std::filesystem::path summary_file() const { return path_ / "summary.json"; }
  std::filesystem::path checkpoints() const { return path_ / "checkpoints"; }
  std::filesystem::path tensorboard() const { return path_ / "tb"; }

  /// Appends one JSON object to metrics.jsonl (fsynced).
  void log_metrics(const nlohmann::json& record) const;
  /// On resume from the checkpoint of `step`: drops the records that the resumed run logs again (those
  /// of later steps, the test record, a line cut by a kill), so every record appears exactly once.
  /// Returns how many were dropped.
  int rewind_metrics(int64_t step) const;
  void write_summary(const nlohmann::json& summary) const;

 private:
  explicit RunDir(std::filesystem::path p) : path_(std::move(p)) {}
  void lock();
  std::filesystem::path path_;
  FileLock lock_;  ///< held by a writer, released with the last copy
};

/// Facts about the source tree at run time: {"commit", "dirty"}; commit "unknown" outside git.
nlohmann::json git_state(const std::filesystem::path& where = ".");

/// The experiment name: experiment.name, else the config file's stem.
std::string experiment_name(const config::Config& cfg);

}  // namespace smlab
