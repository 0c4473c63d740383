// `smlab export --format pt2|onnx` through torch's Python (export_formats.h).
#include "inference/export_formats.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "smlab/build_info.h"

extern char** environ;

namespace smlab::inference {
namespace fs = std::filesystem;
using nlohmann::json;

std::string derived_format_name(DerivedFormat f) { return f == DerivedFormat::Pt2 ? "pt2" : "onnx"; }

ExportTools export_tools(const std::string& python_flag) {
  ExportTools t;
  const char* env_py = std::getenv("SMLAB_EXPORT_PYTHON");
  t.python = !python_flag.empty() ? fs::path(python_flag) : (env_py && *env_py) ? fs::path(env_py) : fs::path(SMLAB_BUILD_PYTHON);
  const char* env_script = std::getenv("SMLAB_EXPORT_SCRIPT");
  t.script = (env_script && *env_script) ? fs::path(env_script) : fs::path(SMLAB_BUILD_SOURCE_DIR) / "tools" / "export_pt2.py";
  return t;
}

namespace {

struct Spawned {
  int status = -1;
  std::string out, err;
};

/// Runs argv[0] with stdout and stderr captured (temporary files in `tmpdir`).
Spawned run_captured(const std::vector<std::string>& argv, const fs::path& tmpdir) {
  const std::string out = (tmpdir / "stdout").string(), err = (tmpdir / "stderr").string();
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw UserError("cannot start " + argv[0] + ": " + std::strerror(rc));
  Spawned s;
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  s.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  s.out = fs::exists(out) ? read_file(out) : "";
  s.err = fs::exists(err) ? read_file(err) : "";
  return s;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

}  // namespace

json export_derived(const fs::path& artifact, DerivedFormat format, const fs::path& output, const std::string& device,
                    const ExportTools& tools) {
  const std::string name = derived_format_name(format);
  if (!fs::exists(tools.python))
    throw UserError("--format " + name + " needs torch's Python at export time, and " + tools.python.string() +
                    " does not exist; pass --python PATH or set SMLAB_EXPORT_PYTHON");
  if (!fs::exists(tools.script))
    throw UserError("--format " + name + ": the export script " + tools.script.string() +
                    " is missing; set SMLAB_EXPORT_SCRIPT to smlab's tools/export_pt2.py");
  const fs::path tmp = output.parent_path().empty() ? fs::path(".") : output.parent_path();
  const fs::path logs = tmp / (output.filename().string() + ".export-logs");
  fs::create_directories(logs);
  const Spawned s = run_captured({tools.python.string(), tools.script.string(), "--artifact", artifact.string(), "--format",
                                  name, "--output", output.string(), "--device", device},
                                 logs);
  std::error_code ec;
  fs::remove_all(logs, ec);
  const auto err = lines_of(s.err), out = lines_of(s.out);
  if (s.status != 0) {
    for (auto it = err.rbegin(); it != err.rend(); ++it)
      if (it->rfind("smlab export: error: ", 0) == 0) throw UserError(it->substr(21));
    throw UserError("--format " + name + ": " + tools.script.filename().string() + " failed (exit status " +
                    std::to_string(s.status) + "): " + (err.empty() ? std::string("no message") : err.back()));
  }
  for (auto it = out.rbegin(); it != out.rend(); ++it)
    if (!it->empty() && it->front() == '{') return json::parse(*it);
  throw UserError("--format " + name + ": " + tools.script.string() + " printed no report");
}

std::map<std::string, FormatSupport> format_support(const ExportTools& tools) {
  std::map<std::string, FormatSupport> m;
  m["torchscript"] = {true, true, "built in"};
  const bool py = fs::exists(tools.python) && fs::exists(tools.script);
  std::string have;
  if (py) {
    const fs::path tmp = fs::temp_directory_path() / ("smlab-info-" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    const auto s = run_captured({tools.python.string(), "-c",
                                 "import importlib.util as u, shutil, os;"
                                 "print(*[m for m in ('torch','onnx','onnxscript','onnxruntime') if u.find_spec(m)],"
                                 "'cxx' if shutil.which(os.environ.get('CXX','c++')) or shutil.which('g++') else '')"},
                                tmp);
    std::error_code ec;
    fs::remove_all(tmp, ec);
    have = " " + s.out;
  }
  auto has = [&](const char* w) { return have.find(std::string(" ") + w) != std::string::npos; };
  const std::string where = "Python " + tools.python.string();
  FormatSupport pt2{py && has("torch") && has("cxx"), true, ""};
  pt2.note = pt2.exports ? "export: " + where + " + a C++ compiler; score: AOTIModelPackageLoader (no Python)"
                         : "export needs " + where + " with torch and a C++ compiler (" +
                               (py ? std::string(has("torch") ? "no C++ compiler" : "no torch") : "python or script missing") +
                               "); score: AOTIModelPackageLoader";
  m["pt2"] = pt2;
  FormatSupport onnx{py && has("torch") && has("onnx") && has("onnxscript"), false, ""};
  onnx.note = std::string(onnx.exports ? "export: " + where : "export needs onnx and onnxscript in " + where) +
              "; scored by ONNX Runtime, not by smlab";
  m["onnx"] = onnx;
  return m;
}

}  // namespace smlab::inference
