#include "datasets/augment.h"

#include <torch/torch.h>

#include <sstream>

#include "core/config.h"
#include "datasets/augment_detail.h"

namespace smlab::datasets {
namespace augment_detail {

const std::vector<double> kImageNetMean = {0.485, 0.456, 0.406};
const std::vector<double> kImageNetStd = {0.229, 0.224, 0.225};
const std::vector<double> kCifar10Mean = {0.4914, 0.4822, 0.4465};
const std::vector<double> kCifar10Std = {0.2470, 0.2435, 0.2616};

std::string yaml_list(const std::vector<double>& v) {
  std::ostringstream o;
  o.precision(15);
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  o << "]";
  return o.str();
}

void Params::fail(const char* key, const std::string& what) const {
  throw UserError("augmentation '" + name_ + "': " + key + " " + what);
}
double Params::number(const char* key) const { return node_[key].as<double>(); }
int64_t Params::integer(const char* key) const { return node_[key].as<int64_t>(); }
std::vector<double> Params::numbers(const char* key) const { return node_[key].as<std::vector<double>>(); }
std::vector<std::string> Params::strings(const char* key) const { return node_[key].as<std::vector<std::string>>(); }

std::pair<double, double> Params::range(const char* key) const {
  const auto v = numbers(key);
  if (v.size() != 2 || !(v[0] > 0) || v[0] > v[1])
    fail(key, "must be two numbers [low, high] with 0 < low <= high, got " + yaml_list(v));
  return {v[0], v[1]};
}

std::vector<double> Params::stats(const char* key, bool positive) const {
  const auto v = numbers(key);
  if (v.empty()) fail(key, "needs one value per channel, got []");
  for (double x : v)
    if (positive && !(x > 0)) fail(key, "values must be > 0, got " + yaml_list(v));
  return v;
}

int64_t draw_seed(at::Generator& gen) {
  return torch::randint(0, int64_t{1} << 62, {1}, gen, torch::TensorOptions().dtype(torch::kLong)).item<int64_t>();
}

torch::Tensor sample_mask(const torch::Tensor& x, double p, at::Generator& gen) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  return (torch::rand({x.size(0)}, gen, torch::TensorOptions().dtype(torch::kFloat)) < p).to(x.device()).view(shape);
}

void check_u8_nhwc(const torch::Tensor& x, const std::string& name) {
  TORCH_CHECK(x.dim() == 4 && x.size(3) == 3 && x.scalar_type() == torch::kUInt8, name,
              " needs uint8 NHWC image batches [B, H, W, 3], got ", x.sizes(), " ", x.scalar_type());
}

void check_float_nchw(const torch::Tensor& x, const std::string& name) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat, name, " needs float32 NCHW batches [B, C, H, W], got ",
              x.sizes(), " ", x.scalar_type());
}

BatchTransform on_inputs(std::function<torch::Tensor(const torch::Tensor&, at::Generator&)> fn) {
  return [fn = std::move(fn)](AugmentBatch& b, at::Generator& gen) { b.input = fn(b.input, gen); };
}

void normalising(const YAML::Node& params, int64_t, int64_t, PixelPreprocessing& out) {
  out.mean = params["mean"].as<std::vector<double>>();
  out.std = params["std"].as<std::vector<double>>();
}

void add_augmentation(const std::string& name, std::string help, config::Schema schema, AugmentFactory make,
                      EvalMeaning eval, bool mixes_targets) {
  AugmentComponent c;
  c.help = std::move(help);
  c.params = std::move(schema);
  c.make = std::move(make);
  c.eval_meaning = std::move(eval);
  c.mixes_targets = mixes_targets;
  augment_registry().add(name, std::move(c));
}

}  // namespace augment_detail

using namespace augment_detail;

namespace {

/// (x - mean) / std per channel of a float [B, C, ...] batch.
BatchTransform normalize_transform(const Params& p) {
  const auto mean = p.stats("mean", false), std = p.stats("std", true);
  if (mean.size() != std.size()) p.fail("std", "needs as many values as mean (" + std::to_string(mean.size()) + ")");
  const std::string name = p.name();
  return on_inputs([mean, std, name](const torch::Tensor& x, at::Generator&) {
    TORCH_CHECK(x.dim() >= 2 && x.is_floating_point() && x.size(1) == static_cast<int64_t>(mean.size()), name,
                " needs float [B, ", mean.size(), ", ...] batches, got ", x.sizes(), " ", x.scalar_type());
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = x.size(1);
    const auto opt = x.options();
    return (x - torch::tensor(mean, opt).view(shape)) / torch::tensor(std, opt).view(shape);
  });
}

config::Schema stats_schema(const std::vector<double>& mean, const std::vector<double>& std) {
  return config::Schema()
      .list("mean", config::Type::FloatList, yaml_list(mean), "per-channel mean subtracted (on the [0, 1] scale)")
      .list("std", config::Type::FloatList, yaml_list(std), "per-channel standard deviation divided by", 0.0);
}

void register_basic_ops() {
  add_augmentation("hflip", "flip each sample along its last (width) axis with probability p",
      config::Schema().number("p", 0.5, "probability of flipping a sample", 0.0, 1.0), [](const YAML::Node& n) {
        const double p = Params("hflip", n).number("p");
        return on_inputs([p](const torch::Tensor& x, at::Generator& gen) {
          TORCH_CHECK(x.dim() >= 3, "hflip needs [B, ..., W] batches, got rank ", x.dim());
          // mask[b] ~ Bernoulli(p); out = mask ? flip(x) : x. Drawn on the host generator, then
          // moved: the same flips on CPU and GPU.
          return torch::where(sample_mask(x, p, gen), x.flip({-1}), x);
        });
      });
  add_augmentation("gaussian_noise", "add N(0, std^2) noise to every element",
      config::Schema().number("std", 0.1, "standard deviation of the noise", 0.0), [](const YAML::Node& n) {
        const double s = Params("gaussian_noise", n).number("std");
        return on_inputs([s](const torch::Tensor& x, at::Generator& gen) {
          // Host generator (the step's), then moved to x's device.
          return x + s * torch::randn(x.sizes(), gen, x.options().device(torch::kCPU)).to(x.device());
        });
      });
  add_augmentation("random_crop_pad4",
      "zero-pad `pad` pixels on every side and crop back to HxW at a random offset per sample (He et al. 2016's "
      "CIFAR augmentation with pad 4; torchvision RandomCrop(size, padding=pad)); any [B, C, H, W] batch",
      config::Schema().integer("pad", 4, "zero padding on each side, in pixels", 0, 1024), [](const YAML::Node& n) {
        const int64_t pad = Params("random_crop_pad4", n).integer("pad");
        return on_inputs([pad](const torch::Tensor& x, at::Generator& gen) {
          TORCH_CHECK(x.dim() == 4, "random_crop_pad4 needs [B, C, H, W] batches, got ", x.sizes());
          const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
          const auto offsets = torch::randint(0, 2 * pad + 1, {b, 2}, gen, torch::TensorOptions().dtype(torch::kLong));
          const auto padded = torch::constant_pad_nd(x, {pad, pad, pad, pad}, 0);
          auto out = torch::empty_like(x);
          const auto* o = offsets.data_ptr<int64_t>();
          for (int64_t i = 0; i < b; ++i) out[i].copy_(padded[i].narrow(1, o[2 * i], h).narrow(2, o[2 * i + 1], w));
          return out;
        });
      });
  add_augmentation("cifar10_normalize",
      "subtract the per-channel mean and divide by the std, by default the CIFAR-10 statistics (0.4914, 0.4822, "
      "0.4465) / (0.2470, 0.2435, 0.2616); float32 [B, 3, H, W] in [0, 1] (hdf5_images dtype float); list it in "
      "augment.train and augment.eval",
      stats_schema(kCifar10Mean, kCifar10Std),
      [](const YAML::Node& n) { return normalize_transform(Params("cifar10_normalize", n)); }, normalising);
  add_augmentation("normalize",
      "subtract the per-channel mean and divide by the std (default: ImageNet statistics) of a float [B, C, ...] "
      "batch on the [0, 1] scale; exported artifacts apply the same mean and std",
      stats_schema(kImageNetMean, kImageNetStd),
      [](const YAML::Node& n) { return normalize_transform(Params("normalize", n)); }, normalising);
}

}  // namespace

Registry<AugmentComponent>& augment_registry() {
  static Registry<AugmentComponent> r("augmentation");
  return r;
}

AugmentSpec default_spec(const std::string& name, const std::string& overrides) {
  const auto& c = augment_registry().get(name);
  YAML::Node params(YAML::NodeType::Map);
  params["name"] = name;
  for (const auto& f : c.params.fields()) params[f.key] = YAML::Load(f.default_yaml);
  if (!overrides.empty())
    for (const auto& kv : YAML::Load(overrides)) params[kv.first.as<std::string>()] = kv.second;
  return {name, params};
}

std::vector<AugmentSpec> augment_specs(const config::Config& cfg, const std::string& key) {
  std::vector<AugmentSpec> out;
  for (const auto& entry : cfg.node(key)) out.push_back({entry["name"].as<std::string>(), entry});
  return out;
}

AugmentPipeline::AugmentPipeline(const std::vector<AugmentSpec>& specs) {
  for (const auto& s : specs) {
    const auto& c = augment_registry().get(s.name);
    stages_.push_back({s.name, c.make(s.params), c.mixes_targets});
    mixes_targets_ |= c.mixes_targets;
  }
}

void AugmentPipeline::apply(AugmentBatch& batch, at::Generator& gen) const {
  for (const auto& s : stages_) s.transform(batch, gen);
}

torch::Tensor AugmentPipeline::apply(torch::Tensor input, at::Generator& gen) const {
  for (const auto& s : stages_)
    if (s.mixes_targets)
      throw UserError("augmentation '" + s.name + "' mixes targets and runs in training only: remove it from augment.eval");
  AugmentBatch b{std::move(input), torch::Tensor(), 0};
  apply(b, gen);
  return b.input;
}

PixelPreprocessing eval_preprocessing(const std::vector<AugmentSpec>& eval, const std::vector<AugmentSpec>& train,
                                      int64_t height, int64_t width) {
  auto meaning = [&](const std::vector<AugmentSpec>& specs) {
    PixelPreprocessing p;
    for (const auto& s : specs)
      if (const auto& f = augment_registry().get(s.name).eval_meaning) f(s.params, height, width, p);
    return p;
  };
  PixelPreprocessing p = meaning(eval);
  if (p.mean.empty()) {  // the eval pipeline does not normalise: training's normalisation applies
    const PixelPreprocessing t = meaning(train);
    p.mean = t.mean;
    p.std = t.std;
  }
  return p;
}

torch::Tensor apply_augmentations(const std::vector<std::string>& names, torch::Tensor batch, at::Generator& gen) {
  std::vector<AugmentSpec> specs;
  for (const auto& n : names) specs.push_back(default_spec(n));
  return AugmentPipeline(specs).apply(std::move(batch), gen);
}

void register_augmentations() {
  register_basic_ops();
  register_image_ops();
  register_policies();
  register_video_ops();
  expose(augment_registry());
}

}  // namespace smlab::datasets
