// The `smlab` executable. All logic lives in the library (tools/cli/), so tests can drive it in-process.
#include "core/memory.h"
#include "core/process.h"
#include "tools/cli/cli.h"

int main(int argc, char** argv) {
  smlab::exit_with_parent_if_asked();  // a sweep's --jobs child ends with its sweep
  smlab::keep_freed_memory();  // reuse freed activation buffers instead of page-faulting them in every step
  return smlab::cli::main(argc, argv);
}
