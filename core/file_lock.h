// An exclusive lock on a file path, shared by everything that must have one writer at a time: a run
// folder (<run>/.lock) and a score output (<output>.lock). It is flock(2), so the kernel drops it when
// the holder dies: kill -9 leaves no stale lock, only (for a removable lock) a lock file that the next
// holder takes over.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

namespace smlab {

class FileLock {
 public:
  FileLock() = default;

  /// Locks `file`, creating it when missing. When another process holds it: UserError("<busy> (it
  /// holds <file>)"). `remove_on_release` unlinks the file when the last copy of the lock goes, so a
  /// finished job leaves nothing beside its output; a holder that finds its file unlinked by the previous
  /// holder's release retries on the new one, so two processes can never both hold the path.
  static FileLock acquire(const std::filesystem::path& file, const std::string& busy, bool remove_on_release = false);

  bool held() const { return state_ != nullptr; }

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace smlab
