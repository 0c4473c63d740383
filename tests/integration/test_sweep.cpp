// A 2x2 grid x 2 seeds sweep on a tiny model: the tables, the best mark, and resume-by-skipping.
#include <gtest/gtest.h>

#include <fstream>

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
  const fs::path out = smlab::trainers::run_sweep(spec, opt);

  std::ifstream csv(out / "results.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "point,overrides,seed,status,test.top1,test.loss,train_seconds,run_dir");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 8);
  const std::string md = smlab::read_file(out / "results.md");
  EXPECT_NE(md.find("| point | overrides | runs | test.top1 | test.loss |"), std::string::npos) << md;
  EXPECT_NE(md.find("**"), std::string::npos) << "no best mark:\n" << md;
  EXPECT_NE(md.find(" ± "), std::string::npos);

  // Aggregates equal the per-run summaries: recompute point 0's mean by hand.
  const auto res = smlab::trainers::write_results(spec);
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
