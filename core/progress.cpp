#include "core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "core/text.h"

namespace smlab {

Progress::Mode Progress::parse_mode(const std::string& mode) {
  if (mode == "bar") return Mode::Bar;
  if (mode == "plain") return Mode::Plain;
  if (mode == "none") return Mode::None;
  return ::isatty(STDERR_FILENO) ? Mode::Bar : Mode::Plain;
}

Progress::Progress(Mode mode, std::string title, int64_t total, int64_t plain_every)
    : mode_(mode), title_(std::move(title)), total_(total), plain_every_(std::max<int64_t>(1, plain_every)),
      start_(std::chrono::steady_clock::now()) {}

std::string Progress::human(double v) {
  char buf[32];
  if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.2fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

void Progress::update(int64_t done, int64_t samples, const std::map<std::string, double>& values) {
  if (mode_ == Mode::None) return;
  if (first_done_ < 0) {  // rates and ETA count from this object's first update (resumes, later epochs)
    first_done_ = done > 0 ? done - 1 : 0;
    first_samples_ = samples;
    start_ = std::chrono::steady_clock::now();
  }
  const auto now = std::chrono::steady_clock::now();
  const bool last = done >= total_;
  if (mode_ == Mode::Bar && !last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  if (mode_ == Mode::Plain && !last && (done % plain_every_) != 0) return;
  if (mode_ == Mode::Plain && done == last_plain_) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t since = done - first_done_;
  const double eta = since > 0 ? elapsed / since * (total_ - done) : -1;
  std::ostringstream vals;
  for (const auto& [k, v] : values) {
    char buf[64];
    if (k == "lr") std::snprintf(buf, sizeof buf, " %s %.3g", k.c_str(), v);
    else std::snprintf(buf, sizeof buf, " %s %.4f", k.c_str(), v);
    vals << buf;
  }
  const std::string rate = elapsed > 0 ? human((samples - first_samples_) / elapsed) + " samples/s" : "-";
  if (mode_ == Mode::Bar) {
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * std::min<double>(1.0, double(done) / total_)) : 0;
    std::string bar(filled, '=');
    if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %s<%s %s%s\033[K", title_.c_str(), bar.c_str(), (long long)done,
                 (long long)total_, text::format_duration(elapsed).c_str(), text::format_duration(eta).c_str(),
                 rate.c_str(), vals.str().c_str());
    drawn_ = true;
  } else {
    std::fprintf(stderr, "%s %lld/%lld elapsed %s eta %s %s%s\n", title_.c_str(), (long long)done, (long long)total_,
                 text::format_duration(elapsed).c_str(), text::format_duration(eta).c_str(), rate.c_str(),
                 vals.str().c_str());
    last_plain_ = done;
  }
  std::fflush(stderr);
}

void Progress::finish(const std::string& closing) {
  if (mode_ == Mode::None) return;
  if (drawn_) std::fprintf(stderr, "\n");
  if (!closing.empty()) std::fprintf(stderr, "%s\n", closing.c_str());
  drawn_ = false;
  std::fflush(stderr);
}

void Progress::note(const std::string& line) {
  if (mode_ == Mode::None) return;
  if (drawn_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", line.c_str());
  drawn_ = false;
  last_draw_ = {};  // redraw the bar at the next update
  std::fflush(stderr);
}

}  // namespace smlab
