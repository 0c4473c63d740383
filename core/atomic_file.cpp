#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace smlab {
namespace {

void fsync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return;  // best effort for folders on filesystems that refuse it
  ::fsync(fd);
  ::close(fd);
}

fs::path temp_name(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  // Built with += (GCC 12 misreports `"." + std::string&&` at -O3 as an out-of-bounds copy).
  std::string name(1, '.');
  name += path.filename().string();
  name += ".tmp.";
  name += std::to_string(::getpid());
  name += '.';
  name += std::to_string(counter++);
  return path.parent_path() / name;
}

}  // namespace

int remove_stale_temporaries(const fs::path& dir, const std::string& name_prefix) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const auto tmp = name.rfind(".tmp.");
    if (name.size() < 2 || name[0] != '.' || tmp == std::string::npos || name.compare(1, name_prefix.size(), name_prefix) != 0)
      continue;
    const std::string rest = name.substr(tmp + 5);  // "<pid>.<n>"
    const auto dot = rest.find('.');
    if (dot == std::string::npos || dot == 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(rest.substr(0, dot).c_str(), &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to tell)
    if (fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

void write_atomic_with(const fs::path& path, const std::function<void(const fs::path&)>& writer) {
  const fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  fs::create_directories(parent);
  const fs::path tmp = temp_name(parent / path.filename());
  try {
    writer(tmp);
    fsync_path(tmp, false);
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  fsync_path(parent, true);
}

void write_file_atomic(const fs::path& path, const std::string& content) {
  write_atomic_with(path, [&](const fs::path& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw UserError("cannot write " + path.string() + ": " + std::strerror(errno));
    // A full disk (ENOSPC) or a file-size limit (EFBIG, with SIGXFSZ ignored) ends here as one line;
    // the caller's temporary file is removed and `path` keeps its previous content.
    const char* p = content.data();
    size_t left = content.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : ENOSPC;
        ::close(fd);
        throw UserError("cannot write " + path.string() + ": " + std::strerror(err) + " (" +
                        std::to_string(content.size() - left) + " of " + std::to_string(content.size()) +
                        " bytes written; the previous file, if any, is unchanged): free space and rerun");
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (::close(fd) != 0) throw UserError("cannot write " + path.string() + ": " + std::strerror(errno));
  });
}

void append_line_durable(const fs::path& path, const std::string& line) {
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) throw UserError("cannot open " + path.string() + " for appending: " + std::strerror(errno));
  const std::string data = line + "\n";
  const ssize_t n = ::write(fd, data.data(), data.size());
  const int err = errno;
  if (n > 0 && n != static_cast<ssize_t>(data.size())) {
    // Take the partial line back, so that the journal stays a sequence of whole lines.
    if (::ftruncate(fd, ::lseek(fd, 0, SEEK_END) - n) != 0) {}
  }
  ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(data.size()))
    throw UserError("cannot append to " + path.string() + ": " + std::strerror(n < 0 ? err : ENOSPC) + ": free space and rerun");
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace smlab
