// Helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <spawn.h>
#include <sys/wait.h>

#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "tools/cli/cli.h"
#include "trainers/checkpoint.h"

extern char** environ;

namespace smlab::testing {

/// What `smlab ARGS` printed and returned, run in-process.
struct Captured {
  int rc;
  std::string out, err;
};
inline Captured capture_cli(const std::vector<std::string>& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = cli::run(args);
  return {rc, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
}

/// Skips the current test with a message when no CUDA device is present.
#define SMLAB_REQUIRE_CUDA()                                                        \
  do {                                                                              \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device present; this test runs on a GPU machine"; \
  } while (0)

/// A classification DatasetInfo: `classes` classes, samples of `shape` (e.g. {3, 32, 32}).
inline datasets::DatasetInfo classification_info(int64_t classes, std::vector<int64_t> shape) {
  datasets::DatasetInfo info;
  info.task = datasets::Task::Classification;
  info.num_classes = classes;
  info.input_shape = std::move(shape);
  return info;
}

/// The registered model `name` for `info`, with `overrides` (model.* keys) on the defaults.
inline models::ModelPtr build_model(const std::string& name, const datasets::DatasetInfo& info,
                                    std::vector<std::string> overrides = {}) {
  overrides.insert(overrides.begin(), "model.name=" + name);
  return models::build(config::load_string("version: 1\n", "test.yaml", overrides), info);
}

/// Runs `fn` and expects a UserError whose message contains every one of `needles`.
template <typename Fn>
void expect_user_error(Fn&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected a UserError";
  } catch (const smlab::UserError& e) {
    const std::string msg = e.what();
    for (const auto& s : needles) EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
  }
}

/// "YYYY-MM-DD HH:MM:SS" (UTC) of Unix time `sec`: the timestamps of generated series CSVs.
inline std::string utc_stamp(int64_t sec) {
  const time_t t = static_cast<time_t>(sec);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

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
