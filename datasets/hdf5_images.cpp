// hdf5_images: image classification from folders written by `smlab pack` (image folders,
// CIFAR-style tarballs, IDX files). Every shard is read into memory once, at construction
// (HDF5's serial library is not thread-safe); get() then only gathers and converts, so it is
// thread-safe. Inputs are [B, C, H, W]: float32 scaled to [0, 1] (dtype: float, the default) or
// the raw uint8 values (dtype: uint8). Targets are int64 class ids in manifest order.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <array>
#include <type_traits>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/pack.h"
#include "datasets/split.h"

namespace smlab::datasets {
namespace {

class PackedImageDataset : public Dataset {
 public:
  enum class Output { Float, U8, U8Nhwc };
  PackedImageDataset(torch::Tensor hwc, torch::Tensor labels, DatasetInfo info, Output out)
      : hwc_(hwc.contiguous()), labels_(std::move(labels)), info_(std::move(info)), out_(out) {}
  int64_t size() const override { return hwc_.size(0); }
  const DatasetInfo& info() const override { return info_; }
  Batch get(const std::vector<int64_t>& indices) const override {
    const auto idx = torch::tensor(indices, torch::kInt64);
    if (out_ == Output::U8Nhwc) return {hwc_.index_select(0, idx), labels_.index_select(0, idx)};
    return {gather_nchw(indices), labels_.index_select(0, idx)};
  }

 private:
  // The batch [B, C, H, W] in one pass over the chosen images: each source pixel is read once
  // and written once, already transposed and (Float) scaled through a 256-entry table of
  // v / 255.0f, the same floats as converting then dividing. index_select + a transposing copy +
  // div_ made three passes over the batch (about 3x the memory traffic at 224x224: the limit of
  // the loader there, bench/loader_bench.py).
  torch::Tensor gather_nchw(const std::vector<int64_t>& indices) const {
    const int64_t n = hwc_.size(0), h = hwc_.size(1), w = hwc_.size(2), c = hwc_.size(3), hw = h * w;
    const auto b = static_cast<int64_t>(indices.size());
    const bool to_float = out_ == Output::Float;
    auto out = torch::empty({b, c, h, w}, to_float ? torch::kFloat : torch::kUInt8);
    const uint8_t* src = hwc_.data_ptr<uint8_t>();
    for (int64_t i = 0; i < b; ++i) {
      const int64_t k = indices[static_cast<size_t>(i)];
      TORCH_CHECK(k >= 0 && k < n, "image index ", k, " out of range [0, ", n, ")");
      const uint8_t* s = src + k * hw * c;
      if (to_float) transpose_one(s, out.data_ptr<float>() + i * c * hw, hw, c, lut_.data());
      else transpose_one(s, out.data_ptr<uint8_t>() + i * c * hw, hw, c, static_cast<const float*>(nullptr));
    }
    return out;
  }

  // One image: HWC source to CHW destination, through the table when there is one.
  template <typename T>
  static void transpose_one(const uint8_t* s, T* d, int64_t hw, int64_t c, const float* lut) {
    for (int64_t ch = 0; ch < c; ++ch) {
      T* plane = d + ch * hw;
      const uint8_t* sp = s + ch;
      for (int64_t p = 0; p < hw; ++p) {
        if constexpr (std::is_same_v<T, float>) plane[p] = lut[sp[p * c]];
        else plane[p] = sp[p * c];
      }
    }
  }

  static std::array<float, 256> make_lut() {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[static_cast<size_t>(v)] = static_cast<float>(v) / 255.0f;
    return t;
  }

  torch::Tensor hwc_, labels_;  // [N, H, W, C] uint8, [N] int64
  DatasetInfo info_;
  Output out_;
  std::array<float, 256> lut_ = make_lut();
};

std::shared_ptr<Dataset> make(const config::Config& cfg, Split split) {
  const auto plan = detail::plan_split(split, cfg.get<std::string>("data.train"), cfg.get<std::string>("data.val"),
                                       cfg.get<std::string>("data.test"), cfg.get<double>("data.val_fraction"),
                                       "hdf5_images");
  PackedData p = read_packed(plan.path, cfg.get<bool>("data.verify"));
  check_split_classes(plan.path, p.classes, cfg.get<std::string>("data.train"), split_name(split));
  if (p.kind != "image") throw UserError(plan.path + ": packed " + p.kind + " data, hdf5_images needs images");
  const int64_t n = p.count(), h = p.sample_shape.at(0), w = p.sample_shape.at(1), c = p.sample_shape.at(2);
  // The tensor takes over the bytes read from the shards (no second copy of the split).
  auto bytes = std::make_shared<std::vector<uint8_t>>(std::move(p.images));
  auto images = torch::from_blob(bytes->data(), {n, h, w, c}, [bytes](void*) mutable { bytes.reset(); }, torch::kUInt8);
  auto labels = torch::tensor(p.labels, torch::kInt64);
  if (plan.hold_out) {
    const auto keep = detail::hold_out_indices(n, cfg.get<double>("data.val_fraction"),
                                               cfg.get<uint64_t>("data.seed"), plan.take_held_out);
    const auto idx = torch::tensor(keep, torch::kInt64);
    images = images.index_select(0, idx);
    labels = labels.index_select(0, idx);
  }
  if (images.size(0) == 0) throw UserError(plan.path + ": the " + split_name(split) + " split is empty");
  if (const auto limit = cfg.get<int64_t>("data.limit"); limit > 0 && limit < images.size(0)) {
    // A seeded random subset (smoke runs on a few hundred images of every class), in file order.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(cfg.get<uint64_t>("data.seed") * 31 + static_cast<uint64_t>(split) + 7);
    const auto idx = std::get<0>(torch::randperm(images.size(0), gen, torch::kInt64).narrow(0, 0, limit).sort());
    images = images.index_select(0, idx);
    labels = labels.index_select(0, idx);
  }
  DatasetInfo info;
  info.task = Task::Classification;
  info.num_classes = static_cast<int64_t>(p.classes.size());
  info.class_names = p.classes;
  info.input_shape = {c, h, w};
  info.pixels = true;
  const auto dtype = cfg.get<std::string>("data.dtype");
  using O = PackedImageDataset::Output;
  return std::make_shared<PackedImageDataset>(images, labels, info,
                                              dtype == "float" ? O::Float : dtype == "uint8" ? O::U8 : O::U8Nhwc);
}

}  // namespace

void register_hdf5_images() {
  registry().add(
      "hdf5_images",
      {"images packed by 'smlab pack' (HDF5 shards); inputs [B,C,H,W] float in [0,1] or uint8, or [B,H,W,C] uint8",
       config::Schema()
           .string("train", "", "packed folder (manifest.json) of the training images; may use ${SMLAB_DATA}")
           .string("val", "", "packed folder of the validation images (default: val_fraction of train)")
           .string("test", "", "packed folder of the test images (default: the validation split)")
           .number("val_fraction", 0.1, "share of train held out for validation when val is empty", 0.0, 0.9)
           .integer("seed", 0, "seed of the train/validation hold-out", 0)
           .choice("dtype", "float", {"float", "uint8", "uint8_nhwc"},
                   "float: [B,C,H,W] scaled to [0, 1]; uint8: raw pixel values [B,C,H,W]; uint8_nhwc: raw [B,H,W,C], "
                   "the input of the fused augmentations (random_resized_crop_flip*, resize_center_crop), which "
                   "give float [B,C,H,W]")
           .integer("limit", 0, "use a seeded random subset of this many images of each split (0 = all; smoke runs)", 0)
           .boolean("verify", true, "check each shard's size and CRC-32 against the manifest"),
       make});
}

}  // namespace smlab::datasets
