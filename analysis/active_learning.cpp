// Pool-based active-learning simulation; see active_learning.h.
#include "analysis/active_learning.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>
#include <sstream>

#include "analysis/error_analysis.h"
#include "analysis/report_svg.h"
#include "analysis/stats.h"
#include "core/atomic_file.h"
#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/text_tsv.h"
#include "inference/open_run.h"
#include "inference/uncertainty.h"
#include "trainers/sweep.h"
#include "trainers/sweep_search.h"
#include "trainers/trainer.h"

namespace smlab::analysis {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Rows = std::vector<int64_t>;

void check_options(const ActiveLearningOptions& o, int64_t pool) {
  if (o.sizes.empty()) throw UserError("--sizes is empty");
  for (size_t i = 0; i < o.sizes.size(); ++i) {
    if (o.sizes[i] < 1 || (i > 0 && o.sizes[i] <= o.sizes[i - 1]))
      throw UserError("--sizes must be positive and increasing, got " + std::to_string(o.sizes[i]) +
                      (i > 0 ? " after " + std::to_string(o.sizes[i - 1]) : std::string()));
  }
  if (o.sizes.back() > pool)
    throw UserError("--sizes ends at " + std::to_string(o.sizes.back()) +
                    " labels, more than the pool's " + std::to_string(pool) + " training texts");
  if (o.strategies.empty()) throw UserError("--strategies is empty");
  for (const auto& s : o.strategies) {
    const auto& ok = inference::prediction_uncertainty_names();
    if (s != "random" && std::find(ok.begin(), ok.end(), s) == ok.end())
      throw UserError("unknown strategy '" + s + "' (allowed: " + text::join(ok, ", ") + ", random)" +
                      text::did_you_mean(s, ok));
  }
  if (o.seeds.empty()) throw UserError("--seeds is empty");
}

Rows read_rows(const fs::path& file) {
  Rows r;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') r.push_back(std::stoll(line));
  return r;
}

void write_rows(const fs::path& file, const Rows& rows) {
  std::string s;
  for (auto r : rows) s += std::to_string(r) + "\n";
  write_file_atomic(file, s);
}

/// `count` draws without replacement from `from`, by a generator seeded with `seed`; sorted.
Rows random_rows(const Rows& from, int64_t count, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto perm = torch::randperm(static_cast<int64_t>(from.size()), gen, torch::kInt64);
  const auto p = perm.accessor<int64_t, 1>();
  Rows out;
  for (int64_t i = 0; i < count; ++i) out.push_back(from[static_cast<size_t>(p[i])]);
  std::sort(out.begin(), out.end());
  return out;
}

/// Trains (or resumes, or reuses) one round and returns its finished summary.
json train_round(const fs::path& config_file, const ActiveLearningOptions& o, const fs::path& round, int64_t seed,
                 int64_t labelled) {
  const fs::path run = round / "run";
  if (auto s = trainers::finished_summary(run)) return *s;
  auto ov = o.overrides;
  ov.push_back("data.train_rows=" + (round / "labelled.txt").string());
  ov.push_back("experiment.seed=" + std::to_string(seed));
  auto cfg = config::load(config_file, ov);
  if (o.min_steps > 0) {
    const int64_t batch = cfg.get<int64_t>("data.batch_size"), epochs = cfg.get<int64_t>("train.epochs");
    const int64_t steps_per_epoch = (labelled + batch - 1) / batch;
    const int64_t need = (o.min_steps + steps_per_epoch - 1) / steps_per_epoch;
    if (need > epochs) {
      ov.push_back("train.epochs=" + std::to_string(need));
      cfg = config::load(config_file, ov);
    }
  }
  trainers::TrainOptions to;
  to.run_dir = run;
  to.resume = trainers::prepare_run_folder(run);
  std::cerr << "[smlab] active-learn: " << (to.resume ? "resuming " : "training ") << run.string() << " on "
            << labelled << " labels\n";
  const auto r = trainers::train(cfg, to);
  if (r.signal != 0)
    throw Interrupted(r.signal, "interrupted in " + run.string() + "; run the same command again to resume");
  if (r.outcome == trainers::Outcome::NonFinite)
    throw UserError("" + run.string() + " diverged (non-finite loss)");
  return r.summary;
}

/// Scores every training row with `run`'s best checkpoint and returns the `budget` unlabelled rows
/// `strategy` ranks first (ties: lower row first). Writes pool.csv (row, labelled, uncertainty, p_*) to `round`.
Rows buy_by_uncertainty(const fs::path& run, const Rows& labelled, int64_t budget, const std::string& strategy,
                        const fs::path& round) {
  auto opened = inference::open_run(run, inference::Checkpoint::Best, std::nullopt,
                                    {"data.train_rows=", "data.train_limit=0"},
                                    [](const config::Config& c) { return datasets::build(c, datasets::Split::Train); });
  datasets::Loader loader(opened.data, trainers::eval_loader_options(opened.cfg, opened.device));
  const auto pred = collect_predictions(*opened.model, loader, opened.device, opened.cfg);
  const auto probs = torch::softmax(pred.outputs.to(torch::kDouble), 1);
  const auto score = inference::prediction_uncertainty(probs, strategy);
  const auto s = score.accessor<double, 1>();
  const auto p = probs.accessor<double, 2>();
  std::vector<char> is_labelled(static_cast<size_t>(probs.size(0)), 0);
  for (auto r : labelled) is_labelled[static_cast<size_t>(r)] = 1;
  Rows pool;
  std::ostringstream csv;
  csv << "row,labelled,uncertainty";
  for (const auto& c : opened.info.class_names) csv << ",p_" << c;
  csv << "\n";
  char buf[40];
  for (int64_t i = 0; i < probs.size(0); ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", s[i]);
    csv << i << "," << int(is_labelled[static_cast<size_t>(i)]) << "," << buf;
    for (int64_t c = 0; c < probs.size(1); ++c) {
      std::snprintf(buf, sizeof buf, "%.17g", p[i][c]);
      csv << "," << buf;
    }
    csv << "\n";
    if (!is_labelled[static_cast<size_t>(i)]) pool.push_back(i);
  }
  write_file_atomic(round / "pool.csv", csv.str());
  std::stable_sort(pool.begin(), pool.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  pool.resize(static_cast<size_t>(budget));
  return pool;
}

std::string round_name(size_t k, int64_t size) { return "round" + std::to_string(k) + "-" + std::to_string(size); }

struct Curve {
  std::vector<std::vector<double>> values;  ///< per round: the metric of each seed
};

/// One strategy's rounds for one seed, from the shared round 0; appends the metric of every round to `curve`.
void run_arm(const fs::path& config_file, const ActiveLearningOptions& o, const std::string& strategy, int64_t seed,
             int64_t pool_size, Curve& curve) {
  const fs::path first = o.output_dir / ("seed" + std::to_string(seed)) / round_name(0, o.sizes[0]);
  fs::path prev = first;
  for (size_t k = 0; k < o.sizes.size(); ++k) {
    const fs::path round = k == 0 ? first : o.output_dir / strategy / ("seed" + std::to_string(seed)) / round_name(k, o.sizes[k]);
    fs::create_directories(round);
    if (!fs::exists(round / "labelled.txt")) {
      Rows rows;
      if (k == 0) {
        Rows all(static_cast<size_t>(pool_size));
        for (int64_t i = 0; i < pool_size; ++i) all[static_cast<size_t>(i)] = i;
        rows = random_rows(all, o.sizes[0], static_cast<uint64_t>(seed) * 1000003 + 11);
      } else {
        rows = read_rows(prev / "labelled.txt");
        const int64_t budget = o.sizes[k] - o.sizes[k - 1];
        Rows bought;
        if (strategy == "random") {
          std::set<int64_t> have(rows.begin(), rows.end());
          Rows rest;
          for (int64_t i = 0; i < pool_size; ++i)
            if (!have.count(i)) rest.push_back(i);
          bought = random_rows(rest, budget, static_cast<uint64_t>(seed) * 1000003 + 11 + k);
        } else {
          bought = buy_by_uncertainty(prev / "run", rows, budget, strategy, round);
        }
        rows.insert(rows.end(), bought.begin(), bought.end());
        std::sort(rows.begin(), rows.end());
      }
      write_rows(round / "labelled.txt", rows);
    }
    const auto summary = train_round(config_file, o, round, seed, o.sizes[k]);
    const auto v = trainers::metric_at(summary, o.metric);
    if (!v) throw UserError("" + (round / "run" / "summary.json").string() + " has no " + o.metric);
    if (curve.values.size() <= k) curve.values.resize(k + 1);
    curve.values[k].push_back(*v);
    prev = round;
  }
}

json curve_json(const std::vector<int64_t>& sizes, const Curve& c) {
  json rows = json::array();
  for (size_t k = 0; k < sizes.size(); ++k) {
    const auto& v = c.values[k];
    json r = {{"labels", sizes[k]}, {"values", v}, {"mean", stats::mean(v)}, {"n", v.size()}};
    if (v.size() >= 2) {
      const auto ci = stats::t_interval(v, 0.95);
      r["std"] = stats::sample_sd(v);
      r["ci95"] = {ci.low, ci.high};
    }
    rows.push_back(r);
  }
  return rows;
}

std::string pct(double v) { return text::fixed(100 * v, 2); }

std::string cell(const json& r) {
  std::string s = pct(r["mean"].get<double>());
  if (r.contains("ci95")) s += " [" + pct(r["ci95"][0].get<double>()) + ", " + pct(r["ci95"][1].get<double>()) + "]";
  return s;
}

std::string markdown(const fs::path& config_file, const ActiveLearningOptions& o, const json& curves, const json& saved) {
  std::ostringstream md;
  md << "# Active-learning simulation: " << config_file.string() << "\n\n"
     << o.metric << " (x100), mean over " << o.seeds.size() << " seeds with its 95% t interval, by labels bought:\n\n| labels |";
  for (const auto& s : o.strategies) md << " " << s << " |";
  md << "\n|---:|";
  for (size_t i = 0; i < o.strategies.size(); ++i) md << "---:|";
  md << "\n";
  for (size_t k = 0; k < o.sizes.size(); ++k) {
    md << "| " << o.sizes[k] << " |";
    for (const auto& s : o.strategies) md << " " << cell(curves[s][k]) << " |";
    md << "\n";
  }
  if (!saved.empty()) {
    md << "\nLabels saved at equal " << o.metric << " (mean curves, interpolated in log2 labels): the labels each "
       << "strategy needs to reach random sampling's mean at a round, and the difference.\n\n"
       << "| strategy | random's labels | random's mean | strategy's labels | saved |\n|---|---:|---:|---:|---:|\n";
    for (const auto& r : saved) {
      const double need = r["labels_needed"].get<double>();
      md << "| " << r["strategy"].get<std::string>() << " | " << r["random_labels"] << " | " << pct(r["random_mean"].get<double>())
         << " | " << (need < 0 ? "not reached" : text::fixed(need, 0)) << " | "
         << (need < 0 ? "-" : text::fixed(r["random_labels"].get<double>() - need, 0)) << " |\n";
    }
  }
  return md.str();
}

json labels_saved(const ActiveLearningOptions& o, const json& curves) {
  json out = json::array();
  if (!curves.contains("random")) return out;
  std::vector<double> rnd;
  for (const auto& r : curves["random"]) rnd.push_back(r["mean"].get<double>());
  for (const auto& s : o.strategies) {
    if (s == "random") continue;
    std::vector<double> m;
    for (const auto& r : curves[s]) m.push_back(r["mean"].get<double>());
    for (size_t k = 1; k < o.sizes.size(); ++k)
      out.push_back({{"strategy", s}, {"random_labels", o.sizes[k]}, {"random_mean", rnd[k]},
                     {"labels_needed", labels_to_reach(o.sizes, m, rnd[k])}});
  }
  return out;
}

std::string chart(const ActiveLearningOptions& o, const json& curves) {
  svg::Chart c;
  c.id = "al_curves";
  c.title = "Active learning: " + o.metric + " by labels";
  c.x_label = "labelled examples (log2)";
  c.y_label = o.metric;
  std::vector<svg::Series> series;
  static const char* const kPart[] = {"", " ci low", " ci high"};  // the mean, then its interval's ends
  for (size_t i = 0; i < o.strategies.size(); ++i) {
    const auto& s = o.strategies[i];
    for (int part = 0; part < 3; ++part) {
      svg::Series line(s + kPart[part]);
      line.markers = part == 0;
      line.dashed = part != 0;
      line.in_legend = part == 0;  // the dashed interval lines share their strategy's colour and entry
      line.colour = static_cast<int>(i);
      for (const auto& r : curves[s]) {
        line.x.push_back(std::log2(r["labels"].get<double>()));
        const bool mean = part == 0 || !r.contains("ci95");  // one seed: no interval, the line follows the mean
        line.y.push_back(mean ? r["mean"].get<double>() : r["ci95"][part - 1].get<double>());
      }
      series.push_back(line);
    }
  }
  for (auto n : o.sizes) c.x_ticks.emplace_back(std::log2(static_cast<double>(n)), std::to_string(n));
  return svg::standalone(svg::line_chart(c, series));
}

}  // namespace

double labels_to_reach(const std::vector<int64_t>& sizes, const std::vector<double>& means, double target) {
  for (size_t k = 0; k < means.size(); ++k) {
    if (means[k] < target) continue;
    if (k == 0) return static_cast<double>(sizes[0]);
    const double x0 = std::log2(static_cast<double>(sizes[k - 1])), x1 = std::log2(static_cast<double>(sizes[k]));
    const double t = (target - means[k - 1]) / (means[k] - means[k - 1]);
    return std::exp2(x0 + t * (x1 - x0));
  }
  return -1;
}

json simulate_active_learning(const fs::path& config_file, const ActiveLearningOptions& o) {
  const auto cfg = config::load(config_file, o.overrides);
  if (cfg.get<std::string>("data.name") != "text_tsv")
    throw UserError("" + config_file.string() + " has data.name " + cfg.get<std::string>("data.name") +
                    "; the simulation needs a text_tsv classification config");
  const int64_t pool = static_cast<int64_t>(datasets::read_text_split(cfg, datasets::Split::Train).texts.size());
  check_options(o, pool);
  fs::create_directories(o.output_dir);
  std::map<std::string, Curve> curves;
  for (const auto seed : o.seeds)  // seed-major: every strategy's seed 0 before any seed 1
    for (const auto& s : o.strategies) run_arm(config_file, o, s, seed, pool, curves[s]);
  json cj = json::object();
  std::string csv = "strategy,seed,labels," + o.metric + "\n";
  for (const auto& s : o.strategies) {
    cj[s] = curve_json(o.sizes, curves[s]);
    for (size_t k = 0; k < o.sizes.size(); ++k)
      for (size_t i = 0; i < o.seeds.size(); ++i)
        csv += s + "," + std::to_string(o.seeds[i]) + "," + std::to_string(o.sizes[k]) + "," +
               text::fixed(curves[s].values[k][i], 6) + "\n";
  }
  const json saved = labels_saved(o, cj);
  json summary = {{"config", config_file.string()}, {"overrides", o.overrides}, {"pool", pool}, {"sizes", o.sizes},
                  {"strategies", o.strategies}, {"seeds", o.seeds}, {"metric", o.metric}, {"min_steps", o.min_steps},
                  {"curves", cj}, {"labels_saved", saved}};
  const std::string md = markdown(config_file, o, cj, saved);
  write_file_atomic(o.output_dir / "al_summary.json", summary.dump(2) + "\n");
  write_file_atomic(o.output_dir / "al_report.md", md);
  write_file_atomic(o.output_dir / "al_curves.csv", csv);
  write_file_atomic(o.output_dir / "al_curves.svg", chart(o, cj));
  summary["markdown"] = md;
  return summary;
}

}  // namespace smlab::analysis
