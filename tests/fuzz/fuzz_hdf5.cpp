// Fuzzes the packed-data readers: HDF5 shards (datasets::h5::read_shard, read_arrays;
// datasets/hdf5_io.cpp), a pack folder with its manifest (datasets::read_packed, with and without
// the size/CRC check; datasets/pack_read.cpp) and the scorer's hdf5 input reader, which checks the
// shards against the manifest (inference/readers.cpp).
// Input: a small archive of files (fuzz_common.h unpack_files: "@@ manifest.json", "@@ shard-00000.h5",
// ...) written into a pack folder.
#include <string>

#include "datasets/hdf5_io.h"
#include "datasets/pack.h"
#include "fuzz_common.h"
#include "inference/readers.h"

int smlab_fuzz_hdf5(const uint8_t* data, size_t size) {
  using namespace smlab;
  static const bool registered = [] {
    if (!inference::reader_registry().contains("tsv")) inference::register_readers();  // once (register_all in the test build)
    return true;
  }();
  (void)registered;
  const auto dir = fuzz::scratch() / "pack";
  std::filesystem::create_directories(dir);
  for (const auto& name : fuzz::unpack_files(data, size, dir)) {
    if (name.size() < 3 || name.substr(name.size() - 3) != ".h5") continue;
    fuzz::run([&] { (void)datasets::h5::read_shard(dir / name); });
    fuzz::run([&] { (void)datasets::h5::read_arrays(dir / name, {"labels", "texts", "values"}); });
  }
  fuzz::run([&] { (void)datasets::read_packed(dir, true); });
  fuzz::run([&] { (void)datasets::read_packed(dir, false); });
  inference::InputSpec image;
  image.kind = models::InputKind::Image;
  image.dtype = inference::DType::UInt8;
  image.shape = {2, 2, 3};
  image.pixels = inference::PixelPreprocess{};
  inference::InputSpec video = image;
  video.kind = models::InputKind::Video;
  video.shape = {2, 2, 2, 3};
  inference::InputSpec text;
  text.kind = models::InputKind::Tokens;
  text.dtype = inference::DType::Int64;
  text.shape = {16};
  text.tokens = inference::TokenPreprocess{};
  inference::ReadOptions o;
  o.input = dir;
  for (const auto* spec : {&image, &video, &text})
    fuzz::run([&] { (void)inference::read_input(o, "hdf5", *spec, "fuzz.pt"); });
  return 0;
}
SMLAB_FUZZ_ENTRY(smlab_fuzz_hdf5)
