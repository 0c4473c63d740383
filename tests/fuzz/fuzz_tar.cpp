// Fuzzes the tar / tar.gz reader of `smlab pack` (datasets/tar_reader.cpp: ustar, GNU long names,
// pax path records, gzip). Input: the archive's bytes (gzipped or plain). Every regular member is
// read, or every other one skipped, as the packer's two passes do.
#include "datasets/tar_reader.h"
#include "fuzz_common.h"

int smlab_fuzz_tar(const uint8_t* data, size_t size) {
  using namespace smlab;
  const auto dir = fuzz::scratch();
  fuzz::write_file(dir / "a.tar.gz", std::string_view(reinterpret_cast<const char*>(data), size));
  for (int pass = 0; pass < 2; ++pass)
    fuzz::run([&] {
      datasets::TarReader tar(dir / "a.tar.gz");
      datasets::TarEntry e;
      for (int i = 0; tar.next(e); ++i)
        if (pass == 0 || i % 2 == 0) (void)tar.read_data();
    });
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_tar)
