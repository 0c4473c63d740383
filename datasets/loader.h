// Batch loader: deterministic shuffle by (seed, epoch), sharding by rank for DDP, a resumable
// position, and worker threads that assemble the next batches while the trainer computes.
//
// Example:
//   Loader loader(ds, {.batch_size = 128, .shuffle = true, .seed = 0, .workers = 2});
//   loader.start_epoch(epoch);
//   while (auto b = loader.next()) train_step(*b);
#pragma once
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "datasets/dataset.h"

namespace smlab::datasets {

struct LoaderOptions {
  int64_t batch_size = 64;  ///< global batch size; each rank gets batch_size / world
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int rank = 0;
  int world = 1;
  int workers = 0;   ///< 0 = assemble batches on the caller's thread
  int prefetch = 2;  ///< batches assembled ahead per worker pool
  /// Where next() delivers batches. With a CUDA device and workers > 0, each worker pins its
  /// batch and copies it to the device on a side stream while the caller computes; next() makes
  /// the caller's current stream wait for that copy (and tells the caching allocator the tensors
  /// are used there). CPU, the default: batches stay on the host.
  c10::Device device = c10::kCPU;
};

class Loader {
 public:
  Loader(std::shared_ptr<Dataset> dataset, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Batches this rank sees per epoch.
  int64_t batches_per_epoch() const;
  /// Begins `epoch` at batch `first_batch` (a resumed position).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the epoch, or nullopt at its end.
  std::optional<Batch> next();
  /// Index (within the epoch) of the batch next() returns: the position to checkpoint.
  int64_t position() const { return next_; }
  int64_t epoch() const { return epoch_; }
  /// The sample indices of batch `b` of the current epoch on this rank.
  std::vector<int64_t> batch_indices(int64_t b) const;
  const Dataset& dataset() const { return *dataset_; }

 private:
  void stop_workers();
  void worker_loop();

  std::shared_ptr<Dataset> dataset_;
  LoaderOptions opt_;
  int64_t local_batch_;
  std::vector<int64_t> order_;  // this rank's sample order for the epoch
  int64_t epoch_ = 0, next_ = 0, end_ = 0;

  // worker pool state
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  struct Pending {
    Batch batch;
    std::shared_ptr<void> copied;  ///< the CUDA event recorded after its side-stream copy, or null
    std::exception_ptr error;      ///< what get() threw for this batch; next() rethrows it in order
  };
  std::map<int64_t, Pending> ready_;
  int64_t claim_ = 0;
  bool stopping_ = false;
};

}  // namespace smlab::datasets
