// Helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace smlab::testing {

/// Skips the current test with a message when no CUDA device is present.
#define SMLAB_REQUIRE_CUDA()                                                        \
  do {                                                                              \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device present; this test runs on a GPU machine"; \
  } while (0)

/// A fresh, empty temporary folder unique to the running test.
inline std::filesystem::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() / "smlab_tests" /
             (std::string(info->test_suite_name()) + "." + info->name() + "." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string source_dir() { return SMLAB_SOURCE_DIR; }

}  // namespace smlab::testing
