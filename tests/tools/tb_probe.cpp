// Writes a known set of TensorBoard events into argv[1]; tests/python/test_tensorboard.py reads them
// back with tensorboard's EventAccumulator and checks every value.
#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "core/tensorboard.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: smlab_tb_probe LOGDIR\n";
    return 2;
  }
  try {
    smlab::TensorBoardWriter writer(argv[1]);
    writer.add_text("note", "hello smlab", 0);
    for (int64_t step = 0; step < 10; ++step) {
      writer.add_scalar("loss", 1.0 / static_cast<double>(step + 1), step);
      writer.add_scalar("lr", 0.1 * static_cast<double>(step), step);
    }
    writer.add_histogram("weights", torch::arange(0, 100).to(torch::kFloat), 3);

    // 3x8x8 CHW uint8 gradient: R = 32*x, G = 32*y, B = 255 - 16*(x + y). The channels differ
    // everywhere, so a swapped channel order shows up in the decoded pixels.
    auto image = torch::empty({3, 8, 8}, torch::kByte);
    auto a = image.accessor<uint8_t, 3>();
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) {
        a[0][y][x] = static_cast<uint8_t>(32 * x);
        a[1][y][x] = static_cast<uint8_t>(32 * y);
        a[2][y][x] = static_cast<uint8_t>(255 - 16 * (x + y));
      }
    }
    writer.add_image("sample", image, 1);
    writer.flush();
    std::cout << writer.path().string() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "smlab_tb_probe: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
