#include "trainers/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>

#ifdef SMLAB_WITH_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "core/error.h"

extern char** environ;

namespace smlab::trainers {
struct Distributed::Impl {
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
};

namespace {

std::optional<std::string> env_var(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, const std::string& v) {
  try {
    size_t pos = 0;
    const int out = std::stoi(v, &pos);
    if (pos == v.size()) return out;
  } catch (...) {
  }
  throw UserError(std::string("environment variable ") + name + "='" + v + "' is not an integer");
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  if (auto ws = env_var("WORLD_SIZE")) {  // torchrun (or our own --nproc)
    e.world = env_int("WORLD_SIZE", *ws);
    e.rank = env_int("RANK", env_var("RANK").value_or("0"));
    e.local_rank = env_int("LOCAL_RANK", env_var("LOCAL_RANK").value_or(std::to_string(e.rank)));
  } else if (auto nt = env_var("SLURM_NTASKS")) {  // srun
    e.world = env_int("SLURM_NTASKS", *nt);
    e.rank = env_int("SLURM_PROCID", env_var("SLURM_PROCID").value_or("0"));
    e.local_rank = env_int("SLURM_LOCALID", env_var("SLURM_LOCALID").value_or("0"));
    if (e.world > 1 && !env_var("MASTER_ADDR")) {
      throw UserError("running under Slurm with " + std::to_string(e.world) +
                      " tasks but MASTER_ADDR is not set: export MASTER_ADDR=$(scontrol show hostnames "
                      "\"$SLURM_JOB_NODELIST\" | head -n 1) in the job script (see docs/distributed.md)");
    }
  }
  if (auto a = env_var("MASTER_ADDR")) e.master_addr = *a;
  if (auto p = env_var("MASTER_PORT")) e.master_port = env_int("MASTER_PORT", *p);
  if (e.world < 1 || e.rank < 0 || e.rank >= e.world) {
    throw UserError("inconsistent distributed environment: rank " + std::to_string(e.rank) + " of world size " +
                    std::to_string(e.world));
  }
  return e;
}

Distributed::Distributed(const DistEnv& env, const c10::Device& device) : env_(env), impl_(std::make_unique<Impl>()) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = env.world;
  so.waitWorkers = true;
  so.timeout = std::chrono::seconds(300);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    throw UserError("rank " + std::to_string(env.rank) + ": cannot reach the rendezvous at " + env.master_addr + ":" +
                    std::to_string(env.master_port) + " (MASTER_ADDR/MASTER_PORT): " + e.what());
  }
  c10::intrusive_ptr<c10d::Backend> backend;
  c10d::ProcessGroup::BackendType type;
  c10::DeviceType dev_type = device.type();
  if (device.is_cuda()) {
#ifdef SMLAB_WITH_CUDA
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world, opts);
    type = c10d::ProcessGroup::BackendType::NCCL;
    backend_ = "nccl";
#else
    throw UserError("this smlab was built without CUDA: NCCL is unavailable");
#endif
  } else {
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world, opts);
    type = c10d::ProcessGroup::BackendType::GLOO;
    backend_ = "gloo";
  }
  auto& pg = impl_->pg;
  pg = c10::make_intrusive<c10d::ProcessGroup>(store, env.rank, env.world);
  pg->setDefaultBackend(type);
  pg->setBackend(dev_type, type, backend);
}

Distributed::~Distributed() = default;

void Distributed::broadcast(std::vector<at::Tensor> tensors) {
  for (auto& t : tensors) {
    std::vector<at::Tensor> one = {t};
    impl_->pg->broadcast(one)->wait();
  }
}

void Distributed::allreduce_sum(at::Tensor& t) {
  std::vector<at::Tensor> one = {t};
  impl_->pg->allreduce(one)->wait();
}

void Distributed::barrier() { impl_->pg->barrier()->wait(); }

DataParallel::DataParallel(torch::nn::Module& model, Distributed& dist, int64_t bucket_mb)
    : model_(model), dist_(dist) {
  std::vector<at::Tensor> params;
  std::unordered_map<size_t, std::string> names;
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    names[params.size()] = p.key();
    params.push_back(p.value());
  }
  // Same start on every rank.
  std::vector<at::Tensor> state = params;
  for (const auto& b : model.buffers()) state.push_back(b);
  {
    torch::NoGradGuard ng;
    dist.broadcast(state);
  }
  const int64_t cap = bucket_mb * 1024 * 1024, first_cap = 1024 * 1024;  // DDP defaults
  std::vector<bool> sparse(params.size(), false);
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(params, {static_cast<size_t>(first_cap), static_cast<size_t>(cap)},
                                                                   sparse, {}, std::nullopt);
  // Reverse order, as DDP: gradients of the last layers are ready first.
  std::reverse(buckets.begin(), buckets.end());
  reducer_ = std::make_unique<c10d::Reducer>(params, buckets, dist.impl_->pg, sparse, cap,
                                             /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false,
                                             names, first_cap, /*skip_all_reduce_unused_params=*/false,
                                             /*use_python_reducer=*/false, std::vector<int64_t>{});
}

DataParallel::~DataParallel() = default;

void DataParallel::before_forward(bool sync) {
  if (!sync) return;
  reducer_->rebuild_buckets();
  reducer_->prepare_for_forward();
  // broadcast_buffers=True: BatchNorm statistics follow rank 0.
  auto buffers = model_.buffers();
  if (!buffers.empty()) {
    torch::NoGradGuard ng;
    dist_.broadcast(buffers);
  }
}

void DataParallel::after_forward(bool sync) {
  if (sync) reducer_->prepare_for_backward({});
}

// ----------------------------------------------------------------------------- local spawning

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::vector<pid_t>* g_children = nullptr;
extern "C" void forward_signal(int sig) {
  if (!g_children) return;
  for (pid_t p : *g_children) ::kill(p, sig);
}

}  // namespace

int spawn_local_workers(int nproc, const std::vector<std::string>& argv) {
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> children;
  std::map<std::string, std::string> base_env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    base_env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (int r = 0; r < nproc; ++r) {
    auto env = base_env;
    env["WORLD_SIZE"] = std::to_string(nproc);
    env["RANK"] = env["LOCAL_RANK"] = std::to_string(r);
    env["MASTER_ADDR"] = "127.0.0.1";
    env["MASTER_PORT"] = port;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> cenv, cargv;
    for (auto& s : env_strings) cenv.push_back(s.data());
    cenv.push_back(nullptr);
    std::vector<std::string> args = argv;
    for (auto& s : args) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    pid_t pid;
    const int rc = posix_spawn(&pid, cargv[0], nullptr, nullptr, cargv.data(), cenv.data());
    if (rc != 0) throw std::runtime_error(std::string("cannot start rank ") + std::to_string(r) + ": " + std::strerror(rc));
    children.push_back(pid);
  }
  g_children = &children;
  struct sigaction sa {}, old_int {}, old_term {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  int result = 0;
  size_t alive = children.size();
  while (alive > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    --alive;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && result == 0) {
      result = code;
      std::cerr << "[smlab] a rank exited with status " << code << "; stopping the others\n";
      for (pid_t p : children)
        if (p != pid) ::kill(p, SIGTERM);
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  g_children = nullptr;
  return result;
}

}  // namespace smlab::trainers
