// A 2x2 grid x 2 seeds sweep on a tiny model: the tables, the best mark, and resume-by-skipping.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "analysis/sweep_results.h"
#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "trainers/sweep.h"

namespace fs = std::filesystem;

TEST(Sweep, GridBySeedsProducesTablesAndResumes) {
  const auto dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "base.yaml",
                           "model: {name: mlp, hidden: [16]}\n"
                           "data: {name: synthetic_blobs, features: 4, classes: 3, train_size: 300, val_size: 100, "
                           "test_size: 100, batch_size: 50, workers: 0}\n"
                           "train: {epochs: 1}\nexperiment: {device: cpu}\n");
  smlab::write_file_atomic(dir / "grid.yaml", "base: base.yaml\nseeds: [0, 1]\noutput_dir: " + (dir / "out").string() +
                                                  "\ngrid:\n  model.hidden: [[8], [16, 16]]\n  optim.lr: [0.01, 0.2]\n"
                                                  "metrics: [test.top1, test.loss]\n");
  auto spec = smlab::trainers::load_sweep(dir / "grid.yaml");
  ASSERT_EQ(spec.points.size(), 4u);
  EXPECT_EQ(spec.points[1].label(), "model.hidden=[8] optim.lr=0.2");
  smlab::trainers::SweepOptions opt;
  opt.reporter = smlab::analysis::write_sweep_results;
  const fs::path out = smlab::trainers::run_sweep(spec, opt);

  std::ifstream csv(out / "results.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("row,point,overrides,seed,status,test.top1,test.loss,stats_metric,n,mean,", 0), 0u) << header;
  EXPECT_EQ(header.substr(header.size() - 30), ",verdict,train_seconds,run_dir") << header;
  int run_rows = 0, point_rows = 0;
  while (std::getline(csv, line)) (line.rfind("run,", 0) == 0 ? run_rows : point_rows)++;
  EXPECT_EQ(run_rows, 8);
  EXPECT_EQ(point_rows, 4);
  const std::string md = smlab::read_file(out / "results.md");
  EXPECT_NE(md.find("| point | overrides | runs | test.top1 | test.loss |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0 | `model.hidden=[8] optim.lr=0.01` | 2/2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("## `test.top1` against the baseline"), std::string::npos) << md;
  EXPECT_NE(md.find("| baseline |"), std::string::npos) << md;
  EXPECT_NE(md.find("**"), std::string::npos) << "no best mark:\n" << md;
  EXPECT_NE(md.find(" ± "), std::string::npos);

  // Aggregates equal the per-run summaries: recompute point 0's mean by hand.
  const auto res = smlab::analysis::write_sweep_results(spec);
  double sum = 0;
  for (int seed : {0, 1}) {
    const auto s = nlohmann::json::parse(smlab::read_file(out / ("p0-s" + std::to_string(seed)) / "summary.json"));
    sum += s["test"]["top1"].get<double>();
  }
  EXPECT_NEAR(res["points"][0]["metrics"]["test.top1"]["mean"].get<double>(), sum / 2, 1e-12);

  // Rerun: nothing left to do; a deleted run is redone and nothing else.
  const auto before = fs::last_write_time(out / "p1-s0" / "summary.json");
  fs::remove_all(out / "p2-s1");
  smlab::trainers::run_sweep(spec, opt);
  EXPECT_EQ(fs::last_write_time(out / "p1-s0" / "summary.json"), before);
  EXPECT_TRUE(fs::exists(out / "p2-s1" / "summary.json"));

  // A run that is gone is shown, not dropped: the table counts it and its point's test says why.
  fs::remove_all(out / "p3-s1");
  fs::remove(out / "p2-s0" / "summary.json");  // a run that started and never finished
  const auto again = smlab::analysis::write_sweep_results(spec);
  EXPECT_EQ(again["points"][3]["runs"].get<int>(), 1);
  EXPECT_EQ(again["points"][3]["missing"].get<int>(), 1);
  const std::string md2 = smlab::read_file(out / "results.md");
  EXPECT_NE(md2.find("| 3 | `model.hidden=[16, 16] optim.lr=0.2` | 1/2 (1 missing) |"), std::string::npos) << md2;
  EXPECT_NE(md2.find("not tested: 1 shared seed (2 needed)"), std::string::npos) << md2;
  EXPECT_NE(md2.find("| 2 | `model.hidden=[16, 16] optim.lr=0.01` | 1/2 (1 unfinished) |"), std::string::npos) << md2;
  const std::string csv2 = smlab::read_file(out / "results.csv");
  EXPECT_NE(csv2.find("run,3,\"model.hidden=[16, 16] optim.lr=0.2\",1,missing"), std::string::npos) << csv2;
  // every row has the header's columns
  std::istringstream rows(csv2);
  for (std::string row; std::getline(rows, row);) {
    int fields = 1;
    bool quoted = false;
    for (char c : row) {
      if (c == '"') quoted = !quoted;
      if (c == ',' && !quoted) ++fields;
    }
    EXPECT_EQ(fields, 29) << row;
  }
}

TEST(Sweep, BadOverrideFailsBeforeAnyRunNamingTheSweepFile) {
  const auto dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "base.yaml", "train: {epochs: 1}\n");
  smlab::write_file_atomic(dir / "grid.yaml", "base: base.yaml\ngrid:\n  optim.lr: [0.1, -1]\n");
  try {
    smlab::trainers::load_sweep(dir / "grid.yaml");
    FAIL();
  } catch (const smlab::config::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("grid.yaml:3"), std::string::npos) << m;
    EXPECT_NE(m.find("optim.lr=-1"), std::string::npos) << m;
    EXPECT_NE(m.find("out of range"), std::string::npos) << m;
  }
  smlab::write_file_atomic(dir / "typo.yaml", "base: base.yaml\nseed: [1]\n");
  try {
    smlab::trainers::load_sweep(dir / "typo.yaml");
    FAIL();
  } catch (const smlab::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'seeds'"), std::string::npos) << e.what();
  }
}

namespace {
std::string config_error(const fs::path& file) {
  try {
    smlab::trainers::load_sweep(file);
  } catch (const smlab::config::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(Sweep, StatsSectionIsCheckedNamingTheKey) {
  const auto dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "base.yaml", "train: {epochs: 1}\n");
  const std::string head = "base: base.yaml\nseeds: [0, 1, 2]\ngrid:\n  optim.lr: [0.1, 0.2, 0.3]\nmetrics: [test.top1, test.loss]\n";
  smlab::write_file_atomic(dir / "ok.yaml", head + "stats: {metric: test.loss, baseline: optim.lr=0.2, alpha: 0.01}\n");
  const auto spec = smlab::trainers::load_sweep(dir / "ok.yaml");
  EXPECT_EQ(spec.stats.metric, "test.loss");
  EXPECT_EQ(spec.stats.baseline, 1u);
  EXPECT_TRUE(spec.stats.baseline_named);
  EXPECT_DOUBLE_EQ(spec.stats.alpha, 0.01);
  smlab::write_file_atomic(dir / "defaults.yaml", head);
  const auto d = smlab::trainers::load_sweep(dir / "defaults.yaml");
  EXPECT_EQ(d.stats.metric, "test.top1");
  EXPECT_EQ(d.stats.baseline, 0u);
  EXPECT_DOUBLE_EQ(d.stats.alpha, 0.05);
  EXPECT_EQ(smlab::trainers::find_point(d, "2", "--compare"), 2u);

  smlab::write_file_atomic(dir / "bad1.yaml", head + "stats: {baseline: optim.lr=0.5}\n");
  const auto e1 = config_error(dir / "bad1.yaml");
  EXPECT_NE(e1.find("bad1.yaml:6"), std::string::npos) << e1;
  EXPECT_NE(e1.find("stats.baseline: 'optim.lr=0.5' is not a point"), std::string::npos) << e1;
  EXPECT_NE(e1.find("1: optim.lr=0.2"), std::string::npos) << e1;
  smlab::write_file_atomic(dir / "bad2.yaml", head + "stats: {baselin: 0}\n");
  const auto e2 = config_error(dir / "bad2.yaml");
  EXPECT_NE(e2.find("stats.baselin: unknown stats key; did you mean 'baseline'?"), std::string::npos) << e2;
  EXPECT_NE(e2.find("allowed: metric, baseline, alpha"), std::string::npos) << e2;
  smlab::write_file_atomic(dir / "bad3.yaml", head + "stats: {metric: val.top1}\n");
  EXPECT_NE(config_error(dir / "bad3.yaml").find("stats.metric: 'val.top1' is not among"), std::string::npos);
  smlab::write_file_atomic(dir / "bad4.yaml", head + "stats: {alpha: 1.5}\n");
  EXPECT_NE(config_error(dir / "bad4.yaml").find("stats.alpha: expected a number in (0, 0.5)"), std::string::npos);
  smlab::write_file_atomic(dir / "one_seed.yaml", "base: base.yaml\nseeds: [0]\ngrid:\n  optim.lr: [0.1, 0.2]\n"
                                                  "stats: {baseline: 0}\n");
  const auto e5 = config_error(dir / "one_seed.yaml");
  EXPECT_NE(e5.find("stats.baseline: a paired test needs at least 2 seeds"), std::string::npos) << e5;
  EXPECT_THROW(smlab::trainers::find_point(d, "7", "--compare"), smlab::config::ConfigError);
}
