// Checkpoints (and any PyTorch zip archive) are checked record by record against their stored CRC-32
// (issue 22, item 9): one flipped byte inside a weight is refused with the file and the record named,
// where PyTorch's own reader loads it silently.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/zip_check.h"
#include "test_util.h"
#include "tools/register_all.h"
#include "trainers/checkpoint.h"

namespace fs = std::filesystem;

namespace {

/// A checkpoint of a small MLP whose parameters hold a value no other byte run of the file holds.
fs::path marked_checkpoint(const fs::path& dir, smlab::models::ModelPtr& model) {
  smlab::register_all();
  model = smlab::testing::build_model("mlp", smlab::testing::classification_info(3, {8}), {"model.hidden=[16]"});
  torch::NoGradGuard ng;
  for (auto& p : model->parameters()) p.fill_(1234.5f);
  const fs::path path = dir / "ckpt.pt";
  smlab::trainers::save_checkpoint(path, *model, nullptr, {});
  return path;
}

std::string bytes(const fs::path& p) { return smlab::read_file(p); }

void overwrite(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace

TEST(ZipCheck, CleanCheckpointPassesEveryRecord) {
  const auto dir = smlab::testing::temp_dir();
  smlab::models::ModelPtr model;
  const auto path = marked_checkpoint(dir, model);
  EXPECT_GT(smlab::verify_zip_crc(path, "checkpoint"), 3);  // model tensors, state, format, RNG ...
  auto again = smlab::testing::build_model("mlp", smlab::testing::classification_info(3, {8}), {"model.hidden=[16]"});
  EXPECT_NO_THROW(smlab::trainers::load_checkpoint(path, *again, nullptr, nullptr, false));
  EXPECT_TRUE(torch::equal(again->parameters()[0], model->parameters()[0]));
}

TEST(ZipCheck, OneFlippedWeightByteIsRefusedNamingFileAndRecord) {
  const auto dir = smlab::testing::temp_dir();
  smlab::models::ModelPtr model;
  const auto path = marked_checkpoint(dir, model);
  std::string b = bytes(path);
  const float marker = 1234.5f;
  const std::string pattern(reinterpret_cast<const char*>(&marker), sizeof marker);
  const auto at = b.find(pattern);
  ASSERT_NE(at, std::string::npos) << "the marked weight is not stored raw in the archive";
  b[at + 1] ^= 0x10;  // 1234.5 -> another finite float: PyTorch's reader would load it silently
  overwrite(path, b);
  auto fresh = smlab::testing::build_model("mlp", smlab::testing::classification_info(3, {8}), {"model.hidden=[16]"});
  smlab::testing::expect_user_error([&] { smlab::trainers::load_checkpoint(path, *fresh, nullptr, nullptr, false); },
                                    {"checkpoint " + path.string() + " is corrupt", "record '", "/data/", "CRC-32"});
}

TEST(ZipCheck, TruncatedOrForeignFilesAreRefused) {
  const auto dir = smlab::testing::temp_dir();
  smlab::models::ModelPtr model;
  const auto path = marked_checkpoint(dir, model);
  const std::string b = bytes(path);
  overwrite(path, b.substr(0, b.size() / 2));
  smlab::testing::expect_user_error([&] { smlab::verify_zip_crc(path, "checkpoint"); },
                                    {"checkpoint " + path.string() + " is corrupt", "not a complete zip archive"});
  overwrite(path, "not a zip at all, just some text that is long enough to look for an end record");
  smlab::testing::expect_user_error([&] { smlab::verify_zip_crc(path, "artifact"); }, {"artifact", "is corrupt"});
}
