// Every file smlab writes goes through these helpers: write a temporary file in the
// same folder, fsync it, rename it over the target, then fsync the folder. A reader
// never sees a half-written file, and a crash leaves either the old or the new one.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace smlab {

/// Writes `content` to `path` atomically.
void write_file_atomic(const std::filesystem::path& path, const std::string& content);

/// Calls `writer(tmp_path)` to produce the file, then fsyncs and renames it to `path`.
/// Use this for writers that want a path (torch::save, HDF5). If `writer` throws,
/// the temporary file is removed and `path` is left untouched.
void write_atomic_with(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& tmp)>& writer);

/// Appends one line (a '\n' is added) and fsyncs; used for journals such as metrics.jsonl.
void append_line_durable(const std::filesystem::path& path, const std::string& line);

/// Removes the temporary files (".<name>.tmp.<pid>.<n>") that killed writers left in `dir` (not
/// recursive), for names starting with `name_prefix`; those of a process still running are kept.
/// Called by the holder of the folder's or the output's lock, so nothing else writes them. Returns
/// how many were removed.
int remove_stale_temporaries(const std::filesystem::path& dir, const std::string& name_prefix = "");

/// Reads a whole file; throws UserError naming the path when it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace smlab
