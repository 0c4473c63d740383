// Fuzzes the IDX reader (datasets::read_idx, datasets/pack_read.cpp; MNIST-style files, gzipped or
// not). Input: the file's bytes.
#include "datasets/pack.h"
#include "fuzz_common.h"

int smlab_fuzz_idx(const uint8_t* data, size_t size) {
  using namespace smlab;
  const auto dir = fuzz::scratch();
  fuzz::write_file(dir / "t10k-images-idx3-ubyte", std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::run([&] { (void)datasets::read_idx(dir / "t10k-images-idx3-ubyte"); });
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_idx)
