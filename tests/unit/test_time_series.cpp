// time_series_windows on small generated series: split by time, per-series scaling from the
// train part (checked against the closed-form mean/std), window and target contents against
// the values written to the files, time features against a hand-computed calendar, and the
// errors for irregular or unreadable series.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <numbers>

#include "core/config.h"
#include "core/error.h"
#include "datasets/time_series.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace smlab::datasets;

namespace {

using smlab::testing::utc_stamp;

constexpr int64_t kT0 = 1424986800;  // 2015-02-26 21:40:00 UTC, a Thursday


/// n points at 5-minute steps from kT0 with value a*t + b.
void write_series(const fs::path& p, int64_t n, double a, double b) {
  std::ofstream f(p);
  f << "timestamp,value\n";
  for (int64_t t = 0; t < n; ++t) f << utc_stamp(kT0 + 300 * t) << "," << a * t + b << "\n";
}

smlab::config::Config ts_cfg(const fs::path& dir, const std::vector<std::string>& overrides = {}) {
  return smlab::config::load_string("data:\n  name: time_series_windows\n  path: " + dir.string() +
                                        "\n  input_len: 12\n  patch: 3\n  horizons: [2, 6]\n  transform: none\n"
                                        "  train_fraction: 0.5\n  val_fraction: 0.25\n  season: 4\n",
                                    "mem.yaml", overrides);
}

using smlab::testing::expect_user_error;

}  // namespace

TEST(TimeSeries, ParsesTimestamps) {
  int64_t s = 0;
  ASSERT_TRUE(parse_timestamp("2015-02-26 21:42:53", &s));
  EXPECT_EQ(s, 1424986973);  // calendar.timegm
  ASSERT_TRUE(parse_timestamp("2015-02-26 21:42:53.000000", &s));
  EXPECT_EQ(s, 1424986973);
  ASSERT_TRUE(parse_timestamp("2000-02-29T00:00:00Z", &s));
  EXPECT_EQ(s, 951782400);
  ASSERT_TRUE(parse_timestamp("1970-01-01", &s));
  EXPECT_EQ(s, 0);
  EXPECT_FALSE(parse_timestamp("26/02/2015 21:42", &s));
  EXPECT_FALSE(parse_timestamp("2015-13-01 00:00:00", &s));
  EXPECT_FALSE(parse_timestamp("2015-02-26 21:42:53 extra", &s));
}

TEST(TimeSeries, SplitsByTimeAndScalesWithTheTrainPart) {
  const auto dir = smlab::testing::temp_dir();
  write_series(dir / "a.csv", 200, 1.0, 0.0);   // 0, 1, ..., 199
  write_series(dir / "b.csv", 200, 2.0, 5.0);   // 5, 7, ..., 403
  const auto cfg = ts_cfg(dir);
  auto train = TimeSeriesWindows::create(cfg, Split::Train);
  auto val = TimeSeriesWindows::create(cfg, Split::Val);
  auto test = TimeSeriesWindows::create(cfg, Split::Test);
  ASSERT_EQ(train->series().size(), 2u);
  const auto& a = train->series()[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.train_end, 100);
  EXPECT_EQ(a.val_end, 150);
  // train part of a: 0..99 -> mean 49.5, population std sqrt((100^2 - 1) / 12)
  EXPECT_NEAR(a.mean, 49.5, 1e-12);
  EXPECT_NEAR(a.std, std::sqrt((100.0 * 100.0 - 1) / 12), 1e-9);
  EXPECT_NEAR(train->series()[1].mean, 2 * 49.5 + 5, 1e-12);
  // origins: train 11..93 (o + 6 <= 99), val 98..143 (o + 2 >= 100, o + 6 <= 149), test 148..193
  EXPECT_EQ(train->size(), 2 * 83);
  EXPECT_EQ(val->size(), 2 * 46);
  EXPECT_EQ(test->size(), 2 * 46);
  EXPECT_EQ(train->origin_of(0), 11);
  EXPECT_EQ(val->origin_of(0), 98);
  EXPECT_EQ(test->origin_of(45), 193);
  EXPECT_EQ(test->series_of(46), 1);
  EXPECT_EQ(train->info().input_shape, (std::vector<int64_t>{4, 7}));
  EXPECT_EQ(train->info().output_dim, 2);
  EXPECT_EQ(train->info().task, Task::Regression);

  // Contents of one test window of series b, against the written values.
  const int64_t k = 46 + 10;  // series b, origin 158
  const int64_t o = test->origin_of(k);
  ASSERT_EQ(o, 158);
  const auto& b = test->series()[1];
  auto scaled = [&](int64_t t) { return ((2.0 * t + 5) - b.mean) / b.std; };
  const auto batch = test->get({k});
  ASSERT_EQ(batch.input.sizes(), (std::vector<int64_t>{1, 4, 7}));
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t j = 0; j < 3; ++j) EXPECT_NEAR(batch.input[0][r][j].item<double>(), scaled(o - 11 + 3 * r + j), 1e-5);
    // time features of the row's last step: time of day and of week (Monday = 0) as angles
    const int64_t step = o - 11 + 3 * r + 2;
    const double sec_of_day = static_cast<double>((21 * 3600 + 40 * 60 + 300 * step) % 86400);
    const double day = 3 + std::floor((21 * 3600 + 40 * 60 + 300.0 * step) / 86400);  // Thursday + days passed
    const double tod = sec_of_day / 86400, tow = (std::fmod(day, 7) + tod) / 7;
    EXPECT_NEAR(batch.input[0][r][3].item<double>(), std::sin(2 * std::numbers::pi * tod), 1e-5);
    EXPECT_NEAR(batch.input[0][r][4].item<double>(), std::cos(2 * std::numbers::pi * tod), 1e-5);
    EXPECT_NEAR(batch.input[0][r][5].item<double>(), std::sin(2 * std::numbers::pi * tow), 1e-5);
    EXPECT_NEAR(batch.input[0][r][6].item<double>(), std::cos(2 * std::numbers::pi * tow), 1e-5);
  }
  EXPECT_NEAR(batch.target[0][0].item<double>(), scaled(o + 2), 1e-5);
  EXPECT_NEAR(batch.target[0][1].item<double>(), scaled(o + 6), 1e-5);
  // decode undoes the scaling
  EXPECT_NEAR(test->decode(batch.target, 1)[0][1].item<double>(), 2.0 * (o + 6) + 5, 1e-3);
  // every test target lies in the test part, every train target in the train part
  for (int64_t i = 0; i < test->size(); ++i) EXPECT_GE(test->origin_of(i) + 2, 150);
  for (int64_t i = 0; i < train->size(); ++i) EXPECT_LE(train->origin_of(i) + 6, 99);
  // the preprocessing record names the fitted scaling
  const auto prep = train->preprocessing();
  EXPECT_NEAR(prep["series"]["a"]["mean"].get<double>(), 49.5, 1e-12);
  EXPECT_EQ(prep["horizons"], nlohmann::json({2, 6}));
}

TEST(TimeSeries, Log1pStrideSeriesFilterAndAllOrigins) {
  const auto dir = smlab::testing::temp_dir();
  write_series(dir / "a.csv", 200, 1.0, 0.0);
  write_series(dir / "b.csv", 200, 3.0, 0.0);
  const auto cfg = ts_cfg(dir, {"data.transform=log1p", "data.series=[b]", "data.stride=5", "data.time_features=false"});
  auto train = TimeSeriesWindows::create(cfg, Split::Train);
  ASSERT_EQ(train->series().size(), 1u);
  EXPECT_EQ(train->series()[0].name, "b");
  EXPECT_EQ(train->size(), 17);  // 11, 16, ..., 91
  EXPECT_EQ(train->info().input_shape, (std::vector<int64_t>{4, 3}));
  double m = 0;
  for (int t = 0; t < 100; ++t) m += std::log1p(3.0 * t);
  EXPECT_NEAR(train->series()[0].mean, m / 100, 1e-12);
  const auto bt = train->get({1});  // origin 16
  const auto& s = train->series()[0];
  EXPECT_NEAR(bt.target[0][0].item<double>(), (std::log1p(3.0 * 18) - s.mean) / s.std, 1e-5);
  EXPECT_NEAR(train->decode(bt.target, 0)[0][0].item<double>(), 54.0, 1e-3);
  // all origins: every origin whose smallest-horizon target exists; later targets past the end are NaN
  auto all = TimeSeriesWindows::create(cfg, Split::Test, true);
  EXPECT_EQ(all->size(), 197 - 11 + 1);
  const auto last = all->get({all->size() - 1});
  EXPECT_EQ(all->origin_of(all->size() - 1), 197);
  EXPECT_TRUE(std::isfinite(last.target[0][0].item<double>()));
  EXPECT_TRUE(std::isnan(last.target[0][1].item<double>()));
  expect_user_error([&] { TimeSeriesWindows::create(ts_cfg(dir, {"data.series=[c]"}), Split::Train); },
                    {"data.series names 'c'", "a, b"});
}

TEST(TimeSeries, IrregularOrBadSeriesFailWithFileAndLine) {
  const auto dir = smlab::testing::temp_dir();
  {
    std::ofstream f(dir / "gap.csv");
    f << "timestamp,value\n" << utc_stamp(kT0) << ",1\n" << utc_stamp(kT0 + 300) << ",2\n" << utc_stamp(kT0 + 900) << ",3\n";
  }
  expect_user_error([&] { read_time_series((dir / "gap.csv").string(), "timestamp", "value"); },
                    {"gap.csv:4", "600 s after the previous one", "expected 300 s"});
  {
    std::ofstream f(dir / "bad.csv");
    f << "timestamp,value\n" << utc_stamp(kT0) << ",1\n" << utc_stamp(kT0 + 300) << ",x\n";
  }
  expect_user_error([&] { read_time_series((dir / "bad.csv").string(), "timestamp", "value"); },
                    {"bad.csv:3", "column 'value'", "'x'"});
  {
    std::ofstream f(dir / "ts.csv");
    f << "timestamp,value\n" << utc_stamp(kT0) << ",1\nyesterday,2\n";
  }
  expect_user_error([&] { read_time_series((dir / "ts.csv").string(), "timestamp", "value"); },
                    {"ts.csv:3", "column 'timestamp'", "'yesterday'"});
  // too short for the windows: the split has none
  const auto d2 = dir / "short";
  fs::create_directories(d2);
  write_series(d2 / "s.csv", 20, 1, 0);
  expect_user_error([&] { TimeSeriesWindows::create(ts_cfg(d2), Split::Train); }, {"train split has no windows"});
}
