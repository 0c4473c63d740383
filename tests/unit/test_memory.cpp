// keep_freed_memory: a freed multi-megabyte block is reused without page faults. With glibc's
// defaults the first such block is mmapped and unmapped on free, so the next one of the same size
// faults all of its pages in again (a 24 MiB block: 6,144 faults of 4 KiB pages).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "core/memory.h"

namespace {

long minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

/// Allocates `bytes`, writes one byte per page, frees it.
void touch(size_t bytes) {
  char* p = static_cast<char*>(std::malloc(bytes));
  ASSERT_NE(p, nullptr);
  volatile char* v = p;
  for (size_t i = 0; i < bytes; i += 4096) v[i] = static_cast<char>(i);
  std::free(p);
}

}  // namespace

TEST(Memory, FreedBlocksAreReusedWithoutPageFaults) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "glibc only";
#endif
  if (std::getenv("SMLAB_MALLOC") || std::getenv("GLIBC_TUNABLES")) GTEST_SKIP() << "malloc tuned by the environment";
  ASSERT_NE(smlab::keep_freed_memory(), "");
  const size_t bytes = size_t{24} << 20;
  touch(bytes);  // the heap grows and faults the pages in once
  const long before = minor_faults();
  touch(bytes);
  const long faults = minor_faults() - before;
  EXPECT_LT(faults, 600) << "of " << bytes / 4096 << " pages";
}

TEST(Memory, LeavesMallocAloneWhenAskedTo) {
  ::setenv("SMLAB_MALLOC", "default", 1);
  EXPECT_EQ(smlab::keep_freed_memory(), "");
  ::unsetenv("SMLAB_MALLOC");
}
