// Damaged variable-length strings in an HDF5 file (datasets/hdf5_vlen_check.h): libhdf5 1.10.8
// follows a string's reference into the global heap without checking it, so a shard whose heap
// lost an object, or whose object grew past the referenced length, crashed smlab (fuzz_hdf5's open
// finding). Each damage here is made by editing the heap collection ("GCOL") of a file smlab wrote;
// before the guard the first read segfaulted (or wrote past a buffer), now it is a UserError naming
// the file and the dataset, and an undamaged file reads back exactly.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/hdf5_io.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace smlab::datasets;

namespace {

const std::vector<std::string> kTexts = {"first tweet", "", "a third one, longer than the others", "x"};

/// A file with one string dataset "texts" (and a numeric one); returns its bytes.
std::string write_strings_file(const fs::path& path, int deflate) {
  h5::Array labels{h5::Array::I64, "labels", {4}, {}, {0, 1, 0, 1}, {}};
  h5::Array texts{h5::Array::Str, "texts", {4}, {}, {}, kTexts};
  h5::write_arrays(path, {labels, texts}, deflate);
  return smlab::read_file(path);
}

size_t gcol(const std::string& bytes) {
  const size_t at = bytes.find("GCOL");
  EXPECT_NE(at, std::string::npos) << "no global heap collection in the file";
  return at;
}

/// Reading "texts" must fail with a UserError naming the file, the dataset and `why`.
void expect_read_error(const fs::path& path, const std::string& why) {
  smlab::testing::expect_user_error([&] { (void)h5::read_arrays(path, {"texts"}); },
                                    {path.string(), "'texts' ", why});
}

}  // namespace

TEST(Hdf5Strings, UndamagedStringsReadBackExactly) {
  const auto dir = smlab::testing::temp_dir();
  for (int deflate : {0, 4}) {
    write_strings_file(dir / "ok.h5", deflate);
    const auto got = h5::read_arrays(dir / "ok.h5", {"texts", "labels"});
    EXPECT_EQ(got[0].strings, kTexts) << "deflate " << deflate;
    EXPECT_EQ(got[1].i64, (std::vector<int64_t>{0, 1, 0, 1}));
  }
}

TEST(Hdf5Strings, AHeapWithoutTheReferencedObjectIsAClearError) {
  const auto dir = smlab::testing::temp_dir();
  std::string bytes = write_strings_file(dir / "s.h5", 4);
  // Collection header: "GCOL", version, 3 reserved, 8-byte size; then objects: 2-byte index, ...
  const size_t obj = gcol(bytes) + 16;
  ASSERT_EQ(static_cast<unsigned char>(bytes[obj]), 1u);  // the first string is object 1
  bytes[obj] = 77;                                          // now the heap has no object 1
  smlab::write_file_atomic(dir / "s.h5", bytes);
  expect_read_error(dir / "s.h5", "refers to string 1 of a heap that has no such string");
}

TEST(Hdf5Strings, AnObjectLongerThanItsReferenceIsAClearError) {
  const auto dir = smlab::testing::temp_dir();
  std::string bytes = write_strings_file(dir / "s.h5", 0);
  const size_t obj = gcol(bytes) + 16;
  // Object header: index (2), references (2), reserved (4), size (8); the data is padded to 8 bytes.
  const int size = static_cast<unsigned char>(bytes[obj + 8]);
  ASSERT_TRUE(size == 35 || size == 11 || size == 1) << size;  // one of the strings (libhdf5 picks the order)
  const int padded = (size + 7) / 8 * 8;
  ASSERT_GT(padded, size);
  bytes[obj + 8] = static_cast<char>(padded);  // still inside the collection, but longer than the string
  smlab::write_file_atomic(dir / "s.h5", bytes);
  expect_read_error(dir / "s.h5", "refers to a string of " + std::to_string(size) + " bytes stored with " +
                                      std::to_string(padded));
  // Past the collection's end.
  bytes[obj + 8] = 0;
  bytes[obj + 13] = 0x7f;
  smlab::write_file_atomic(dir / "s.h5", bytes);
  expect_read_error(dir / "s.h5", "overruns it");
}

TEST(Hdf5Strings, ACollectionThatIsNotOneIsAClearError) {
  const auto dir = smlab::testing::temp_dir();
  std::string bytes = write_strings_file(dir / "s.h5", 4);
  const size_t at = gcol(bytes);
  bytes[at] = 'X';  // the references now point at something that is not a heap collection
  smlab::write_file_atomic(dir / "s.h5", bytes);
  expect_read_error(dir / "s.h5", "which is not one");
  bytes[at] = 'G';
  bytes[at + 8 + 6] = 0x40;  // a collection size far past the end of the file
  smlab::write_file_atomic(dir / "s.h5", bytes);
  expect_read_error(dir / "s.h5", "claims more than the file holds");
}
