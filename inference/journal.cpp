// The durable journal of a scoring job, shard outputs and their merge (journal.h).
#include "inference/journal.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <vector>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "inference/writers.h"

namespace smlab::inference {
namespace fs = std::filesystem;
using nlohmann::json;

fs::path parts_dir(const fs::path& output) { return output.string() + ".parts"; }
fs::path rejects_file(const fs::path& output) { return output.string() + ".rejects.csv"; }
fs::path done_file(const fs::path& output) { return output.string() + ".done.json"; }
fs::path chunk_file(const fs::path& parts, int64_t c, const char* what) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "chunk-%07lld.%s", static_cast<long long>(c), what);
  return parts / buf;
}

/// CRC-32 of a file's bytes, read in 1 MiB blocks.
uint32_t file_crc(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw UserError("cannot read " + p.string());
  std::vector<char> buf(1 << 20);
  uLong c = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) c = crc32(c, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(in.gcount()));
  }
  return static_cast<uint32_t>(c);
}

std::string file_fingerprint(const fs::path& p) {
  // By content: a file re-exported or edited in place with the same size is another job. A folder
  // (images, packed shards) is fingerprinted by every file's relative path, size and modification
  // time, so that a large image folder is not read twice.
  std::ostringstream f;
  f << fs::absolute(p).lexically_normal().string();
  if (fs::is_regular_file(p)) {
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08x", file_crc(p));
    f << ":" << fs::file_size(p) << ":crc32=" << crc;
  } else if (fs::is_directory(p)) {
    std::vector<std::string> entries;
    for (const auto& e : fs::recursive_directory_iterator(p)) {
      if (!e.is_regular_file()) continue;
      const auto t = e.last_write_time().time_since_epoch().count();
      entries.push_back(fs::relative(e.path(), p).string() + ":" + std::to_string(e.file_size()) + ":" + std::to_string(t));
    }
    std::sort(entries.begin(), entries.end());
    uLong c = crc32(0L, Z_NULL, 0);
    for (const auto& s : entries) c = crc32(c, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size()));
    char crc[16];
    std::snprintf(crc, sizeof crc, "%08x", static_cast<uint32_t>(c));
    f << ":" << entries.size() << " files:listing-crc32=" << crc;
  }
  return f.str();
}

/// Appends `s` to `out`, without its first line when `skip_header`.
static void append_text(std::string& out, const std::string& s, bool skip_header) {
  const auto nl = skip_header ? s.find('\n') : std::string::npos;
  if (!skip_header) out += s;
  else if (nl != std::string::npos) out.append(s, nl + 1, std::string::npos);
}

void append_file(std::string& out, const fs::path& src, bool skip_header) { append_text(out, read_file(src), skip_header); }

/// A JSON file of the journal, parsed; a damaged one is a UserError naming it (tests/fuzz/fuzz_journal.cpp).
static json read_json_file(const fs::path& p) {
  try {
    return json::parse(read_file(p));
  } catch (const json::exception& e) {
    throw UserError(p.string() + ": not valid JSON (" + std::string(e.what()).substr(0, 120) +
                    "); remove it and rerun that job");
  }
}

std::optional<json> finished_job(const fs::path& output, const json& job) {
  if (!fs::exists(done_file(output))) return std::nullopt;
  const auto done = read_json_file(done_file(output));
  if (!done.is_object() || done.value("job", json()) != job)
    throw UserError(output.string() + " was finished by a different job (see " + done_file(output).string() +
                    "); remove it and its .done.json/.rejects.csv or choose another --output");
  return done;
}

Journal::Journal(const fs::path& output, const json& job)
    : output_(output), parts_(parts_dir(output)), journal_(parts_ / "journal.jsonl") {
  if (fs::exists(parts_) && !fs::is_directory(parts_))  // not a raw filesystem_error (tests/fuzz/fuzz_journal.cpp)
    throw UserError(parts_.string() + " exists and is not a folder; remove it or choose another --output");
  if (fs::exists(journal_)) {
    std::istringstream in(read_file(journal_));
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (text::trim(line).empty()) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const std::exception&) {
        continue;  // a line cut by a crash: its chunk is simply redone
      }
      if (!j.is_object()) continue;  // likewise
      if (first) {
        if (j.value("job", json()) != job)
          throw UserError(parts_.string() + " holds a different job (" + j.value("job", json()).dump() +
                          "); remove it or choose another --output");
        first = false;
      } else if (j.contains("chunk") && j["chunk"].is_number_integer() && fs::exists(chunk_file(parts_, j["chunk"], "out")) &&
                 fs::exists(chunk_file(parts_, j["chunk"], "rej"))) {
        done_.insert(j["chunk"].get<int64_t>());
      }
    }
    if (first) fs::remove(journal_);
  } else if (fs::exists(output)) {
    throw UserError(output.string() + " exists and is not an unfinished smlab score job: not overwriting it");
  }
  fs::create_directories(parts_);
  if (!fs::exists(journal_)) append_line_durable(journal_, json{{"job", job}}.dump());
}

void Journal::commit(int64_t c, const std::string& rows, const std::string& rejects, int64_t n_rows, int64_t n_rejects) {
  write_file_atomic(chunk_file(parts_, c, "out"), rows);
  write_file_atomic(chunk_file(parts_, c, "rej"), rejects);
  append_line_durable(journal_, json{{"chunk", c}, {"rows", n_rows}, {"rejects", n_rejects}}.dump());
  done_.insert(c);
}

void Journal::finish(const json& summary) {
  write_file_atomic(done_file(output_), summary.dump(2) + "\n");
  fs::remove_all(parts_);
}

FileLock lock_output(const fs::path& output) {
  std::error_code ec;
  if (output.has_parent_path() && !fs::is_directory(output.parent_path()) &&
      !fs::create_directories(output.parent_path(), ec))
    throw UserError("cannot create the output folder " + output.parent_path().string() + ": " + ec.message());
  auto lock = FileLock::acquire(output.string() + ".lock",
                                output.string() + " is being written by another smlab process; wait for it to finish, "
                                                  "or choose another --output",
                                /*remove_on_release=*/true);
  // The output is ours: temporary files of a writer killed mid-write (of the output, its summary and
  // rejects, its parts) are stale.
  remove_stale_temporaries(output.has_parent_path() ? output.parent_path() : fs::path("."), output.filename().string());
  remove_stale_temporaries(parts_dir(output));
  return lock;
}

fs::path shard_output(const fs::path& output, int64_t index, int64_t count) {
  if (count <= 1) return output;
  auto p = output;
  p.replace_filename(output.stem().string() + ".shard-" + std::to_string(index) + "-of-" + std::to_string(count) +
                     output.extension().string());
  return p;
}

namespace {

bool is_index(const std::string& s) { return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), ::isdigit); }

/// A shard's .done.json with the fields merge reads; anything else is a UserError naming the file.
json read_done(const fs::path& p) {
  const json d = read_json_file(p);
  const json job = d.is_object() ? d.value("job", json()) : json();
  const json pos = job.is_object() ? job.value("positions", json()) : json();
  const auto integer = [](const json& o, const char* key) { return o.value(key, json()).is_number_integer(); };
  if (!job.is_object() || !pos.is_array() || pos.size() != 2 || !pos[0].is_number_integer() ||
      !pos[1].is_number_integer() || !integer(job, "records") || !job.value("output_format", json()).is_string() ||
      !integer(d, "rows") || !integer(d, "rejects"))
    throw UserError(p.string() + ": not the .done.json of a finished smlab score shard (a field is missing or "
                    "mistyped); remove it and rerun that shard");
  return d;
}

/// The shard files <stem>.shard-<i>-of-<n><ext> beside `output`, by index; `count` is n.
std::map<int64_t, fs::path> find_shards(const fs::path& output, int64_t& count) {
  const std::string prefix = output.stem().string() + ".shard-", ext = output.extension().string();
  const fs::path dir = output.has_parent_path() ? output.parent_path() : fs::path(".");
  count = -1;
  std::map<int64_t, fs::path> shards;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!text::starts_with(name, prefix) || name.size() < ext.size() || name.substr(name.size() - ext.size()) != ext)
      continue;
    const auto mid = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());  // "i-of-n"
    const auto of = mid.find("-of-");
    if (of == std::string::npos || !is_index(mid.substr(0, of)) || !is_index(mid.substr(of + 4))) continue;
    const int64_t i = std::stoll(mid.substr(0, of)), n = std::stoll(mid.substr(of + 4));
    if (count >= 0 && n != count)
      throw UserError(dir.string() + ": shard files of " + output.filename().string() + " disagree on the shard count (" +
                      std::to_string(count) + " and " + std::to_string(n) + ")");
    count = n;
    shards[i] = e.path();
  }
  if (count < 1) throw UserError(output.string() + ": no shard outputs (" + prefix + "<i>-of-<n>" + ext + ") found");
  std::vector<std::string> missing;
  for (int64_t i = 0; i < count; ++i) {
    const auto p = shard_output(output, i, count);
    if (!fs::exists(done_file(p))) missing.push_back(p.filename().string() + (fs::exists(parts_dir(p)) ? " (unfinished)" : ""));
  }
  if (!missing.empty()) throw UserError("cannot merge " + output.string() + ": shard(s) not finished: " + text::join(missing, ", "));
  return shards;
}

}  // namespace

/// Appends a finished shard's file to `out` after checking it against its .done.json: `rows` data
/// lines plus `header` header lines, every one complete (issue 22, item 6: a truncated shard was
/// merged as if whole, ending in a partial row).
void append_checked(std::string& out, const fs::path& file, int64_t rows, int header, bool skip_header, int64_t shard,
                    int64_t count) {
  const std::string s = read_file(file);
  const auto lines = static_cast<int64_t>(std::count(s.begin(), s.end(), '\n'));
  if ((!s.empty() && s.back() != '\n') || lines != rows + header)
    throw UserError(file.string() + " holds " + std::to_string(lines) + " complete lines" +
                    (!s.empty() && s.back() != '\n' ? " and a partial one" : "") + ", but its .done.json counts " +
                    std::to_string(rows) + (header ? " rows plus a header" : " rows") +
                    ": the file was truncated or edited; remove it and its .done.json and rerun shard " +
                    std::to_string(shard) + "/" + std::to_string(count));
  append_text(out, s, skip_header && header);
}

json merge(const fs::path& output) {
  const FileLock lock = lock_output(output);
  const auto ext = output.extension().string();
  for (const auto& [name, w] : writer_registry().entries())
    if (!w.mergeable && std::find(w.extensions.begin(), w.extensions.end(), ext) != w.extensions.end())
      throw UserError(output.string() + ": merging " + (name == "hdf5" ? std::string("HDF5") : name) +
                      " shard outputs is not supported yet; score unsharded into " + ext +
                      ", or shard into .csv/.jsonl and merge those");
  int64_t count = 0;
  find_shards(output, count);
  std::string rows, rejects = kRejectHeader;
  int64_t next = 0, total = -1, n_rows = 0, n_rej = 0;
  json job0;
  for (int64_t i = 0; i < count; ++i) {
    const auto p = shard_output(output, i, count);
    const auto done = read_done(done_file(p));
    auto job = done.at("job");
    const auto pos = job.at("positions");
    if (pos[0].get<int64_t>() != next)
      throw UserError(p.string() + " covers positions from " + pos[0].dump() + ", expected " + std::to_string(next) +
                      " (gap or overlap between shards)");
    next = pos[1].get<int64_t>();
    // Every shard must be the same job but for its slice.
    job.erase("shard");
    job.erase("positions");
    if (i == 0) job0 = job;
    else if (job != job0)
      throw UserError(p.string() + " was scored by a different job than shard 0 (" + job.dump() + " vs " + job0.dump() + ")");
    total = job.at("records").get<int64_t>();
    const bool header = writer_registry().get(job.at("output_format").get<std::string>()).header;
    append_checked(rows, p, done.at("rows").get<int64_t>(), header ? 1 : 0, i > 0, i, count);
    append_checked(rejects, rejects_file(p), done.at("rejects").get<int64_t>(), 1, true, i, count);
    n_rows += done.at("rows").get<int64_t>();
    n_rej += done.at("rejects").get<int64_t>();
  }
  if (next != total)
    throw UserError("the shards of " + output.string() + " cover positions 0.." + std::to_string(next) + " of " +
                    std::to_string(total));
  write_file_atomic(output, rows);
  write_file_atomic(rejects_file(output), rejects);
  json summary = {{"job", job0}, {"rows", n_rows}, {"rejects", n_rej}, {"shards", count}};
  summary["job"]["positions"] = {0, total};
  summary["job"]["shard"] = {0, 1};
  write_file_atomic(done_file(output), summary.dump(2) + "\n");
  return summary;
}

}  // namespace smlab::inference
