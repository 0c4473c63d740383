// The durable journal of a scoring job, and the files around it.
//
// A job's output `out` has, while it runs, a folder out.parts/ with journal.jsonl (first line:
// the job's fingerprint; then one line per finished chunk, appended and fsynced) and each
// finished chunk's rows and rejects (chunk-NNNNNNN.out / .rej, written atomically before the
// journal line). When every chunk is done the parts are joined into `out` and
// out.rejects.csv, out.done.json records the job, and the parts are removed. A rerun of the same
// job skips the journaled chunks; a different job on the same output is refused.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "core/file_lock.h"

namespace smlab::inference {

std::filesystem::path parts_dir(const std::filesystem::path& output);
std::filesystem::path rejects_file(const std::filesystem::path& output);
std::filesystem::path done_file(const std::filesystem::path& output);
std::filesystem::path chunk_file(const std::filesystem::path& parts, int64_t chunk, const char* what);
inline constexpr const char* kRejectHeader = "id,position,reason\n";

/// What identifies a job's artifact or input: the path plus, for a file, its size and CRC-32 of its
/// content; for a folder, the CRC-32 of its files' relative paths, sizes and modification times.
std::string file_fingerprint(const std::filesystem::path& p);

/// Appends the file `src` to `out`, dropping its first line when `skip_header`.
void append_file(std::string& out, const std::filesystem::path& src, bool skip_header);

/// The summary (out.done.json) when `output` was finished by `job`; nothing when it is not
/// finished. Throws UserError when it was finished by a different job.
std::optional<nlohmann::json> finished_job(const std::filesystem::path& output, const nlohmann::json& job);

class Journal {
 public:
  /// Opens the journal of `output` for `job`, or starts one. Throws UserError when the parts
  /// hold a different job, or when `output` exists and is not an unfinished job of smlab score.
  Journal(const std::filesystem::path& output, const nlohmann::json& job);

  /// Chunks already done (journaled, with both part files present).
  const std::set<int64_t>& done() const { return done_; }
  const std::filesystem::path& parts() const { return parts_; }

  /// Writes chunk `c`'s part files atomically, then journals it durably.
  void commit(int64_t c, const std::string& rows, const std::string& rejects, int64_t n_rows, int64_t n_rejects);

  /// After the output is assembled: writes out.done.json (`summary`) and removes the parts.
  void finish(const nlohmann::json& summary);

 private:
  std::filesystem::path output_, parts_, journal_;
  std::set<int64_t> done_;
};

/// The output path of shard i of n: <stem>.shard-<i>-of-<n><ext> (unsharded: `output` itself).
/// Locks `output` for one writer (a scorer or a merge) for the lock's lifetime: <output>.lock, removed
/// on release. A second writer gets a UserError naming the lock instead of both corrupting the parts.
FileLock lock_output(const std::filesystem::path& output);

std::filesystem::path shard_output(const std::filesystem::path& output, int64_t index, int64_t count);

/// Validates the n shard outputs of `output` (every shard done, same job, position ranges that
/// tile the input without gap or overlap) and concatenates them (rows and rejects) into
/// `output`. Throws UserError naming what is missing or inconsistent.
nlohmann::json merge(const std::filesystem::path& output);

}  // namespace smlab::inference
