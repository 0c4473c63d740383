// Console progress: a bar with ETA, throughput, loss and LR on a TTY; plain log lines otherwise.
#pragma once
#include <chrono>
#include <map>
#include <string>

namespace smlab {

class Progress {
 public:
  enum class Mode { Bar, Plain, None };
  /// "auto" picks Bar when stderr is a terminal, else Plain.
  static Mode parse_mode(const std::string& mode);

  Progress(Mode mode, std::string title, int64_t total, int64_t plain_every);
  /// Reports that `done` of `total` units are finished, with `samples` processed since start.
  void update(int64_t done, int64_t samples, const std::map<std::string, double>& values);
  /// Ends the bar (newline) and prints a closing line.
  void finish(const std::string& closing = "");
  /// Prints a line between updates (e.g. a mid-epoch evaluation); the bar is redrawn below it.
  void note(const std::string& line);

  /// "1.23k", "45.6", ... for throughput displays.
  static std::string human(double v);

 private:
  Mode mode_;
  std::string title_;
  int64_t total_, plain_every_, last_plain_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  int64_t first_done_ = -1, first_samples_ = 0;
  bool drawn_ = false;
};

}  // namespace smlab
