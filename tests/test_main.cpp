// Shared GoogleTest main: registers every smlab component once, seeds the RNG, and keeps
// intra-op threads modest so parallel ctest jobs do not oversubscribe the cores.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tools/register_all.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  smlab::register_all();
  torch::manual_seed(0);
  torch::set_num_threads(1);
  return RUN_ALL_TESTS();
}
