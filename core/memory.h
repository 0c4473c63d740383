// Process-wide heap settings for training. A CPU training step allocates and frees the same large
// activation buffers (megabytes each) every step; with glibc's defaults those buffers are often
// handed back to the kernel when freed (mmap/munmap, heap trimming) and page-faulted in again on
// the next step -- tens of thousands of page faults and over 10% of a ResNet-20 CPU step.
//
// Example (at the top of main):
//   smlab::keep_freed_memory();
#pragma once
#include <string>

namespace smlab {

/// Makes glibc malloc keep freed memory for reuse: blocks up to 32 MiB come from the heap (no
/// per-block mmap) and the heap is only trimmed when more than 1 GiB at its top is free. The
/// process keeps its peak heap size. Does nothing when the user tuned malloc already
/// (GLIBC_TUNABLES with glibc.malloc.*, MALLOC_*_ variables), when SMLAB_MALLOC=default, or with
/// a C library other than glibc. Returns what it did, for logs ("" when nothing).
std::string keep_freed_memory();

}  // namespace smlab
