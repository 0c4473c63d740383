// moving_mnist: a generated Moving-MNIST classification set built from real MNIST digits.
//
// Each clip is `frames` frames of size x size pixels (1 channel, float in [0, 1]) showing one
// MNIST digit (resized to digit_size x digit_size) that moves in a straight line, `speed`
// pixels per frame along each moving axis, in one of 4 directions (right, up, left, down) or 8
// (the diagonals too). The label is the direction times the digit class
// (`label: direction_digit`, class id = direction * 10 + digit), the direction alone, or the
// digit alone.
//
// The frame wraps around (a torus): what leaves one side comes back in at the other, so a digit
// near an edge is drawn in two pieces, and its start is uniform over the frame. So the digit's
// position in any one frame is uniform whatever the direction, and a model that sees one frame
// (or the frames without their order) cannot tell the direction. (Keeping the digit inside the
// frame instead leaks the direction through the position: a digit moving right must start on
// the left. Letting it slide out of view hides the digit in some clips.) Speeds must stay below
// size / 2 so that the motion between frames is unambiguous.
//
// Splits use disjoint digits: the first 80% of the IDX file's digits feed train, the next 10%
// val and the last 10% test. Every clip's digit, direction, speed and start are drawn from a
// generator seeded by (seed, split), so the set is deterministic by seed; clips are rendered
// when a batch is assembled (nothing large is held in memory).
// `shuffle_frames: true` is the temporal control: the same clips, with the frames of each clip
// in a random order (its own seeded stream, so the clips are otherwise identical).
#include <torch/torch.h>

#include <array>
#include <cstdlib>
#include <filesystem>

#include "core/config.h"
#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/pack.h"

namespace smlab::datasets {
namespace {

namespace fs = std::filesystem;

struct Direction {
  const char* name;
  int dx, dy;  // image axes: x to the right, y down
};
// Counter-clockwise from "right", 45 degrees apart; 4 directions take every other one.
constexpr std::array<Direction, 8> kDirections = {{{"right", 1, 0},
                                                   {"up_right", 1, -1},
                                                   {"up", 0, -1},
                                                   {"up_left", -1, -1},
                                                   {"left", -1, 0},
                                                   {"down_left", -1, 1},
                                                   {"down", 0, 1},
                                                   {"down_right", 1, 1}}};

struct Clip {
  int64_t digit;   ///< index into the split's digits
  int64_t dir;     ///< index into kDirections
  int64_t speed;   ///< pixels per frame along each moving axis
  int64_t x0, y0;  ///< top-left corner of the digit in frame 0, in [0, size)
};

class MovingMnistDataset : public Dataset {
 public:
  MovingMnistDataset(torch::Tensor digits, std::vector<Clip> clips,
                     std::vector<std::vector<int64_t>> orders, std::vector<int64_t> labels, int64_t frames,
                     int64_t size, DatasetInfo info)
      : digits_(std::move(digits)),
        clips_(std::move(clips)),
        orders_(std::move(orders)),
        labels_(std::move(labels)),
        frames_(frames),
        size_(size),
        info_(std::move(info)) {}

  int64_t size() const override { return static_cast<int64_t>(clips_.size()); }
  const DatasetInfo& info() const override { return info_; }

  Batch get(const std::vector<int64_t>& indices) const override {
    const int64_t b = static_cast<int64_t>(indices.size()), t = frames_, s = size_, d = digits_.size(1);
    auto x = torch::zeros({b, 1, t, s, s}, torch::kFloat);
    auto y = torch::empty({b}, torch::kInt64);
    float* out = x.data_ptr<float>();
    const float* dig = digits_.data_ptr<float>();
    for (int64_t i = 0; i < b; ++i) {
      TORCH_CHECK(indices[i] >= 0 && indices[i] < size(), "moving_mnist: index ", indices[i], " out of range [0, ",
                  size(), ")");
      const Clip& c = clips_[indices[i]];
      const auto& dir = kDirections[c.dir];
      const float* src = dig + c.digit * d * d;
      for (int64_t f = 0; f < t; ++f) {
        // Output frame f shows the digit where it is at time order[f] (the identity unless shuffled).
        const int64_t when = orders_.empty() ? f : orders_[indices[i]][f];
        const int64_t x0 = c.x0 + dir.dx * c.speed * when, y0 = c.y0 + dir.dy * c.speed * when;
        float* frame = out + ((i * t) + f) * s * s;
        for (int64_t r = 0; r < d; ++r) {
          const int64_t y = ((y0 + r) % s + s) % s;
          for (int64_t col = 0; col < d; ++col) frame[y * s + ((x0 + col) % s + s) % s] = src[r * d + col];
        }
      }
      y[i] = labels_[indices[i]];
    }
    return {x, y};
  }

 private:
  torch::Tensor digits_;  // [N, D, D] float in [0, 1]
  std::vector<Clip> clips_;
  std::vector<std::vector<int64_t>> orders_;  // per clip, when shuffled
  std::vector<int64_t> labels_;
  int64_t frames_, size_;
  DatasetInfo info_;
};

fs::path digits_root(const config::Config& cfg) {
  auto root = cfg.get<std::string>("data.root");
  if (!root.empty()) return root;
  const char* env = std::getenv("SMLAB_DATA");
  return fs::path(env && *env ? env : "../shared/datasets") / "mnist_test_digits";
}

std::shared_ptr<Dataset> make(const config::Config& cfg, Split split) {
  const int64_t t = cfg.get<int64_t>("data.frames"), s = cfg.get<int64_t>("data.size"),
                d = cfg.get<int64_t>("data.digit_size"), ndir = cfg.get<int64_t>("data.directions");
  const auto speeds = cfg.get<std::vector<int64_t>>("data.speeds");
  const auto label = cfg.get<std::string>("data.label");
  if (ndir != 4 && ndir != 8) throw config::ConfigError("data.directions: must be 4 or 8, got " + std::to_string(ndir));
  if (speeds.empty()) throw config::ConfigError("data.speeds: give at least one speed (pixels per frame)");
  const int64_t vmax = *std::max_element(speeds.begin(), speeds.end());
  if (d > s) {
    throw config::ConfigError("data.digit_size: digits of " + std::to_string(d) + " pixels do not fit frames of " +
                              std::to_string(s));
  }
  if (2 * vmax >= s) {
    throw config::ConfigError("data.speeds: " + std::to_string(vmax) + " pixels per frame is ambiguous in frames of " +
                              std::to_string(s) + " pixels that wrap around; use speeds below " +
                              std::to_string((s + 1) / 2));
  }

  // Digits: the split's share of the IDX file, resized to d x d.
  const fs::path root = digits_root(cfg);
  const fs::path images_file = root / "t10k-images-idx3-ubyte.gz", labels_file = root / "t10k-labels-idx1-ubyte.gz";
  for (const auto& f : {images_file, labels_file}) {
    if (!fs::exists(f))
      throw UserError(f.string() + ": MNIST digits not found (data.root, default $SMLAB_DATA/mnist_test_digits)");
  }
  const IdxData images = read_idx(images_file), labels = read_idx(labels_file);
  if (images.dims.size() != 3) throw UserError(images_file.string() + ": expected IDX images [N, H, W]");
  if (labels.dims.size() != 1 || labels.dims[0] != images.dims[0])
    throw UserError(labels_file.string() + ": expected one label per image of " + images_file.string());
  const int64_t n = images.dims[0];
  const int64_t lo = split == Split::Train ? 0 : split == Split::Val ? n * 8 / 10 : n * 9 / 10;
  const int64_t hi = split == Split::Train ? n * 8 / 10 : split == Split::Val ? n * 9 / 10 : n;
  if (hi <= lo)
    throw UserError(images_file.string() + ": " + std::to_string(n) + " digits leave none for the " +
                    split_name(split) + " split");
  const int64_t h = images.dims[1], w = images.dims[2];
  auto digits = torch::from_blob(const_cast<uint8_t*>(images.data.data()) + lo * h * w, {hi - lo, 1, h, w}, torch::kUInt8)
                    .to(torch::kFloat)
                    .div_(255.0f);
  if (h != d || w != d) {
    digits = torch::nn::functional::interpolate(
        digits, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{d, d}).mode(torch::kArea));
  }
  digits = digits.squeeze(1).contiguous();
  std::vector<int64_t> digit_labels(labels.data.begin() + lo, labels.data.begin() + hi);
  for (auto l : digit_labels) {
    if (l > 9) throw UserError(labels_file.string() + ": digit label " + std::to_string(l) + " is not 0-9");
  }

  // Clips: one seeded stream per split for the clips, another for the frame orders.
  const int64_t count = cfg.get<int64_t>(std::string("data.") + split_name(split) + "_size");
  const uint64_t seed = cfg.get<uint64_t>("data.seed") * 7919 + static_cast<uint64_t>(split) + 1;
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
  auto order_gen = torch::make_generator<at::CPUGeneratorImpl>(seed ^ 0x5eed0f0a11ULL);
  auto draw = [&gen](int64_t lo_, int64_t hi_) {  // uniform in [lo_, hi_]
    return torch::randint(lo_, hi_ + 1, {1}, gen, torch::kInt64).item<int64_t>();
  };
  const bool shuffle = cfg.get<bool>("data.shuffle_frames");
  std::vector<Clip> clips;
  std::vector<std::vector<int64_t>> orders;
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < count; ++i) {
    Clip c;
    c.digit = draw(0, hi - lo - 1);
    c.dir = draw(0, ndir - 1) * (8 / ndir);
    c.speed = speeds[draw(0, static_cast<int64_t>(speeds.size()) - 1)];
    c.x0 = draw(0, s - 1);
    c.y0 = draw(0, s - 1);
    const int64_t dir_class = c.dir / (8 / ndir), digit = digit_labels[c.digit];
    targets.push_back(label == "direction" ? dir_class : label == "digit" ? digit : dir_class * 10 + digit);
    clips.push_back(c);
    if (shuffle) {
      const auto p = torch::randperm(t, order_gen, torch::kInt64);
      orders.emplace_back(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + t);
    }
  }

  DatasetInfo info;
  info.task = Task::Classification;
  info.input_shape = {1, t, s, s};
  for (int64_t k = 0; k < ndir; ++k) {
    const std::string dn = kDirections[k * (8 / ndir)].name;
    if (label == "direction") {
      info.class_names.push_back(dn);
    } else if (label == "direction_digit") {
      for (int digit = 0; digit < 10; ++digit) info.class_names.push_back(dn + "_" + std::to_string(digit));
    }
  }
  if (label == "digit")
    for (int digit = 0; digit < 10; ++digit) info.class_names.push_back(std::to_string(digit));
  info.num_classes = static_cast<int64_t>(info.class_names.size());
  return std::make_shared<MovingMnistDataset>(digits, std::move(clips), std::move(orders),
                                              std::move(targets), t, s, info);
}

}  // namespace

void register_moving_mnist() {
  registry().add(
      "moving_mnist",
      {"clips of one real MNIST digit moving in a straight line across wrapping frames (generated); label = "
       "direction x digit, direction or digit; inputs [B,1,T,S,S] float in [0,1]",
       config::Schema()
           .string("root", "", "folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                               "(\"\" = $SMLAB_DATA/mnist_test_digits, SMLAB_DATA defaulting to ../shared/datasets)")
           .integer("train_size", 8000, "training clips (digits: the first 80% of the file)", 1)
           .integer("val_size", 1000, "validation clips (digits: the next 10%)", 1)
           .integer("test_size", 1000, "test clips (digits: the last 10%)", 1)
           .integer("seed", 1234, "generator seed (independent of experiment.seed)", 0)
           .integer("frames", 8, "frames per clip (T)", 1)
           .integer("size", 32, "frame height and width (S)", 4)
           .integer("digit_size", 16, "digits are resized (area) to this size; 28 keeps MNIST's", 4)
           .integer("directions", 4, "4 (right, up, left, down) or 8 (with the diagonals)", 4, 8)
           .list("speeds", config::Type::IntList, "[1, 2]", "speeds to draw from, pixels per frame per moving axis", 1)
           .choice("label", "direction_digit", {"direction_digit", "direction", "digit"},
                   "direction_digit: direction * 10 + digit; direction; digit")
           .boolean("shuffle_frames", false,
                    "temporal control: the same clips with the frames of each clip in a random order"),
       make});
}

}  // namespace smlab::datasets
