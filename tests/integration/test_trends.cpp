// Forecasting, cross-validation and segmentation end to end on generated data (seconds on CPU):
// the reports' numbers are recomputed here from the files the pipelines read and wrote.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <numeric>
#include <random>

#include "core/atomic_file.h"
#include "core/config.h"
#include "datasets/csv.h"
#include "datasets/time_series.h"
#include "test_util.h"
#include "analysis/cross_validate.h"
#include "analysis/forecast_eval.h"
#include "analysis/segment.h"
#include "analysis/stats.h"
#include "trainers/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using smlab::testing::utc_stamp;


constexpr int64_t kT0 = 1424988000;  // 2015-02-26 22:00:00 UTC
constexpr int64_t kN = 1440;         // 60 days of hourly counts

/// Hourly counts with a daily cycle, noise, and (series 0) a spike at t = 1300.
std::vector<std::vector<double>> write_series(const fs::path& dir) {
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 3.0);
  std::vector<std::vector<double>> all;
  for (int s = 0; s < 3; ++s) {
    std::ofstream f(dir / ("s" + std::to_string(s) + ".csv"));
    f << "timestamp,value\n";
    std::vector<double> v;
    for (int64_t t = 0; t < kN; ++t) {
      double y = 40 + 10 * s + 25 * std::sin(2 * std::numbers::pi * t / 24.0) + noise(rng);
      if (s == 0 && t >= 1300 && t < 1303) y += 300;
      y = std::max(0.0, std::round(y));
      v.push_back(y);
      f << utc_stamp(kT0 + 3600 * t) << "," << y << "\n";
    }
    all.push_back(v);
  }
  return all;
}

}  // namespace

TEST(Trends, ForecasterBeatsSeasonalNaiveAndFlagsTheSpike) {
  const auto dir = smlab::testing::temp_dir();
  const auto values = write_series(dir);
  {
    std::ofstream f(dir / "windows.json");
    f << R"({"gen/s0.csv": [[")" << utc_stamp(kT0 + 3600 * 1295) << R"(", ")" << utc_stamp(kT0 + 3600 * 1310) << R"("]], "gen/s1.csv": []})";
  }
  const std::string yaml =
      "experiment: {device: cpu, seed: 0}\n"
      "model: {name: lstm_forecaster, hidden: 16, layers: 1, head_hidden: 0}\n"
      "data: {name: time_series_windows, path: " + dir.string() +
      ", input_len: 48, patch: 4, horizons: [1, 24], season: 24, transform: log1p, train_fraction: 0.6, val_fraction: 0.2, "
      "batch_size: 64, workers: 0}\n"
      "optim: {name: adamw, lr: 0.01}\n"
      "loss: {name: l1}\n"
      "train: {epochs: 6, progress: none, tensorboard: false}\n";
  const auto cfg = smlab::config::load_string(yaml, "gen.yaml", {"experiment.output_dir=" + (dir / "runs").string()});
  const auto run = smlab::trainers::train(cfg).run_dir;
  ASSERT_TRUE(fs::exists(run / "preprocessing.json"));
  const auto prep = json::parse(smlab::read_file(run / "preprocessing.json"));
  EXPECT_EQ(prep["kind"], "time_series_windows");
  EXPECT_TRUE(prep["series"].contains("s2"));

  smlab::analysis::ForecastEvalOptions o;
  o.labels = (dir / "windows.json").string();
  o.threshold = 5.0;
  o.score.window = 24 * 7;
  o.score.min_count = 48;
  const auto r = smlab::analysis::forecast_eval(cfg, run / "checkpoints" / "best.pt", run, o);
  for (const char* f : {"forecast_eval.json", "forecast_eval.md", "anomaly_scores.csv"}) EXPECT_TRUE(fs::exists(run / f)) << f;

  // The seasonal-naive and last-value baselines, recomputed from the generated values:
  // test part = [val_end, n) with val_end = floor(0.8 n); origins o from val_end - 1 (smallest
  // horizon 1) to n - 1 - 24 (largest horizon 24).
  const int64_t val_end = static_cast<int64_t>(std::floor(kN * 0.8));
  for (int s = 0; s < 3; ++s) {
    const auto& v = values[s];
    const auto& js = r["series"]["s" + std::to_string(s)];
    for (auto [h, label] : {std::pair<int64_t, const char*>{1, "1h"}, {24, "1d"}}) {
      double naive = 0, last = 0;
      int64_t n = 0;
      for (int64_t o2 = val_end - 1; o2 <= kN - 1 - 24; ++o2, ++n) {
        naive += std::abs(v[o2 + h] - v[o2 + h - 24]);
        last += std::abs(v[o2 + h] - v[o2]);
      }
      const auto& e = js[label];
      EXPECT_EQ(e["count"].get<double>(), n) << s << " " << label;
      EXPECT_NEAR(e["naive_mae"].get<double>(), naive / n, 1e-9) << s << " " << label;
      EXPECT_NEAR(e["last_value_mae"].get<double>(), last / n, 1e-9) << s << " " << label;
      EXPECT_NEAR(e["mase"].get<double>(), e["mae"].get<double>() / (naive / n), 1e-9);
      // Hyndman & Koehler's scale: in-sample seasonal-naive MAE over the train part [24, floor(0.6 n))
      double scale = 0;
      const int64_t train_end = static_cast<int64_t>(std::floor(kN * 0.6));
      for (int64_t t = 24; t < train_end; ++t) scale += std::abs(v[t] - v[t - 24]);
      scale /= static_cast<double>(train_end - 24);
      EXPECT_NEAR(e["mase_insample"].get<double>(), e["mae"].get<double>() / scale, 1e-9);
      // a daily cycle plus noise: the model beats "same time yesterday" (noise of two points)
      EXPECT_LT(e["mase"].get<double>(), 0.95) << "series s" << s << " horizon " << label;
    }
  }
  EXPECT_TRUE(r["target_mase_below_1_everywhere"].get<bool>());
  // The spike at t = 1300..1302 lies in the labelled window of s0 and is flagged.
  const auto& a = r["anomaly"];
  EXPECT_EQ(a["series"]["s0"]["windows"], 1);
  EXPECT_EQ(a["series"]["s0"]["hit"], 1);
  EXPECT_EQ(a["series"]["s0"]["window_list"][0]["part"], "test");
  EXPECT_EQ(a["series"]["s1"]["windows"], 0);
  EXPECT_LT(a["total"]["false_alarm_rate"].get<double>(), 0.02);
  // the points file: one row per point of every series, scores where forecasts exist
  const auto pts = smlab::datasets::read_csv(run / "anomaly_scores.csv");
  EXPECT_EQ(pts.size(), 3 * kN);
  const int64_t sc = pts.column("score"), fl = pts.column("flag");
  int64_t flagged_in_spike = 0;
  for (int64_t i = 0; i < kN; ++i)
    if (i >= 1300 && i < 1303 && pts.rows[i][fl] == "1") ++flagged_in_spike;
  EXPECT_GE(flagged_in_spike, 1);
  EXPECT_TRUE(pts.missing(0, sc));  // the first points have no forecast

  // `smlab score` on the run with the same series as input: the same per-point forecasts, residuals,
  // scores and flags as forecast-eval's points file (which is the oracle here).
  const auto scored = dir / "out" / "scored.csv";
  EXPECT_EQ(smlab::analysis::score_series(run, "best", dir.string(), scored, o), 3 * kN);
  const auto got = smlab::datasets::read_csv(scored);
  ASSERT_EQ(got.size(), pts.size());
  for (const char* c : {"series", "timestamp", "value", "forecast", "residual", "score", "flag"}) {
    const int64_t a = pts.column(c), b = got.column(c);
    for (int64_t i = 0; i < static_cast<int64_t>(pts.size()); ++i)
      ASSERT_EQ(got.rows[i][b], pts.rows[i][a]) << c << " row " << i;
  }
  EXPECT_FALSE(got.has_column("in_window"));  // no labels: no window column
  EXPECT_TRUE(pts.has_column("in_window"));
}

TEST(Trends, CrossValidationReportsInTheFileUnits) {
  const auto dir = smlab::testing::temp_dir();
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::uniform_real_distribution<double> u(-1, 1);
  {
    std::ofstream f(dir / "t.csv");
    f << "a,b,kind,y1,y2\n";
    for (int i = 0; i < 120; ++i) {
      const double a = u(rng), b = u(rng);
      const std::string kind = i % 3 == 0 ? "x" : "z";
      const double y1 = std::round(std::exp(3 + a + (kind == "x" ? 0.5 : 0) + noise(rng)));
      const double y2 = std::round(std::exp(2 - b + noise(rng)));
      f << a << "," << b << "," << kind << "," << y1 << "," << y2 << "\n";
    }
  }
  {
    std::ofstream f(dir / "cv.yaml");
    f << "experiment: {device: cpu, output_dir: " << (dir / "runs").string() << "}\n"
      << "model: {name: mlp, hidden: [16]}\n"
      << "data: {name: csv_table, path: " << (dir / "t.csv").string()
      << ", categorical: [kind], targets: [y1, y2], target_transform: log1p, val_fraction: 0.2, batch_size: 16, workers: 0}\n"
      << "optim: {name: adamw, lr: 0.01}\nloss: {name: l1}\ntrain: {epochs: 30, progress: none, tensorboard: false}\n";
  }
  smlab::analysis::CrossValidateOptions o;
  o.folds = 3;
  o.output_dir = dir / "cv";
  const auto r = smlab::analysis::cross_validate(dir / "cv.yaml", o);
  // Recompute the pooled metrics from the predictions file.
  const auto p = smlab::datasets::read_csv(dir / "cv" / "cv_predictions.csv");
  ASSERT_EQ(p.size(), 120);
  std::map<int64_t, int> lines;
  for (int64_t i = 0; i < p.size(); ++i) ++lines[static_cast<int64_t>(p.number(i, p.column("line")))];
  EXPECT_EQ(lines.size(), 120u);  // every row predicted exactly once
  for (const char* t : {"y1", "y2"}) {
    const int64_t yc = p.column(t), pc = p.column(std::string("pred ") + t);
    double ape = 0, sy = 0, sy2 = 0, sse = 0;
    int64_t kept = 0;
    for (int64_t i = 0; i < p.size(); ++i) {
      const double y = p.number(i, yc), yh = p.number(i, pc);
      if (y != 0) ape += std::abs(y - yh) / std::abs(y), ++kept;
      sy += y, sy2 += y * y, sse += (y - yh) * (y - yh);
    }
    const double sst = sy2 - sy * sy / p.size();
    const auto& pooled = r["targets"][t]["pooled"];
    EXPECT_NEAR(pooled["mape"].get<double>(), ape / kept, 1e-4) << t;  // predictions are written with 4 decimals
    EXPECT_NEAR(pooled["r2"].get<double>(), 1 - sse / sst, 1e-4) << t;
    // a log-linear signal with 10% noise: well under the constant baseline
    EXPECT_LT(pooled["mape"].get<double>(), 0.6 * r["targets"][t]["baseline"]["mape"].get<double>()) << t;
  }
  // a second call reuses the completed folds
  const auto again = smlab::analysis::cross_validate(dir / "cv.yaml", o);
  EXPECT_EQ(again["targets"], r["targets"]);
}

TEST(Trends, SegmentFindsTheGroupsAndTestsTheTopOne) {
  const auto dir = smlab::testing::temp_dir();
  std::mt19937 rng(11);
  std::normal_distribution<double> n01(0.0, 1.0);
  {
    std::ofstream f(dir / "posts.csv");
    f << "status_id,status_type,num_reactions,num_comments,num_shares\n";
    // three groups of 80 posts: (reactions, comments, shares) around (20,2,1), (200,5,2), (60,300,40)
    const double centres[3][3] = {{20, 2, 1}, {200, 5, 2}, {60, 300, 40}};
    for (int i = 0; i < 240; ++i) {
      const int g = i % 3;
      f << "p" << i << "," << (g == 2 ? "video" : (i % 2 ? "photo" : "status"));
      for (int j = 0; j < 3; ++j) f << "," << std::round(std::exp(std::log1p(centres[g][j]) + 0.15 * n01(rng)));
      f << "\n";
    }
    f << "p0,status,1,1,1\n";  // a repeated id with different counts is not a duplicate row
  }
  smlab::analysis::SegmentOptions o;
  o.input = dir / "posts.csv";
  o.output_dir = dir / "out";
  o.features = {"num_reactions", "num_comments", "num_shares"};
  o.k_min = 2;
  o.k_max = 6;
  o.n_init = 3;
  o.device = "cpu";
  const auto r = smlab::analysis::segment(o);
  EXPECT_EQ(r["k_silhouette"], 3);
  EXPECT_EQ(r["k"], 3);
  EXPECT_EQ(r["duplicate_rows"], 0);
  const auto seg = smlab::datasets::read_csv(dir / "out" / "segments.csv");
  ASSERT_EQ(seg.size(), 241);
  // cluster 0 = the top group by reactions (about 200); Welch recomputed from segments.csv
  std::vector<double> top, rest;
  std::map<int64_t, std::map<std::string, int>> mix;
  for (int64_t i = 0; i < 240; ++i) {
    const int64_t c = static_cast<int64_t>(seg.number(i, seg.column("cluster")));
    (c == 0 ? top : rest).push_back(seg.number(i, seg.column("num_reactions")));
    ++mix[c][seg.rows[i][seg.column("status_type")]];
    EXPECT_EQ(seg.rows[i][seg.column("status_id")], "p" + std::to_string(i));
  }
  (seg.number(240, seg.column("cluster")) == 0 ? top : rest).push_back(1.0);
  EXPECT_NEAR(r["clusters"][0]["mean"]["num_reactions"].get<double>(), std::accumulate(top.begin(), top.end(), 0.0) / top.size(), 1e-9);
  EXPECT_GT(r["clusters"][0]["mean"]["num_reactions"].get<double>(), 150);
  const auto w = smlab::analysis::stats::welch_t_test(top, rest);
  EXPECT_NEAR(r["welch"]["t"].get<double>(), w.t, 1e-9);
  EXPECT_NEAR(r["welch"]["p_greater"].get<double>(), w.p_greater, 1e-12);
  EXPECT_LT(r["welch"]["p_greater"].get<double>(), 1e-10);
  // the video group is one cluster: its status-type mix is 100% video
  bool video_cluster = false;
  for (const auto& c : r["clusters"]) video_cluster |= c["status_type_mix"].value("video", 0.0) > 0.99;
  EXPECT_TRUE(video_cluster);
  for (const char* f : {"summary.json", "summary.md"}) EXPECT_TRUE(fs::exists(dir / "out" / f));
}
