// Multi-process data parallelism through PyTorch's own c10d: a TCPStore rendezvous, ProcessGroupNCCL
// on GPUs or ProcessGroupGloo on CPU, and c10d::Reducer (the engine behind Python's DDP) for bucketed
// gradient all-reduce that overlaps with backward. Nothing here implements a collective itself.
//
// The environment is read the way torchrun and Slurm set it:
//   torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   Slurm:    SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (+ MASTER_ADDR / MASTER_PORT exported by the job script)
#pragma once
#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace c10d {
class Reducer;
}  // namespace c10d

namespace smlab::trainers {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool active() const { return world > 1; }
  bool is_main() const { return rank == 0; }
};

/// Reads torchrun or Slurm variables; world = 1 when none are set. Throws UserError on
/// inconsistent values (e.g. RANK >= WORLD_SIZE, a missing MASTER_ADDR under Slurm with several tasks).
DistEnv dist_env_from_environment();

/// A process group for this run, with the few collectives the trainer needs.
class Distributed {
 public:
  /// Rendezvous through a TCPStore at master_addr:master_port (rank 0 hosts it), then creates
  /// NCCL (device is CUDA) or Gloo (CPU) process group.
  Distributed(const DistEnv& env, const c10::Device& device);
  ~Distributed();

  const DistEnv& env() const { return env_; }
  std::string backend() const { return backend_; }

  /// Copies rank 0's values into every rank's tensors (model parameters and buffers at start).
  void broadcast(std::vector<at::Tensor> tensors);
  /// In-place sum over ranks.
  void allreduce_sum(at::Tensor& t);
  void barrier();

 private:
  friend class DataParallel;
  struct Impl;  // holds the c10d process group (kept out of this header)
  DistEnv env_;
  std::string backend_;
  std::unique_ptr<Impl> impl_;
};

/// DDP for one model replica per process: wraps c10d::Reducer with DDP's defaults (25 MiB buckets,
/// a 1 MiB first bucket, gradients averaged over ranks, buffers broadcast from rank 0 before each forward).
class DataParallel {
 public:
  DataParallel(torch::nn::Module& model, Distributed& dist, int64_t bucket_mb = 25);
  ~DataParallel();
  /// Before the forward of a micro-batch. `sync` = false accumulates gradients locally (no all-reduce),
  /// as Python DDP's no_sync().
  void before_forward(bool sync);
  /// After the forward, before backward.
  void after_forward(bool sync);

 private:
  torch::nn::Module& model_;
  Distributed& dist_;
  std::unique_ptr<c10d::Reducer> reducer_;
};

/// `smlab train --nproc N`: runs N copies of this process as ranks 0..N-1 on this host (torchrun
/// style variables, a free port), forwards SIGINT/SIGTERM, and returns the first non-zero exit
/// status (killing the other ranks), else 0.
int spawn_local_workers(int nproc, const std::vector<std::string>& argv);

}  // namespace smlab::trainers
