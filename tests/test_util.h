// Helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "trainers/checkpoint.h"

extern char** environ;

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

/// Starts build/smlab with `args` in a child process; returns its pid.
inline pid_t spawn_smlab(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {std::string(SMLAB_BINARY_DIR) + "/smlab"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c;
  for (auto& a : argv) c.push_back(a.data());
  c.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, c[0], nullptr, nullptr, c.data(), environ) != 0) return -1;
  return pid;
}

/// The parameters saved in `run`/checkpoints/<checkpoint> (last.pt), loaded into a model built from `cfg`.
inline std::vector<torch::Tensor> final_weights(const std::filesystem::path& run, const smlab::config::Config& cfg,
                                                const std::string& checkpoint = "last.pt") {
  auto ds = smlab::datasets::build(cfg, smlab::datasets::Split::Train);
  auto model = smlab::models::build(cfg, ds->info());
  smlab::trainers::load_checkpoint(run / "checkpoints" / checkpoint, *model, nullptr, nullptr, false);
  std::vector<torch::Tensor> out;
  for (auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

/// Waits for `pid`; returns its exit status, or 128 + signal when a signal ended it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace smlab::testing
