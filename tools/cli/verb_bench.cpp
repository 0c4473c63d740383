// `smlab bench`: built-in micro-benchmarks that the scripts in bench/ compare against their peers.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include "core/device.h"
#include "core/error.h"
#include "core/op_count.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "models/model.h"
#include "tools/cli/cli.h"
#include "trainers/optim.h"
#include "trainers/sgd.h"

namespace smlab::cli {

namespace {

// One generated batch of the model's kind held in memory, the model and SGD(momentum 0.9): the loop a
// Python peer runs in bench/train_step.py. Shared by train-step (timed) and ops (counted).
struct StepSetup {
  models::ModelPtr net;
  torch::Tensor x, y;
  std::unique_ptr<trainers::SGD> opt;  // the trainer's SGD (trainers/sgd.h)
  torch::Device device = torch::kCPU;

  torch::Tensor step() {
    trainers::clear_grads(*opt);
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    loss.backward();
    opt->step();
    return loss;
  }
  void sync() const {
    if (device.is_cuda()) torch::cuda::synchronize();
  }
};

StepSetup make_step(const Args& args) {
  const std::string model = args.get("model");
  const int64_t batch = args.get_int("batch");
  if (const int t = args.get_int("threads"); t > 0) torch::set_num_threads(t);
  std::string data = "synthetic_images";
  if (model == "mlp") data = "synthetic_blobs";
  if (model.find("text") != std::string::npos || model.find("lstm") != std::string::npos) data = "synthetic_tokens";
  if (models::input_kind(model) == models::InputKind::Video) data = "moving_mnist";
  std::vector<std::string> ov = {"model.name=" + model, "data.name=" + data,
                                 "data.train_size=" + std::to_string(batch)};
  if (data == "synthetic_images") {
    ov.push_back("data.size=32");
    ov.push_back("data.classes=10");
  }
  ov.insert(ov.end(), args.positionals().begin() + 1, args.positionals().end());
  const auto cfg = config::load_string("version: 1\n", "bench.yaml", ov);
  StepSetup s;
  s.device = resolve_device(args.get("device"));
  torch::manual_seed(0);
  auto ds = datasets::build(cfg, datasets::Split::Train);
  s.net = models::build(cfg, ds->info());
  s.net->to(s.device);
  std::vector<int64_t> idx(batch);
  for (int64_t i = 0; i < batch; ++i) idx[i] = i;
  auto b = ds->get(idx);
  s.x = b.input.to(s.device);
  s.y = b.target.to(s.device);
  if (args.has("channels-last")) {
    s.x = models::channels_last(s.x);
    models::to_channels_last(*s.net);
  }
  s.opt = std::make_unique<trainers::SGD>(s.net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  s.net->train();
  return s;
}

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int train_step(const Args& args) {
  auto s = make_step(args);
  for (int i = 0; i < args.get_int("warmup"); ++i) s.step();
  s.sync();
  const int steps = args.get_int("steps");
  std::vector<double> step_s;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  auto ti = t0;
  torch::Tensor last;
  for (int i = 0; i < steps; ++i) {
    last = s.step();
    s.sync();
    const auto now = std::chrono::steady_clock::now();
    step_s.push_back(std::chrono::duration<double>(now - ti).count());
    ti = now;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  std::sort(step_s.begin(), step_s.end());
  const double median = step_s.empty() ? 0 : (step_s[(step_s.size() - 1) / 2] + step_s[step_s.size() / 2]) / 2;
  const int64_t batch = s.x.size(0);
  nlohmann::json j = {{"benchmark", "train-step"}, {"model", args.get("model")}, {"batch", batch},
                      {"steps", steps},            {"seconds", sec},      {"steps_per_s", steps / sec},
                      {"samples_per_s", steps * batch / sec},             {"threads", at::get_num_threads()},
                      {"device", s.device.str()},  {"parameters", models::parameter_count(*s.net)},
                      {"median_step_s", median}, {"cpu_s_per_step", steps > 0 ? cpu / steps : 0},
                      {"final_loss", last.item<double>()}};
  std::cout << j.dump() << std::endl;
  return 0;
}

// The ATen operators one training step dispatches (core/op_count.h), after the warmup steps.
int ops(const Args& args) {
  auto s = make_step(args);
  for (int i = 0; i < std::max(1, args.get_int("warmup")); ++i) s.step();
  s.sync();
  const auto counts = count_ops([&] { s.step(); }, std::max(1, args.get_int("steps")));
  nlohmann::json hist = nlohmann::json::object();
  for (const auto& [name, n] : counts.by_name) hist[name] = static_cast<double>(n) / counts.runs;
  nlohmann::json j = {{"benchmark", "ops"}, {"model", args.get("model")}, {"batch", s.x.size(0)},
                      {"steps", counts.runs}, {"ops_per_step", counts.per_run()},
                      {"parameters", models::parameter_count(*s.net)}, {"device", s.device.str()},
                      {"ops", hist}};
  if (args.has("sequence")) j["sequence"] = counts.sequence;
  std::cout << j.dump() << std::endl;
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The training split of a configured dataset, read through datasets::Loader (shuffled, the given
// workers) for --epochs epochs: what the trainer's input side costs without the model.
int loader(const Args& args) {
  std::vector<std::string> ov(args.positionals().begin() + 1, args.positionals().end());
  const auto cfg = config::load_string("version: 1\n", "bench.yaml", ov);
  const auto t0 = std::chrono::steady_clock::now();
  auto ds = datasets::build(cfg, datasets::Split::Train);
  const double open_s = seconds_since(t0);
  datasets::LoaderOptions lo;
  lo.batch_size = args.get_int("batch");
  lo.workers = args.get_int("workers");
  lo.seed = 0;
  datasets::Loader loader(ds, lo);
  const int epochs = args.get_int("epochs");
  int64_t samples = 0, bytes = 0;
  const auto t1 = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(e);
    while (auto b = loader.next()) {
      samples += b->input.size(0);
      bytes += b->input.nbytes() + b->target.nbytes();
    }
  }
  const double sec = seconds_since(t1);
  nlohmann::json j = {{"benchmark", "loader"},     {"dataset", cfg.name_of("data")}, {"samples", samples},
                      {"seconds", sec},            {"samples_per_s", samples / sec}, {"open_seconds", open_s},
                      {"batch", lo.batch_size},    {"workers", lo.workers},          {"epochs", epochs},
                      {"batch_bytes", samples ? bytes / samples * lo.batch_size : 0},
                      {"input_shape", ds->info().input_shape}};
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

Verb bench_verb() {
  VerbSpec s;
  s.name = "bench";
  s.summary = "run a built-in benchmark and print its result as one JSON line";
  s.description =
      "train-step: times forward + backward + SGD(momentum 0.9) steps of a registered model on one\n"
      "generated batch held in memory (the loop a Python peer runs in bench/train_step.py), after warmup.\n"
      "Reports steps/s over the timed loop, the median time of one step, and the process CPU seconds per step\n"
      "(all threads), which a busy shared machine disturbs less than wall time.\n"
      "ops: the same step, counted instead of timed: the ATen operators one step dispatches (nested ones\n"
      "included, forward and backward), per step over --steps steps after --warmup, with a histogram by\n"
      "name. Counted by PyTorch's profiler, as bench/train_step.py --ops counts the Python peer; on a GPU\n"
      "each is a dispatch and usually a kernel launch.\n"
      "The data is chosen by the model (synthetic_tokens for text models, synthetic_blobs for mlp,\n"
      "moving_mnist 1x8x32x32 clips for video models, synthetic_images 3x32x32 otherwise); any config\n"
      "key can be overridden as key=value.\n"
      "loader: builds the training split of the dataset given as key=value overrides (data.name=...,\n"
      "data.train=...) and reads it --epochs times through smlab's loader (shuffled, --batch, --workers\n"
      "threads), without a model: samples/s of batched tensors, plus the seconds to open the data\n"
      "(bench/loader_bench.py compares it with PyTorch's DataLoader over h5py).";
  s.positionals = {{"name", "benchmark: train-step, ops or loader"}, {"key=value", "config overrides", false, true}};
  s.flags = {{"model", "NAME", "registered model", "small_cnn"},
             {"batch", "N", "batch size", "128"},
             {"steps", "N", "timed steps", "20"},
             {"warmup", "N", "untimed steps first", "5"},
             {"threads", "N", "intra-op threads (0 = default)", "0"},
             {"device", "DEV", "cpu, cuda, cuda:N", "cpu"},
             {"workers", "N", "loader: worker threads (0 = the calling thread)", "2"},
             {"epochs", "N", "loader: epochs to read", "1"},
             {"sequence", "", "ops: also list the counted operators in the order they started", ""},
             {"channels-last", "", "channels-last layout for 4-D (NHWC) and 5-D (NDHWC) inputs and weights", ""}};
  s.examples = {"smlab bench train-step --model resnet20 --batch 128 --threads 2",
                "smlab bench train-step --model text_cnn --batch 64 data.length=64 data.vocab_size=20000",
                "smlab bench ops --model bilstm --batch 64 --steps 3",
                "smlab bench train-step --model r3d_18 --batch 16 model.width=16 data.frames=16 data.size=64",
                "smlab bench loader data.name=hdf5_images data.train=data/cifar10/train data.val_fraction=0 --batch 256 --workers 2"};
  return {s, [](const Args& args) {
            const std::string name = args.positional(0);
            if (name == "train-step") return train_step(args);
            if (name == "loader") return loader(args);
            if (name == "ops") return ops(args);
            throw UsageError("unknown benchmark '" + name + "' (train-step, ops, loader)");
          }};
}

}  // namespace smlab::cli
