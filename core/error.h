// Error types shared across smlab. Messages are meant for the person at the terminal:
// they name the file, the key or record, and what would have been accepted.
#pragma once
#include <stdexcept>
#include <string>

namespace smlab {

/// A failure caused by the user's input (config, data, flags). The CLI prints the message
/// and exits with status 2; nothing is written.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad command-line usage: the CLI prints the message followed by the verb's usage, exit 2.
class UsageError : public UserError {
 public:
  using UserError::UserError;
};

/// A job stopped by SIGINT or SIGTERM after saving what it had (a checkpoint, finished rows). The CLI
/// prints the message and exits with 128 + signal (130, 143), as a shell reports a killed command, so
/// that schedulers and scripts never mistake an interrupted job for a finished one.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& what) : std::runtime_error(what), signal_(signal) {}
  int signal() const { return signal_; }
  int exit_status() const { return 128 + signal_; }

 private:
  int signal_;
};

}  // namespace smlab
