// Internals shared by the augmentation files (augment.cpp, augment_image.cpp, augment_policy.cpp,
// augment_video.cpp): parameter readers, generator draws and input checks.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "datasets/augment.h"

namespace smlab::datasets::augment_detail {

extern const std::vector<double> kImageNetMean, kImageNetStd;
/// CIFAR-10 training-set channel statistics of pixels / 255 (the values torchvision-based recipes use).
extern const std::vector<double> kCifar10Mean, kCifar10Std;

/// "[0.485, 0.456, 0.406]" for schema defaults.
std::string yaml_list(const std::vector<double>& v);

/// Reads an augmentation's resolved parameters; a value the schema cannot check (a range with
/// low > high, an even kernel) is a UserError naming the augmentation, the key and the fix.
class Params {
 public:
  Params(std::string name, const YAML::Node& node) : name_(std::move(name)), node_(node) {}
  double number(const char* key) const;
  int64_t integer(const char* key) const;
  std::vector<double> numbers(const char* key) const;
  std::vector<std::string> strings(const char* key) const;
  /// A [low, high] pair with 0 < low <= high (scale, ratio, sigma ranges).
  std::pair<double, double> range(const char* key) const;
  /// Per-channel statistics: `count` positive stds / any means (count 0: any length >= 1).
  std::vector<double> stats(const char* key, bool positive) const;
  [[noreturn]] void fail(const char* key, const std::string& what) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  YAML::Node node_;
};

/// A 62-bit seed for the host-side parameter samplers of cuda/ops.h, drawn from the step's
/// generator, so the fused ops stay reproducible under (seed, epoch, step).
int64_t draw_seed(at::Generator& gen);
/// Per-sample Bernoulli(p) mask of shape [B, 1, ..., 1] (rank of x), drawn on the host, on x's device.
torch::Tensor sample_mask(const torch::Tensor& x, double p, at::Generator& gen);

void check_u8_nhwc(const torch::Tensor& x, const std::string& name);
void check_float_nchw(const torch::Tensor& x, const std::string& name);

/// Registers an augmentation (augment_registry().add with an AugmentComponent).
void add_augmentation(const std::string& name, std::string help, config::Schema schema, AugmentFactory make,
                      EvalMeaning eval = nullptr, bool mixes_targets = false);

/// A transform that changes only the inputs.
BatchTransform on_inputs(std::function<torch::Tensor(const torch::Tensor&, at::Generator&)> fn);

/// Sets mean/std of the preprocessing from the params `mean` and `std` (normalising ops).
void normalising(const YAML::Node& params, int64_t height, int64_t width, PixelPreprocessing& out);

void register_image_ops();   // augment_image.cpp: fused uint8 ops and the float ops
void register_policies();    // augment_policy.cpp: mixup, cutmix, randaugment, trivial_augment
void register_video_ops();   // augment_video.cpp: the fused video-consistent clip ops

}  // namespace smlab::datasets::augment_detail
