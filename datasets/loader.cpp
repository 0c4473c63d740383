#include "datasets/loader.h"

#include <torch/torch.h>

#ifdef SMLAB_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace smlab::datasets {
namespace {

void move_to(Batch& b, const c10::Device& device, bool non_blocking) {
  for (auto* t : {&b.input, &b.target})
    if (t->defined() && t->device() != device) *t = t->to(device, non_blocking);
}

/// A worker's host-to-device copy: pinned staging, then an asynchronous copy on a side stream.
/// Returns the event recorded on that stream after the copy (null without CUDA support).
std::shared_ptr<void> copy_on_side_stream(Batch& b, const c10::Device& device) {
#ifdef SMLAB_WITH_CUDA
  c10::cuda::CUDAGuard guard(device);
  const auto stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
  c10::cuda::CUDAStreamGuard on_side(stream);
  for (auto* t : {&b.input, &b.target})
    if (t->defined() && !t->is_cuda() && !t->is_pinned()) *t = t->pin_memory();
  // The pinned buffers come from PyTorch's caching host allocator, which keeps them until the
  // copies that read them have finished.
  move_to(b, device, /*non_blocking=*/true);
  auto done = std::make_shared<at::cuda::CUDAEvent>();
  done->record(stream);
  return done;
#else
  move_to(b, device, /*non_blocking=*/false);
  return nullptr;
#endif
}

/// The caller's side of copy_on_side_stream: its current stream waits for the copy, and the
/// tensors (allocated on the side stream) are recorded as used on the caller's stream.
void wait_for_copy(Batch& b, const std::shared_ptr<void>& copied, const c10::Device& device) {
#ifdef SMLAB_WITH_CUDA
  if (!copied) return;
  const auto current = c10::cuda::getCurrentCUDAStream(device.index());
  std::static_pointer_cast<at::cuda::CUDAEvent>(copied)->block(current);
  for (auto* t : {&b.input, &b.target})
    if (t->defined() && t->is_cuda()) t->record_stream(current);
#else
  (void)b, (void)copied, (void)device;
#endif
}

}  // namespace

Loader::Loader(std::shared_ptr<Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), opt_(options) {
  TORCH_CHECK(opt_.world >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world, "Loader: bad rank ", opt_.rank,
              " of world ", opt_.world);
  TORCH_CHECK(opt_.batch_size % opt_.world == 0, "Loader: global batch size ", opt_.batch_size,
              " is not divisible by the world size ", opt_.world);
  local_batch_ = opt_.batch_size / opt_.world;
  TORCH_CHECK(local_batch_ >= 1, "Loader: batch size must be >= 1");
}

Loader::~Loader() { stop_workers(); }

int64_t Loader::batches_per_epoch() const {
  const int64_t n = dataset_->size();
  const int64_t per_rank = (n + opt_.world - 1) / opt_.world;  // padded like DistributedSampler
  return opt_.drop_last ? per_rank / local_batch_ : (per_rank + local_batch_ - 1) / local_batch_;
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop_workers();
  epoch_ = epoch;
  dataset_->set_epoch(epoch);
  const int64_t n = dataset_->size();
  std::vector<int64_t> all(n);
  if (opt_.shuffle) {
    // One generator per (seed, epoch): the order never depends on what ran before.
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(opt_.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    const auto perm = torch::randperm(n, gen, torch::kInt64);
    std::copy(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n, all.begin());
  } else {
    for (int64_t i = 0; i < n; ++i) all[i] = i;
  }
  // Pad to a multiple of world by wrapping around, then take every world-th sample.
  const int64_t per_rank = (n + opt_.world - 1) / opt_.world;
  order_.clear();
  for (int64_t i = opt_.rank; i < per_rank * opt_.world; i += opt_.world) order_.push_back(all[i % n]);
  end_ = batches_per_epoch();
  next_ = std::min(first_batch, end_);
  claim_ = next_;
  ready_.clear();
  stopping_ = false;
  for (int i = 0; i < opt_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

std::vector<int64_t> Loader::batch_indices(int64_t b) const {
  const int64_t begin = b * local_batch_;
  const int64_t end = std::min<int64_t>(begin + local_batch_, static_cast<int64_t>(order_.size()));
  return std::vector<int64_t>(order_.begin() + begin, order_.begin() + end);
}

void Loader::worker_loop() {
  while (true) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || (claim_ < end_ && claim_ < next_ + opt_.prefetch * std::max(1, opt_.workers)); });
      if (stopping_ || claim_ >= end_) return;
      b = claim_++;
    }
    try {
      Pending p{dataset_->get(batch_indices(b)), nullptr, nullptr};
      if (opt_.device.is_cuda()) p.copied = copy_on_side_stream(p.batch, opt_.device);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(b, std::move(p));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(b, Pending{{}, nullptr, std::current_exception()});
    }
    cv_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  if (next_ >= end_) return std::nullopt;
  if (workers_.empty()) {
    Batch b = dataset_->get(batch_indices(next_++));
    if (!opt_.device.is_cpu()) move_to(b, opt_.device, /*non_blocking=*/false);
    return b;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return ready_.count(next_) > 0; });
  Pending p = std::move(ready_.at(next_));
  ready_.erase(next_);
  ++next_;
  lock.unlock();
  cv_.notify_all();
  if (p.error) std::rethrow_exception(p.error);
  wait_for_copy(p.batch, p.copied, opt_.device);
  return std::move(p.batch);
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

}  // namespace smlab::datasets
