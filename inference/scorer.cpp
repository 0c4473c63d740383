// `smlab score` (scorer.h): reader -> preprocessing -> model -> writer, chunk by chunk, journaled.
#include "inference/scorer.h"
#include "inference/uncertainty.h"

#include <torch/torch.h>

#include <chrono>
#include <future>
#include <iostream>
#include <numeric>

#include "core/atomic_file.h"
#include "core/autocast.h"
#include "core/device.h"
#include "core/error.h"
#include "core/progress.h"
#include "inference/export.h"
#include "inference/preprocess.h"
#include "inference/readers.h"
#include "inference/runner.h"
#include "inference/writers.h"
#include "trainers/distributed.h"

namespace smlab::inference {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// The options with the shard taken from torchrun/Slurm when unsharded, checked.
ScoreOptions resolve(const ScoreOptions& in) {
  ScoreOptions o = in;
  const auto env = trainers::dist_env_from_environment();
  if (o.shard_count == 1 && env.world > 1) {  // under torchrun or Slurm every rank scores its own slice
    o.shard_index = env.rank;
    o.shard_count = env.world;
    if (o.device == "cuda") o.device = "cuda:" + std::to_string(env.local_rank);  // one GPU per local rank
  }
  if (o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw UsageError("--shard " + std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count) + " is out of range");
  if (o.batch_size < 1 || o.chunk_rows < 1) throw UsageError("--batch-size and --chunk-rows must be positive");
  if (o.precision != "fp32" && o.precision != "bf16" && o.precision != "fp16")
    throw UsageError("--precision must be fp32, bf16 or fp16, got '" + o.precision + "'");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  return o;
}

/// Everything a job needs, fixed before its first chunk.
struct Job {
  ScoreOptions o;
  fs::path output;
  std::string in_format, out_format;
  c10::Device device = torch::kCPU;
  LoadedModel model;
  std::unique_ptr<Preprocessor> prep;
  std::unique_ptr<OutputWriter> writer;
  int64_t embed_dim = 0;
  bool bucket = false;
  InputRecords input;
  int64_t begin = 0, end = 0, chunks = 0;
  json fingerprint;

  std::vector<Record> chunk_records(int64_t c) const {
    const int64_t a = begin + c * o.chunk_rows, b = std::min(end, a + o.chunk_rows);
    return std::vector<Record>(input.records.begin() + a, input.records.begin() + b);
  }
  int64_t chunk_size(int64_t c) const { return std::min(end, begin + (c + 1) * o.chunk_rows) - (begin + c * o.chunk_rows); }
};

/// The embedding width for --embeddings (0 without it); refuses artifacts without `embed`.
int64_t embed_dim_of(const LoadedModel& a, const ScoreOptions& o) {
  if (!o.embeddings) return 0;
  if (!a.spec.output.embed || !a.runner->has_embed())
    throw UserError(o.model.string() + ": this artifact has no embed method (penultimate features); re-export it with this "
                    "smlab ('smlab export' adds one to models whose forward ends in a linear classifier)");
  return a.spec.output.embed->dim;
}

/// The job's fingerprint: a rerun with the same one resumes, a different one is refused.
json fingerprint(const Job& j) {
  json f = {{"artifact", file_fingerprint(j.o.model)},
            {"config_hash", j.model.spec.config_hash},
            {"input", file_fingerprint(j.o.input)},
            {"input_format", j.in_format},
            {"records", static_cast<int64_t>(j.input.records.size())},
            {"shard", {j.o.shard_index, j.o.shard_count}},
            {"positions", {j.begin, j.end}},
            {"chunk_rows", j.o.chunk_rows},
            {"output_format", j.out_format},
            {"top_k", j.o.top_k}};
  // Keys added later appear only when used, so that older jobs keep their fingerprint.
  if (j.bucket) f["bucket"] = true;
  if (j.embed_dim > 0) f["embeddings"] = true;
  if (!j.o.uncertainty.empty()) f["uncertainty"] = j.o.uncertainty;
  return f;
}

Job open_job(const ScoreOptions& o) {
  Job j;
  j.o = o;
  j.output = shard_output(o.output, o.shard_index, o.shard_count);
  j.out_format = detect_output_format(j.output, o.output_format);
  j.device = resolve_device(o.device);
  j.model = load_model(o.model, j.device);
  if (!j.model.runner->autocast() && o.precision != "fp32")
    throw UsageError("--precision " + o.precision + ": a ." + model_format_name(j.model.format) +
                     " package runs in the precision it was compiled in; use --precision fp32 (or the TorchScript artifact)");
  const auto& spec = j.model.spec;
  j.prep = make_preprocessor(spec.input, j.model.files, o.model, o.workers);
  j.embed_dim = embed_dim_of(j.model, o);
  if (!o.uncertainty.empty()) {
    if (!spec.output.classification())
      throw UserError(o.model.string() + ": --uncertainty needs class probabilities, and this artifact is a regression model");
    prediction_uncertainty(torch::full({1, 2}, 0.5), o.uncertainty);  // an unknown name fails here, before scoring
  }
  j.writer = writer_registry().get(j.out_format).make(
      RowFormat{spec.output, std::max<int64_t>(1, std::min<int64_t>(o.top_k, spec.output.dim)), j.embed_dim, o.uncertainty});
  // Length bucketing: only for token models whose export check found the outputs independent
  // of the padded length.
  j.bucket = o.bucket && j.prep->variable_length();
  if (!fs::exists(o.input)) throw UserError(o.input.string() + ": no such file or folder");
  j.in_format = detect_input_format(o.input, o.input_format);
  j.input = read_input(ReadOptions{o.input, o.id_field, o.text_field}, j.in_format, spec.input, o.model);
  auto& recs = j.input.records;
  if (o.limit > 0 && static_cast<int64_t>(recs.size()) > o.limit) recs.resize(o.limit);
  const int64_t total = static_cast<int64_t>(recs.size());
  j.begin = total * o.shard_index / o.shard_count;
  j.end = total * (o.shard_index + 1) / o.shard_count;
  j.chunks = (j.end - j.begin + o.chunk_rows - 1) / o.chunk_rows;
  j.fingerprint = fingerprint(j);
  return j;
}

/// The model's outputs [n_ok, dim] and embeddings [n_ok, D] (float, CPU) for a prepared chunk.
/// Bucketed: batches in order of token length (stable), each padded only to its longest member,
/// the outputs put back at their rows.
std::pair<torch::Tensor, torch::Tensor> run_model(Job& j, const Prepared& p) {
  const int64_t n = static_cast<int64_t>(p.ok.size());
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t{0});
  if (j.bucket)
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p.lengths[a] < p.lengths[b]; });
  auto y_all = torch::empty({n, j.model.spec.output.dim}), e_all = torch::empty({n, j.embed_dim});
  for (int64_t s = 0; s < n; s += j.o.batch_size) {
    const int64_t e = std::min(n, s + j.o.batch_size);
    torch::Tensor x, idx;
    if (j.bucket) {
      idx = torch::tensor(std::vector<int64_t>(order.begin() + s, order.begin() + e), torch::kLong);
      int64_t len = 1;
      for (int64_t i = s; i < e; ++i) len = std::max(len, p.lengths[order[i]]);
      x = p.inputs.slice(1, 0, len).index_select(0, idx);
    } else {
      idx = torch::arange(s, e, torch::kLong);
      x = p.inputs.slice(0, s, e);
    }
    x = x.to(j.device, /*non_blocking=*/true);
    torch::Tensor y, emb;
    {
      AutocastScope autocast(j.device, j.o.precision);
      if (j.embed_dim > 0) std::tie(y, emb) = j.model.runner->forward_embed(x);
      else y = j.model.runner->forward(x);
    }
    y_all.index_copy_(0, idx, y.to(torch::kCPU, torch::kFloat));
    if (emb.defined()) e_all.index_copy_(0, idx, emb.to(torch::kCPU, torch::kFloat));
  }
  return {y_all, e_all};
}

/// Writes chunk c's rows and rejects and journals it; returns its reject count.
int64_t commit_chunk(const Job& j, Journal& journal, int64_t c, const std::vector<Record>& recs, const Prepared& p,
                     const torch::Tensor& y, const torch::Tensor& e) {
  const int64_t chunk_begin = j.begin + c * j.o.chunk_rows;
  std::string rejects = kRejectHeader;
  for (const auto& [i, why] : p.bad)
    rejects += csv_field(recs[i].id) + "," + std::to_string(chunk_begin + i) + "," + csv_field(why) + "\n";
  std::vector<std::string> ids;
  std::vector<int64_t> positions;
  for (int64_t i : p.ok) {
    ids.push_back(recs[i].id);
    positions.push_back(chunk_begin + i);
  }
  journal.commit(c, j.writer->chunk(ids, positions, y, e), rejects, static_cast<int64_t>(p.ok.size()),
                 static_cast<int64_t>(p.bad.size()));
  return static_cast<int64_t>(p.bad.size());
}

/// Every chunk is done: joins the parts in position order, writes the summary, removes the parts.
void assemble(const Job& j, Journal& journal, ScoreResult& res) {
  std::vector<fs::path> parts;
  std::string all_rejects = kRejectHeader;
  for (int64_t c = 0; c < j.chunks; ++c) {
    parts.push_back(chunk_file(journal.parts(), c, "out"));
    append_file(all_rejects, chunk_file(journal.parts(), c, "rej"), true);
  }
  res.rows = j.writer->assemble(parts, j.output);
  res.rejects = std::count(all_rejects.begin(), all_rejects.end(), '\n') - 1;
  // Sanity: every position is a row or a reject (no text field contains a raw newline: CSV
  // fields with newlines are quoted, JSON escapes them).
  if (res.rows + res.rejects != j.end - j.begin)
    throw std::logic_error("score: " + std::to_string(res.rows) + " rows + " + std::to_string(res.rejects) +
                           " rejects != " + std::to_string(j.end - j.begin) + " inputs");
  write_file_atomic(rejects_file(j.output), all_rejects);
  journal.finish(json{{"job", j.fingerprint},
                      {"rows", res.rows},
                      {"rejects", res.rejects},
                      {"model", j.model.spec.model},
                      {"format", model_format_name(j.model.format)},
                      {"device", j.device.str()},
                      {"precision", j.o.precision},
                      {"bucket", j.bucket}});
}

using Chunk = std::pair<std::vector<Record>, Prepared>;

/// Reads and prepares chunk c on a worker thread (pinned for a GPU).
std::future<Chunk> prepare_async(const Job& j, int64_t c) {
  return std::async(std::launch::async, [&j, c] {
    auto recs = j.chunk_records(c);
    auto p = (*j.prep)(recs, j.input.pixels);
    if (j.device.is_cuda()) p.inputs = p.inputs.pin_memory();
    return Chunk(std::move(recs), std::move(p));
  });
}

}  // namespace

ScoreResult score(const ScoreOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  Job job = open_job(resolve(options));
  ScoreResult res;
  res.inputs = job.end - job.begin;
  res.chunks = job.chunks;
  res.output = job.output;
  const FileLock lock = lock_output(job.output);  // one scorer per output, from the journal check to the summary
  if (const auto done = finished_job(job.output, job.fingerprint)) {
    res.rows = done->at("rows");
    res.rejects = done->at("rejects");
    res.chunks_resumed = job.chunks;
    if (!job.o.quiet) std::cerr << "[score] " << job.output.string() << " is already complete\n";
    return res;
  }
  Journal journal(job.output, job.fingerprint);
  res.chunks_resumed = static_cast<int64_t>(journal.done().size());
  if (!job.o.quiet && res.chunks_resumed > 0)
    std::cerr << "[score] resuming: " << res.chunks_resumed << " of " << job.chunks << " chunks already done\n";
  std::vector<int64_t> todo;
  int64_t positions_done = 0, scored_now = 0;
  for (int64_t c = 0; c < job.chunks; ++c)
    if (journal.done().count(c)) positions_done += job.chunk_size(c);
    else todo.push_back(c);
  Progress progress(Progress::parse_mode(job.o.quiet ? "none" : "auto"), "score " + job.output.filename().string(),
                    res.inputs, 1);
  std::future<Chunk> next;
  if (!todo.empty()) next = prepare_async(job, todo[0]);
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < todo.size(); ++k) {
    auto [recs, p] = next.get();
    if (k + 1 < todo.size()) next = prepare_async(job, todo[k + 1]);  // host work for the next chunk overlaps this one
    const auto [y, e] = run_model(job, p);
    const int64_t rejects = commit_chunk(job, journal, todo[k], recs, p, y, e);
    positions_done += static_cast<int64_t>(recs.size());
    scored_now += static_cast<int64_t>(recs.size());
    progress.update(positions_done, scored_now, {{"rejects", static_cast<double>(rejects)}});
  }
  progress.finish();
  assemble(job, journal, res);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace smlab::inference
