#include "datasets/time_series.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <numbers>

#include "core/error.h"
#include "core/text.h"
#include "datasets/csv.h"

namespace smlab::datasets {
namespace fs = std::filesystem;

bool parse_timestamp(const std::string& text, int64_t* seconds) {
  const std::string t = text::trim(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, used = 0;
  char sep = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &s, &used) == 7 &&
      (sep == ' ' || sep == 'T')) {
    // optional fractional seconds (".000000") and a trailing Z
    size_t p = static_cast<size_t>(used);
    if (p < t.size() && t[p] == '.') {
      ++p;
      while (p < t.size() && std::isdigit(static_cast<unsigned char>(t[p]))) ++p;
    }
    if (p < t.size() && t[p] == 'Z') ++p;
    if (p != t.size()) return false;
  } else if (std::sscanf(t.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3 && static_cast<size_t>(used) == t.size()) {
    h = mi = s = 0;
  } else {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || h < 0 || mi < 0 || s < 0) return false;
  // days since 1970-01-01 (Howard Hinnant's days_from_civil)
  const int yy = y - (mo <= 2);
  const int era = (yy >= 0 ? yy : yy - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(yy - era * 400);
  const unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
  *seconds = days * 86400 + h * 3600 + mi * 60 + s;
  return true;
}

TimeSeries read_time_series(const std::string& path, const std::string& timestamp_column, const std::string& value_column,
                            int64_t limit) {
  const CsvTable t = read_csv(path);
  const int64_t tc = t.column(timestamp_column), vc = t.column(value_column);
  TimeSeries s;
  s.path = path;
  s.name = fs::path(path).stem().string();
  const int64_t n = limit > 0 ? std::min(limit, t.size()) : t.size();
  for (int64_t r = 0; r < n; ++r) {
    int64_t sec = 0;
    if (!parse_timestamp(t.rows[r][tc], &sec))
      throw UserError(t.where(r, tc) + ": cannot read '" + t.rows[r][tc] + "' as a timestamp (YYYY-MM-DD HH:MM:SS)");
    if (!s.time.empty()) {
      const int64_t step = s.time.size() >= 2 ? s.time[1] - s.time[0] : sec - s.time.back();
      if (sec - s.time.back() != step || step <= 0)
        throw UserError(t.where(r, tc) + ": timestamp '" + text::trim(t.rows[r][tc]) + "' is " +
                        std::to_string(sec - s.time.back()) + " s after the previous one, expected " +
                        std::to_string(step) + " s (time_series_windows needs a regular series without gaps)");
    }
    s.time.push_back(sec);
    s.stamps.push_back(text::trim(t.rows[r][tc]));
    s.raw.push_back(t.number(r, vc));
    s.lines.push_back(t.lines[r]);
  }
  if (s.size() < 2) throw UserError(path + ": " + std::to_string(s.size()) + " points; a time series needs at least 2");
  return s;
}

std::shared_ptr<TimeSeriesWindows> TimeSeriesWindows::create(const config::Config& cfg, Split split, bool all_origins) {
  auto ds = std::make_shared<TimeSeriesWindows>();
  WindowSpec& sp = ds->spec_;
  sp.input_len = cfg.get<int64_t>("data.input_len");
  sp.patch = cfg.get<int64_t>("data.patch");
  sp.horizons = cfg.get<std::vector<int64_t>>("data.horizons");
  sp.transform = cfg.get<std::string>("data.transform");
  sp.scale = cfg.get<bool>("data.scale");
  sp.time_features = cfg.get<bool>("data.time_features");
  sp.season = cfg.get<int64_t>("data.season");
  if (sp.input_len % sp.patch != 0)
    throw UserError("time_series_windows: data.input_len " + std::to_string(sp.input_len) + " is not a multiple of data.patch " +
                    std::to_string(sp.patch));
  if (sp.horizons.empty()) throw UserError("time_series_windows: data.horizons is empty");
  const int64_t h_min = *std::min_element(sp.horizons.begin(), sp.horizons.end());
  const int64_t h_max = *std::max_element(sp.horizons.begin(), sp.horizons.end());
  const double train_fraction = cfg.get<double>("data.train_fraction"), val_fraction = cfg.get<double>("data.val_fraction");
  if (train_fraction + val_fraction >= 1.0)
    throw UserError("time_series_windows: data.train_fraction + data.val_fraction must leave a test part (< 1)");

  // Files: a CSV file, or every .csv of a folder (sorted), filtered by data.series.
  const std::string path = cfg.get<std::string>("data.path");
  if (path.empty()) throw UserError("time_series_windows: data.path is required (a CSV file or a folder of them)");
  std::vector<std::string> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw UserError(path + ": no .csv files");
  } else {
    if (!fs::exists(path)) throw UserError(path + ": not found");
    files.push_back(path);
  }
  const auto wanted = cfg.get<std::vector<std::string>>("data.series");
  if (!wanted.empty()) {
    std::vector<std::string> stems, keep;
    for (const auto& f : files) stems.push_back(fs::path(f).stem().string());
    for (const auto& w : wanted) {
      const auto it = std::find(stems.begin(), stems.end(), w);
      if (it == stems.end())
        throw UserError("time_series_windows: data.series names '" + w + "', which is not a .csv in " + path +
                        text::did_you_mean(w, stems) + " (have: " + text::join(stems, ", ") + ")");
      keep.push_back(files[it - stems.begin()]);
    }
    files = keep;
  }

  const std::string ts_col = cfg.get<std::string>("data.timestamp_column"), v_col = cfg.get<std::string>("data.value_column");
  const int64_t limit = cfg.get<int64_t>("data.limit");
  std::vector<float> values;
  std::vector<float> tfeat;
  for (const auto& f : files) {
    TimeSeries s = read_time_series(f, ts_col, v_col, limit);
    const int64_t n = s.size();
    const int64_t step = s.time[1] - s.time[0];
    if (sp.step_seconds == 0) sp.step_seconds = step;
    else if (step != sp.step_seconds)
      throw UserError(f + ": steps of " + std::to_string(step) + " s, but " + ds->series_.front().path + " has " +
                      std::to_string(sp.step_seconds) + " s; all series must share one step");
    s.train_end = static_cast<int64_t>(std::floor(static_cast<double>(n) * train_fraction));
    s.val_end = static_cast<int64_t>(std::floor(static_cast<double>(n) * (train_fraction + val_fraction)));
    // transform, then the train part's mean and population std
    std::vector<double> z(n);
    for (int64_t t = 0; t < n; ++t) {
      if (sp.transform == "log1p") {
        if (s.raw[t] <= -1.0)
          throw UserError(f + ":" + std::to_string(s.lines[t]) + ": value " + std::to_string(s.raw[t]) +
                          " is <= -1, which data.transform log1p cannot take");
        z[t] = std::log1p(s.raw[t]);
      } else {
        z[t] = s.raw[t];
      }
    }
    if (sp.scale) {
      if (s.train_end < 2) throw UserError(f + ": the train part has " + std::to_string(s.train_end) + " points; too few to scale");
      double sum = 0, sum2 = 0;
      for (int64_t t = 0; t < s.train_end; ++t) sum += z[t];
      s.mean = sum / static_cast<double>(s.train_end);
      for (int64_t t = 0; t < s.train_end; ++t) sum2 += (z[t] - s.mean) * (z[t] - s.mean);
      const double sd = std::sqrt(sum2 / static_cast<double>(s.train_end));
      s.std = sd > 1e-12 ? sd : 1.0;
    }
    for (int64_t t = 0; t < n; ++t) {
      values.push_back(static_cast<float>((z[t] - s.mean) / s.std));
      // time of day and time of week as angles; 1970-01-01 was a Thursday (Monday = day 0)
      const int64_t sec = s.time[t];
      const int64_t day = (sec >= 0 ? sec / 86400 : (sec - 86399) / 86400);
      const double tod = static_cast<double>(sec - day * 86400) / 86400.0;
      const double dow = static_cast<double>(((day + 3) % 7 + 7) % 7) + tod;
      const double a = 2 * std::numbers::pi * tod, b = 2 * std::numbers::pi * dow / 7.0;
      for (double v : {std::sin(a), std::cos(a), std::sin(b), std::cos(b)}) tfeat.push_back(static_cast<float>(v));
    }
    ds->offsets_.push_back(ds->offsets_.empty() ? 0 : ds->offsets_.back() + ds->series_.back().size());
    ds->series_.push_back(std::move(s));
  }
  const int64_t total = static_cast<int64_t>(values.size());
  ds->values_ = torch::from_blob(values.data(), {total}, torch::kFloat).clone();
  ds->tfeat_ = torch::from_blob(tfeat.data(), {total, 4}, torch::kFloat).clone();

  // Samples: origins whose targets all fall in the split's part.
  const int64_t stride = split == Split::Train ? cfg.get<int64_t>("data.stride") : cfg.get<int64_t>("data.eval_stride");
  for (size_t si = 0; si < ds->series_.size(); ++si) {
    const auto& s = ds->series_[si];
    int64_t lo = 0, hi = s.size();  // the part
    if (!all_origins) {
      if (split == Split::Train) hi = s.train_end;
      else if (split == Split::Val) lo = s.train_end, hi = s.val_end;
      else lo = s.val_end;
    }
    const int64_t first = std::max(sp.input_len - 1, lo - h_min);
    const int64_t last = all_origins ? hi - 1 - h_min : hi - 1 - h_max;  // inclusive
    for (int64_t o = first; o <= last; o += (all_origins ? 1 : stride)) {
      ds->sample_series_.push_back(static_cast<int64_t>(si));
      ds->sample_origin_.push_back(o);
    }
  }
  if (ds->sample_series_.empty())
    throw UserError("time_series_windows: the " + split_name(split) + " split has no windows (input_len " +
                    std::to_string(sp.input_len) + ", largest horizon " + std::to_string(h_max) +
                    "; the series are too short for these fractions)");
  ds->info_.task = Task::Regression;
  ds->info_.output_dim = static_cast<int64_t>(sp.horizons.size());
  ds->info_.input_shape = {sp.rows(), sp.features()};
  return ds;
}

Batch TimeSeriesWindows::get(const std::vector<int64_t>& indices) const {
  const int64_t B = static_cast<int64_t>(indices.size()), L = spec_.input_len, P = spec_.patch, T = spec_.rows();
  std::vector<int64_t> start(B), base(B);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t k = indices[i];
    base[i] = offsets_[sample_series_[k]];
    start[i] = base[i] + sample_origin_[k] - L + 1;
  }
  const auto st = torch::tensor(start, torch::kLong);
  const auto idx = st.unsqueeze(1) + torch::arange(L, torch::kLong).unsqueeze(0);  // [B, L]
  auto x = values_.index_select(0, idx.flatten()).view({B, T, P});
  if (spec_.time_features) {
    const auto row_end = idx.slice(1, P - 1, L, P);  // [B, T]: last step of each row
    const auto tf = tfeat_.index_select(0, row_end.flatten()).view({B, T, 4});
    x = torch::cat({x, tf}, 2);
  }
  const int64_t H = static_cast<int64_t>(spec_.horizons.size());
  auto y = torch::empty({B, H}, torch::kFloat);
  auto ya = y.accessor<float, 2>();
  const float* v = values_.data_ptr<float>();
  for (int64_t i = 0; i < B; ++i) {
    const int64_t s = sample_series_[indices[i]], o = sample_origin_[indices[i]];
    for (int64_t h = 0; h < H; ++h) {
      const int64_t t = o + spec_.horizons[h];
      ya[i][h] = t < series_[s].size() ? v[base[i] + t] : std::numeric_limits<float>::quiet_NaN();
    }
  }
  return {x, y};
}

torch::Tensor TimeSeriesWindows::decode(const torch::Tensor& scaled, int64_t s) const {
  auto z = scaled.to(torch::kDouble) * series_[s].std + series_[s].mean;
  if (spec_.transform == "log1p") z = torch::expm1(z).clamp_min(0.0);
  return z;
}

nlohmann::json TimeSeriesWindows::preprocessing() const {
  nlohmann::json j;
  j["kind"] = "time_series_windows";
  j["input_len"] = spec_.input_len;
  j["patch"] = spec_.patch;
  j["horizons"] = spec_.horizons;
  j["transform"] = spec_.transform;
  j["scale"] = spec_.scale;
  j["time_features"] = spec_.time_features;
  j["step_seconds"] = spec_.step_seconds;
  j["season"] = spec_.season;
  j["input_layout"] = "[T=input_len/patch, F=patch scaled values + (sin,cos time of day, sin,cos time of week) of each row's last step]";
  j["series"] = nlohmann::json::object();
  for (const auto& s : series_) {
    j["series"][s.name] = {{"mean", s.mean},
                           {"std", s.std},
                           {"points", s.size()},
                           {"train_end", s.stamps[s.train_end]},
                           {"val_end", s.stamps[s.val_end]}};
  }
  return j;
}

namespace {
std::shared_ptr<Dataset> make(const config::Config& cfg, Split split) { return TimeSeriesWindows::create(cfg, split); }
}  // namespace

void register_time_series_windows() {
  registry().add(
      "time_series_windows",
      {"sliding windows over regular CSV time series (timestamp,value), split by time per series: "
       "[B,T,F] float inputs, [B,H] scaled targets at each horizon",
       config::Schema()
           .string("path", "", "CSV file or folder of .csv files (one series each)")
           .list("series", config::Type::StringList, "[]", "file stems to use (default: every .csv in the folder)")
           .string("timestamp_column", "timestamp", "column of timestamps (YYYY-MM-DD HH:MM:SS)")
           .string("value_column", "value", "column of values")
           .integer("input_len", 576, "input steps per window", 1)
           .integer("patch", 12, "consecutive steps per input row (T = input_len / patch)", 1)
           .list("horizons", config::Type::IntList, "[12, 288]", "steps ahead of the last input step, one output each", 1)
           .choice("transform", "log1p", {"log1p", "none"}, "value transform before scaling (log1p for counts)")
           .boolean("scale", true, "standardise each series with the mean and std of its train part")
           .boolean("time_features", true, "append sin/cos of time of day and of time of week to each input row")
           .number("train_fraction", 0.6, "earliest share of each series in the train part", 0.0, 1.0, true)
           .number("val_fraction", 0.2, "next share in the val part (the rest is the test part)", 0.0, 1.0, true)
           .integer("stride", 1, "steps between training origins", 1)
           .integer("eval_stride", 1, "steps between val/test origins", 1)
           .integer("season", 288, "seasonal period in steps (seasonal-naive baseline y[t - season])", 1)
           .integer("limit", 0, "use only the first N points of each series (0 = all; CI smoke runs)", 0),
       make});
}

}  // namespace smlab::datasets
