// The `smlab` executable. All logic lives in the library (tools/cli/), so tests can drive it in-process.
#include "tools/cli/cli.h"

int main(int argc, char** argv) { return smlab::cli::main(argc, argv); }
