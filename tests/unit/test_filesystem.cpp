// Regression: libtorch.so (pip wheel) exports its own std::filesystem symbols. If they win symbol
// resolution, std::filesystem::remove_all on a non-empty folder crashes. CMake links libstdc++ ahead
// of torch (smlab_stdcxx_first) so that the C++ runtime's own definitions are used.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

TEST(Filesystem, RemoveAllOnNestedFolderWorks) {
  const fs::path root = fs::temp_directory_path() / ("smlab_fs_" + std::to_string(::getpid()));
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "f.txt") << "x";
  std::ofstream(root / "a" / "g.txt") << "y";
  EXPECT_EQ(fs::remove_all(root), 5u);  // root, a, a/b, a/b/f.txt, a/g.txt
  EXPECT_FALSE(fs::exists(root));
  std::error_code ec;
  fs::create_directories(root / "c", ec);
  EXPECT_EQ(fs::remove_all(root, ec), 2u);
  EXPECT_FALSE(ec);
}
