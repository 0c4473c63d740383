#include "core/process.h"

#include <signal.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <cstdlib>
#include <string>

namespace smlab {

void exit_with_me() { ::setenv("SMLAB_EXIT_WITH_PARENT", std::to_string(::getpid()).c_str(), 1); }

void exit_with_parent_if_asked() {
  const char* v = std::getenv("SMLAB_EXIT_WITH_PARENT");
  if (!v) return;
  const std::string parent = v;
  ::unsetenv("SMLAB_EXIT_WITH_PARENT");
#if defined(__linux__)
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // Only the sweep process sets the variable, so another parent means it died before the prctl.
  if (parent != std::to_string(::getppid())) ::raise(SIGTERM);
#endif
}

}  // namespace smlab
