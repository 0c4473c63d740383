#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "test_util.h"

namespace fs = std::filesystem;

TEST(AtomicFile, WritesContentAndLeavesNoTemporaries) {
  const fs::path dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "a.txt", "hello");
  smlab::write_file_atomic(dir / "a.txt", "world");
  EXPECT_EQ(smlab::read_file(dir / "a.txt"), "world");
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(n, 1);
}

TEST(AtomicFile, FailedWriterKeepsOldFile) {
  const fs::path dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "ckpt", "good");
  EXPECT_THROW(smlab::write_atomic_with(dir / "ckpt",
                                        [](const fs::path& tmp) {
                                          smlab::write_file_atomic(tmp, "half");
                                          throw std::runtime_error("disk full");
                                        }),
               std::runtime_error);
  EXPECT_EQ(smlab::read_file(dir / "ckpt"), "good");
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(n, 1) << "temporary file left behind";
}

TEST(AtomicFile, AppendLineAccumulates) {
  const fs::path p = smlab::testing::temp_dir() / "log.jsonl";
  smlab::append_line_durable(p, "{\"a\":1}");
  smlab::append_line_durable(p, "{\"a\":2}");
  EXPECT_EQ(smlab::read_file(p), "{\"a\":1}\n{\"a\":2}\n");
}

TEST(AtomicFile, ReadMissingFileNamesPath) {
  try {
    smlab::read_file("/nonexistent/smlab/file.yaml");
    FAIL();
  } catch (const smlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/smlab/file.yaml"), std::string::npos);
  }
}
