// `smlab score`: batch scoring with an exported artifact, and `smlab score merge` for shards.
#include <filesystem>
#include <iostream>
#include <limits>

#include "core/config.h"
#include "core/error.h"
#include "core/run_dir.h"
#include "tools/cli/anomaly_flags.h"
#include "tools/cli/cli.h"
#include "inference/open_run.h"
#include "inference/scorer.h"

namespace smlab::cli {

namespace fs = std::filesystem;

namespace {

/// A run folder is scored directly only for forecasters (anomaly scores of series); any other run is
/// exported first. Said plainly, instead of the series reader's complaint about data.path.
void require_forecaster_run(const fs::path& dir) {
  const RunDir run = RunDir::open(dir);
  const auto cfg = config::load(run.config_file());
  const std::string data = cfg.name_of("data");
  if (data == "time_series_windows") return;
  throw UsageError("--model " + dir.string() + " is a run folder of a " + cfg.name_of("model") + " model on " + data +
                   " data; only forecaster runs (data.name: time_series_windows) are scored from their folder. "
                   "Export it first: smlab export " + dir.string() + " --output model.pt, then --model model.pt");
}

}  // namespace

Verb score_verb() {
  VerbSpec s;
  s.name = "score";
  s.summary = "batch-score inputs with a TorchScript artifact, resumably; 'score merge' joins shard outputs";
  s.description =
      "Scores every input record with an artifact from 'smlab export' and writes one row per input, keyed\n"
      "by its id: CSV (id,label,confidence,top_k,p_<class>...; regression: id,value_0...), JSONL, or HDF5\n"
      "(.h5: ids, positions, probabilities [N,C], top_k_indices, top_k_probabilities, classes; regression:\n"
      "values). --embeddings adds the classifier's input per row (CSV e_0..., JSONL \"embedding\", HDF5\n"
      "embeddings [N,D]) for artifacts that have an embed method. Records that cannot be scored\n"
      "(malformed line, empty text, undecodable image, bad feature) go to <output>.rejects.csv with the\n"
      "reason, so rows + rejects = inputs. Preprocessing comes from the artifact (tokenizer, max_len,\n"
      "resize/crop). Work is journaled per chunk in <output>.parts/: rerun\n"
      "the same command after a crash or kill and it continues where it stopped, with every input\n"
      "exactly once in the result. --shard i/n (or RANK/WORLD_SIZE under torchrun, SLURM_PROCID/\n"
      "SLURM_NTASKS under srun) scores the i-th contiguous slice into <stem>.shard-i-of-n<ext>;\n"
      "'smlab score merge --output FILE' checks that the shards tile the input and joins them.\n"
      "Inputs: tweets/texts in TSV, CSV (header with the id and text fields, else id = first column and\n"
      "text = last) or JSONL; image folders (recursive) or .list files; tabular rows in CSV/TSV/JSONL;\n"
      "packed HDF5 shards from 'smlab pack' (one .h5 or a folder; images, video clips or texts; id =\n"
      "the shard's stored id, else the record index). Text is bucketed by token length (each batch\n"
      "padded only to its longest member, output order unchanged) when the artifact's export check\n"
      "found its outputs independent of the padded length; --no-bucket pads every batch to max_len.\n"
      "Time series: with --model a forecaster's run folder (data.name=time_series_windows) and --input a\n"
      "timestamp,value CSV or a folder of them, every point gets the forecast made --anomaly-horizon steps\n"
      "before it, the residual, a robust z-score of the residual (anomaly score) and a flag at\n"
      "--threshold: CSV rows series,timestamp,value,forecast,residual,score,flag, written atomically\n"
      "(the same scoring as 'smlab forecast-eval', on new series; docs/trends_engagement.md).";
  s.positionals = {{"action", "'merge' to join shard outputs (otherwise omitted)", false}};
  s.flags = {{"model", "FILE", "artifact written by 'smlab export' (or a forecaster's run folder, for series)", ""},
             {"input", "PATH", "TSV/CSV/JSONL file, image folder, .list file, or HDF5 shard(s) (.h5 or a pack folder)", ""},
             {"output", "FILE", "output .csv, .jsonl or .h5", ""},
             {"input-format", "FMT", "auto, tsv, csv, jsonl, images, list or hdf5", "auto"},
             {"output-format", "FMT", "auto (from the extension), csv, jsonl or hdf5", "auto"},
             {"id-field", "NAME", "id column name or 0-based index, or JSON key ('line': line numbers)", "id"},
             {"text-field", "NAME", "text column name or 0-based index, or JSON key", "text"},
             {"batch-size", "N", "records per forward pass", "256"},
             {"chunk-rows", "N", "records per journaled chunk", "8192"},
             {"top-k", "K", "top classes listed per row", "5"},
             {"device", "DEV", "auto, cpu, cuda or cuda:N", "auto"},
             {"precision", "P", "fp32, bf16 or fp16 (autocast)", "fp32"},
             {"threads", "N", "intra-op CPU threads (0 = LibTorch's default)", "0"},
             {"workers", "N", "host threads for reading, tokenising and decoding", "2"},
             {"shard", "I/N", "score the I-th of N contiguous slices", ""},
             {"limit", "N", "score only the first N records (0 = all)", "0"},
             {"no-bucket", "", "text: pad every batch to max_len instead of its longest member", ""},
             {"embeddings", "", "also write the penultimate features (the classifier's input) per row", ""},
             {"uncertainty", "S", "classifiers: add a per-row uncertainty column: entropy, margin or least_confident "
              "(higher = less sure; `smlab select` ranks by it)", ""},
             {"quiet", "", "no progress output", ""},
             {"checkpoint", "WHICH", "series: best or last checkpoint of the run", "best"}};
  const auto series_flags = anomaly_flags("series: ");
  s.flags.insert(s.flags.end(), series_flags.begin(), series_flags.end());
  s.examples = {"smlab score --model runs/quickstart/latest/model.pt --input runs/quickstart/latest/model.pt.sample.csv "
                "--output scores.csv",
                "smlab score --model sentiment.pt --input tweets.jsonl --output scores.jsonl --device cuda --precision bf16",
                "smlab score --model sentiment.pt --input tweets.tsv --output out/scores.csv --shard 0/4",
                "smlab score --model resnet18.pt --input packed/cifar10-test --output scores.h5 --embeddings",
                "smlab score merge --output out/scores.csv",
                "smlab score --model runs/nab_lstm/r1 --input $SMLAB_DATA/nab_realtweets/data --output "
                "anomaly.csv --refractory 288"};
  return {s, [](const Args& args) {
            if (args.positional(0) == "merge") {
              if (!args.has("output")) throw UsageError("'smlab score merge' needs --output (the unsharded output name)");
              const auto summary = inference::merge(args.get("output"));
              std::cout << "merged " << summary["shards"] << " shards into " << args.get("output") << ": "
                        << summary["rows"] << " rows, " << summary["rejects"] << " rejects\n";
              return 0;
            }
            if (!args.positional(0).empty()) throw UsageError("unknown action '" + args.positional(0) + "' (merge)");
            for (const char* f : {"model", "input", "output"})
              if (!args.has(f)) throw UsageError(std::string("'smlab score' needs --") + f);
            if (fs::is_directory(args.get("model"))) {  // a forecaster run: per-point anomaly scores of series
              require_forecaster_run(args.get("model"));
              analysis::ForecastEvalOptions f;
              read_anomaly_flags(args, f);
              f.device = args.get("device");
              const auto which = inference::parse_checkpoint(args.get("checkpoint"));
              const auto rows = analysis::score_series(args.get("model"), which, args.get("input"), args.get("output"), f);
              std::cout << "scored " << rows << " points into " << args.get("output") << "\n";
              return 0;
            }
            inference::ScoreOptions o;
            o.model = args.get("model");
            o.input = args.get("input");
            o.output = args.get("output");
            o.input_format = args.get("input-format");
            o.output_format = args.get("output-format");
            o.id_field = args.get("id-field");
            o.text_field = args.get("text-field");
            // Bounded: a typo such as --threads 100000 must not start 100,000 threads (issue 22, item 14).
            o.batch_size = args.get_int("batch-size", 1, 1 << 20);
            o.chunk_rows = args.get_int("chunk-rows", 1, 1 << 24);
            o.top_k = args.get_int("top-k", 1, 1000);
            o.device = args.get("device");
            o.precision = args.get("precision");
            o.threads = args.get_int("threads", 0, 1024);
            o.workers = args.get_int("workers", 0, 256);
            o.limit = args.get_int("limit", 0, std::numeric_limits<int>::max());
            o.quiet = args.has("quiet");
            o.bucket = !args.has("no-bucket");
            o.embeddings = args.has("embeddings");
            o.uncertainty = args.get("uncertainty");
            if (args.has("shard")) {
              const auto sh = args.get("shard");
              const auto slash = sh.find('/');
              try {
                if (slash == std::string::npos) throw std::invalid_argument("no slash");
                o.shard_index = std::stoll(sh.substr(0, slash));
                o.shard_count = std::stoll(sh.substr(slash + 1));
              } catch (const std::exception&) {
                throw UsageError("--shard expects I/N (e.g. 0/4), got '" + sh + "'");
              }
              if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
                throw UsageError("--shard " + sh + ": need 0 <= I < N");
            }
            const auto r = inference::score(o);
            std::cout << "scored " << r.inputs << " inputs into " << r.output.string() << ": " << r.rows << " rows, "
                      << r.rejects << " rejects";
            if (r.chunks_resumed > 0) std::cout << " (" << r.chunks_resumed << " of " << r.chunks << " chunks from before)";
            if (r.seconds > 0) std::cout << " in " << r.seconds << " s";
            std::cout << "\n";
            return 0;
          }};
}

}  // namespace smlab::cli
