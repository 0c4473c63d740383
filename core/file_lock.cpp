#include "core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace fs = std::filesystem;

namespace smlab {

struct FileLock::State {
  int fd = -1;
  fs::path file;
  bool remove = false;
  ~State() {
    if (remove) ::unlink(file.c_str());  // while still locked: a waiter then sees a new inode and retries
    if (fd >= 0) ::close(fd);            // releases the flock
  }
};

FileLock FileLock::acquire(const fs::path& file, const std::string& busy, bool remove_on_release) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw UserError("cannot create the lock file " + file.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) throw UserError(busy + " (it holds " + file.string() + ")");
      throw UserError("cannot lock " + file.string() + ": " + std::strerror(err));
    }
    struct stat held {}, now {};
    if (::fstat(fd, &held) == 0 && ::stat(file.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev) {
      FileLock lock;
      lock.state_ = std::make_shared<State>();
      lock.state_->fd = fd;
      lock.state_->file = file;
      lock.state_->remove = remove_on_release;
      return lock;
    }
    ::close(fd);  // the previous holder removed this file as we opened it: lock the path's new file
  }
  throw UserError("cannot lock " + file.string() + ": it keeps being replaced by another process");
}

}  // namespace smlab
