// `smlab select`: the examples to label next, by uncertainty (analysis/uncertainty.h).
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>

#include "analysis/uncertainty.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "datasets/csv.h"
#include "inference/writers.h"
#include "tools/cli/cli.h"

namespace smlab::cli {

namespace {

using inference::csv_field;

std::set<std::string> read_ids(const std::string& path) {
  std::set<std::string> out;
  if (path.empty()) return out;
  std::istringstream in(read_file(path));
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto f = datasets::split_csv_line(line, ',');
    const size_t col = f.size() > 1 ? 1 : 0;  // select's own output: rank,id,...; else one id per line
    if (first && (line == "id" || (f.size() > 1 && f[1] == "id"))) {
      first = false;
      continue;
    }
    first = false;
    if (!f.empty() && !f[col].empty()) out.insert(f[col]);
  }
  return out;
}

int run_select(const Args& args) {
  std::vector<analysis::ScoredFile> members;
  for (const auto& p : args.positionals()) members.push_back(analysis::read_scored(p));
  const auto& first = members.front();
  for (size_t m = 1; m < members.size(); ++m)
    if (members[m].ids != first.ids || members[m].classes != first.classes)
      throw UserError(args.positional(m) + ": its ids or classes differ from " + args.positional(0) +
                      "'s (ensemble members must score the same inputs in the same order)");
  std::vector<torch::Tensor> ps;
  for (const auto& m : members) ps.push_back(m.probs);
  const auto score = analysis::uncertainty(torch::stack(ps), args.get("strategy"),
                                           static_cast<uint64_t>(args.get_int("seed")));
  const auto excluded = read_ids(args.get("exclude"));
  std::vector<int64_t> pool;
  for (size_t i = 0; i < first.ids.size(); ++i)
    if (!excluded.count(first.ids[i])) pool.push_back(static_cast<int64_t>(i));
  const int64_t budget = args.get_int("budget", 1, 1 << 30);
  if (budget > static_cast<int64_t>(pool.size()))
    throw UserError("--budget " + std::to_string(budget) + " is larger than the pool: " + std::to_string(pool.size()) +
                    " unlabelled rows in " + args.positional(0) + (excluded.empty() ? "" : " after --exclude"));
  const auto s = score.accessor<double, 1>();
  std::stable_sort(pool.begin(), pool.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  std::string out = "rank,id,uncertainty,strategy\n";
  for (int64_t r = 0; r < budget; ++r) {
    char v[32];
    std::snprintf(v, sizeof v, "%.17g", s[pool[static_cast<size_t>(r)]]);
    out += std::to_string(r + 1) + "," + csv_field(first.ids[static_cast<size_t>(pool[static_cast<size_t>(r)])]) + "," + v +
           "," + args.get("strategy") + "\n";
  }
  write_file_atomic(args.get("output"), out);
  std::cout << "selected " << budget << " of " << pool.size() << " unlabelled rows by " << args.get("strategy")
            << (members.size() > 1 ? " over " + std::to_string(members.size()) + " members" : std::string()) << " -> "
            << args.get("output") << "\n";
  return 0;
}

}  // namespace

Verb select_verb() {
  VerbSpec s;
  s.name = "select";
  s.summary = "choose the examples to label next by uncertainty (active learning), from `smlab score` outputs";
  s.description =
      "Reads the class probabilities of one or more `smlab score` outputs (CSV with p_<class> columns or\n"
      "JSONL with probs; several files = the members of an ensemble, scored on the same inputs) and writes\n"
      "the --budget most uncertain rows, most uncertain first, as rank,id,uncertainty,strategy.\n"
      "Strategies: entropy (-sum p ln p), margin (1 - (p1 - p2)), least_confident (1 - p1) on the\n"
      "(members' mean) probabilities; variance (across members, mean over classes) and mutual_information\n"
      "(H(mean p) - mean H(p), BALD) for ensembles; random (seeded), the baseline. --exclude skips ids\n"
      "already labelled (one per line, or a previous selection).";
  s.positionals = {{"scores", "score output(s) of a classifier", true, true}};
  s.flags = {{"budget", "N", "how many rows to select", "100"},
             {"strategy", "S", "entropy, margin, least_confident, variance, mutual_information or random", "entropy"},
             {"output", "FILE", "the selection (CSV)", "selected.csv"},
             {"exclude", "FILE", "ids already labelled (one per line, or a previous selection)", ""},
             {"seed", "S", "seed of --strategy random", "0"}};
  s.examples = {"smlab score --model runs/sentiment/model.pt --input pool.tsv --output pool_scores.csv && "
                "smlab select pool_scores.csv --budget 500 --strategy margin --output to_label.csv",
                "smlab select m1.csv m2.csv m3.csv --budget 200 --strategy mutual_information --exclude labelled.txt"};
  return {s, run_select};
}

}  // namespace smlab::cli
