// CPU smoke versions of the trend-forecasting and engagement experiments on subsets of the shared
// real data ($SMLAB_DATA), using the experiment configs themselves with small overrides (seconds
// each), plus facts about the files taken from their SOURCE.md. Skips with a message when the
// data is absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/config.h"
#include "datasets/csv.h"
#include "datasets/tabular.h"
#include "datasets/time_series.h"
#include "test_util.h"
#include "analysis/cross_validate.h"
#include "analysis/forecast_eval.h"
#include "analysis/segment.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path data_path(const std::string& rel) {
  const char* root = std::getenv("SMLAB_DATA");
  if (!root || !*root) return {};
  const fs::path p = fs::path(root) / rel;
  return fs::exists(p) ? p : fs::path();
}

#define REQUIRE_DATA(var, rel)                                                                          \
  const fs::path var = data_path(rel);                                                                  \
  if (var.empty()) GTEST_SKIP() << "SMLAB_DATA is not set or lacks " << rel << " (see /work/shared/datasets)";

fs::path experiment(const std::string& rel) { return fs::path(smlab::testing::source_dir()) / "experiments" / rel; }

}  // namespace

TEST(RealTrends, NabSeriesReadAsSourceMdSays) {
  REQUIRE_DATA(dir, "nab_realtweets/data");
  // SOURCE.md: regular 300 s steps, AAPL 15,902 rows from 2015-02-26 21:42:53, max 13,479
  const auto s = smlab::datasets::read_time_series((dir / "Twitter_volume_AAPL.csv").string(), "timestamp", "value");
  EXPECT_EQ(s.size(), 15902);
  EXPECT_EQ(s.stamps.front(), "2015-02-26 21:42:53");
  EXPECT_EQ(s.time[1] - s.time[0], 300);
  EXPECT_EQ(*std::max_element(s.raw.begin(), s.raw.end()), 13479);
}

TEST(RealTrends, NabForecasterSmoke) {
  REQUIRE_DATA(dir, "nab_realtweets/data");
  REQUIRE_DATA(labels, "nab_realtweets/labels/realTweets_combined_windows.json");
  const auto out = smlab::testing::temp_dir();
  // the experiment config on the first 2,400 points (8.3 days) of each series, one small epoch
  const auto cfg = smlab::config::load(experiment("trends/nab_lstm.yaml"),
                                       {"experiment.device=cpu", "experiment.output_dir=" + out.string(), "data.limit=2400",
                                        "data.stride=24", "data.eval_stride=6", "model.hidden=16", "model.layers=1",
                                        "model.head_hidden=0", "train.epochs=1", "train.progress=none",
                                        "train.tensorboard=false"});
  const auto r = smlab::trainers::train(cfg);
  EXPECT_EQ(r.summary["status"], "completed");
  smlab::analysis::ForecastEvalOptions o;
  o.labels = labels.string();
  o.score.window = 288;
  const auto rep = smlab::analysis::forecast_eval(r.run_dir, smlab::inference::Checkpoint::Best, r.run_dir, o);
  ASSERT_EQ(rep["series"].size(), 8u);
  for (auto& [name, js] : rep["series"].items()) {
    EXPECT_TRUE(js["1h"]["mase"].is_number()) << name;
    EXPECT_GT(js["1d"]["naive_mae"].get<double>(), 0) << name;
  }
  // AAPL's first window (2015-03-03 04:37:53, point 1,235) lies in the 2,400 points read
  EXPECT_GE(rep["anomaly"]["series"]["Twitter_volume_AAPL"]["windows"].get<int>(), 1);
  EXPECT_TRUE(fs::exists(r.run_dir / "anomaly_scores.csv"));
}

TEST(RealEngagement, FacebookMetricsTableAndCrossValidationSmoke) {
  REQUIRE_DATA(csv, "fb_metrics_moro2016/dataset_Facebook.csv");
  const auto out = smlab::testing::temp_dir();
  const auto cfg = smlab::config::load(experiment("engagement/fb_metrics_mlp.yaml"), {"experiment.device=cpu"});
  auto train = std::dynamic_pointer_cast<smlab::datasets::TabularDataset>(
      smlab::datasets::build(cfg, smlab::datasets::Split::Train));
  ASSERT_TRUE(train);
  // SOURCE.md: Type is Photo/Status/Link/Video, Category 1..3; 12 outcome metrics
  EXPECT_EQ(train->preprocessor().features[1].categories, (std::vector<std::string>{"Link", "Photo", "Status", "Video"}));
  EXPECT_EQ(train->preprocessor().features[2].categories, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(train->info().output_dim, 12);
  EXPECT_EQ(train->info().input_shape, (std::vector<int64_t>{5 + 4 + 3}));
  smlab::analysis::CrossValidateOptions o;
  o.folds = 2;
  o.output_dir = out / "cv";
  o.overrides = {"experiment.device=cpu", "experiment.output_dir=" + out.string(), "train.epochs=3"};
  const auto r = smlab::analysis::cross_validate(experiment("engagement/fb_metrics_mlp.yaml"), o);
  // SOURCE.md: 500 rows, missing Paid 1, like 1, share 4 (5 distinct rows): 495 rows are predicted
  const auto& c = r["targets"]["Lifetime Post Consumers"]["pooled"];
  EXPECT_EQ(c["count"].get<double>(), 495);
  EXPECT_TRUE(c["mape"].is_number());
  EXPECT_EQ(r["targets"].size(), 12u);
}

TEST(RealEngagement, LiveSellersSegmentSmoke) {
  REQUIRE_DATA(csv, "fb_live_sellers_thailand/Live.csv");
  const auto out = smlab::testing::temp_dir();
  smlab::analysis::SegmentOptions o;
  o.input = csv;
  o.output_dir = out;
  o.k_min = 2;
  o.k_max = 4;
  o.n_init = 2;
  o.limit = 1500;
  o.device = "cpu";
  const auto r = smlab::analysis::segment(o);
  EXPECT_EQ(r["rows"], 1500);
  EXPECT_TRUE(r["welch"]["p_greater"].is_number());
  const auto seg = smlab::datasets::read_csv(out / "segments.csv");
  EXPECT_EQ(seg.size(), 1500);
  // the first post of Live.csv (SOURCE.md): a video with 529 reactions
  EXPECT_EQ(seg.rows[0][seg.column("status_type")], "video");
  EXPECT_EQ(seg.rows[0][seg.column("num_reactions")], "529");
  double share = 0;
  for (const auto& c : r["clusters"]) share += c["share"].get<double>();
  EXPECT_NEAR(share, 1.0, 1e-12);
}
