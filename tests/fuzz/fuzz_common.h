// Shared by the libFuzzer harnesses (tests/fuzz/fuzz_<name>.cpp) and by their replay in the normal
// test build (tests/unit/test_fuzz_regressions.cpp).
//
// A harness is a function `int smlab_fuzz_<name>(const uint8_t* data, size_t size)`. It feeds the
// bytes to one of smlab's readers. smlab::UserError (config::ConfigError included) is the documented
// outcome of bad input and is swallowed by smlab::fuzz::run; anything else escaping (another
// exception type, a crash, a sanitizer report, a hang) is a finding. The fuzz build
// (CMakePresets.json preset `fuzz`, scripts/fuzz.sh) defines SMLAB_FUZZ_MAIN, which turns each
// harness into libFuzzer's LLVMFuzzerTestOneInput.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace smlab::fuzz {

/// Runs `f`; a UserError is the expected answer to bad input, everything else propagates.
template <class F>
int run(F&& f) {
  try {
    f();
  } catch (const UserError&) {
  }
  return 0;
}

/// This process's scratch folder: $TMPDIR/smlab-fuzz-<pid>, removed at exit.
inline const std::filesystem::path& scratch_root() {
  static const std::filesystem::path dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_root(), ec);
    });
    return std::filesystem::path(t && *t ? t : "/tmp") / ("smlab-fuzz-" + std::to_string(::getpid()));
  }();
  return dir;
}

/// The scratch folder, emptied for a new input.
inline std::filesystem::path scratch() {
  std::error_code ec;
  std::filesystem::remove_all(scratch_root(), ec);
  std::filesystem::create_directories(scratch_root());
  return scratch_root();
}

inline void write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The input cut at every `sep` into at most `max_parts` parts (the last part keeps the rest).
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, std::string_view sep, size_t max_parts) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  while (parts.size() + 1 < max_parts) {
    const auto at = s.find(sep);
    if (at == std::string_view::npos) break;
    parts.emplace_back(s.substr(0, at));
    s.remove_prefix(at + sep.size());
  }
  parts.emplace_back(s);
  return parts;
}

/// Writes the files of a small text archive under `dir`: each file starts with a line "@@ NAME" and
/// runs to the next such line (the input's leading bytes before the first "@@ " line are dropped).
/// NAME is a relative path of [A-Za-z0-9._-] parts (no "..", at most one folder level); others are
/// skipped. At most 16 files. Returns the names written.
inline std::vector<std::string> unpack_files(const uint8_t* data, size_t size, const std::filesystem::path& dir) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> names;
  size_t at = s.rfind("@@ ", 0) == 0 ? 0 : s.find("\n@@ ");
  if (at != std::string_view::npos && at > 0) ++at;
  while (at != std::string_view::npos && names.size() < 16) {
    const size_t eol = s.find('\n', at);
    const std::string name(s.substr(at + 3, eol == std::string_view::npos ? std::string_view::npos : eol - at - 3));
    const size_t body = eol == std::string_view::npos ? s.size() : eol + 1;
    const size_t next = eol == std::string_view::npos ? std::string_view::npos : s.find("\n@@ ", eol);
    const std::string_view content = next == std::string_view::npos ? s.substr(body)
                                     : next < body                  ? std::string_view()
                                                                    : s.substr(body, next - body);
    at = next == std::string_view::npos ? next : next + 1;
    bool ok = !name.empty() && name.size() < 64 && name.front() != '/' && name.find("..") == std::string::npos &&
              std::count(name.begin(), name.end(), '/') <= 1 && name.back() != '/';
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/');
    if (!ok) continue;
    const auto path = dir / name;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (std::filesystem::is_directory(path, ec)) continue;
    write_file(path, content);
    names.push_back(name);
  }
  return names;
}

}  // namespace smlab::fuzz

#ifdef SMLAB_FUZZ_MAIN
#define SMLAB_FUZZ_ENTRY(fn) \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fn(data, size); }
#else
#define SMLAB_FUZZ_ENTRY(fn)
#endif
