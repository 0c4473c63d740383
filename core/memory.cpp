#include "core/memory.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace smlab {

std::string keep_freed_memory() {
#if defined(__GLIBC__)
  if (const char* v = std::getenv("SMLAB_MALLOC"); v && std::strcmp(v, "default") == 0) return "";
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t && std::strstr(t, "glibc.malloc.")) return "";
  for (const char* var : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"})
    if (std::getenv(var)) return "";
  constexpr int kMmapThreshold = 32 << 20;  // glibc's largest accepted value (HEAP_MAX_SIZE / 2 on 64-bit)
  constexpr int kTrimThreshold = 1 << 30;
  if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1) return "";
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  return "malloc: mmap threshold 32 MiB, trim threshold 1 GiB";
#else
  return "";
#endif
}

}  // namespace smlab
