// csv_table: numeric tabular data from one CSV file (see datasets/tabular.h).
#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <set>

#include "core/error.h"
#include "core/text.h"
#include "datasets/split.h"
#include "datasets/tabular.h"

namespace smlab::datasets {
namespace {

std::string trimmed(const CsvTable& t, int64_t row, int64_t col) { return text::trim(t.rows[row][col]); }

double target_value(const CsvTable& t, int64_t row, int64_t col, const std::string& transform) {
  const double v = t.number(row, col);
  if (transform == "log1p") {
    if (v <= -1.0)
      throw UserError(t.where(row, col) + ": value " + std::to_string(v) + " is <= -1, which target_transform log1p cannot take");
    return std::log1p(v);
  }
  return v;
}

}  // namespace

TabularPreprocessor TabularPreprocessor::fit(const CsvTable& table, const std::vector<int64_t>& rows,
                                             const std::vector<std::string>& features,
                                             const std::vector<std::string>& categorical,
                                             const std::vector<std::string>& targets, Task task,
                                             const std::string& target_transform, bool standardize,
                                             bool standardize_targets) {
  if (rows.empty()) throw UserError(table.path + ": no training rows to fit the preprocessing on");
  TabularPreprocessor p;
  p.task = task;
  p.targets = targets;
  p.target_transform = task == Task::Regression ? target_transform : "none";
  const std::set<std::string> cat(categorical.begin(), categorical.end());
  for (const auto& c : categorical)
    if (std::find(features.begin(), features.end(), c) == features.end())
      throw UserError(table.path + ": categorical column '" + c + "' is not one of the features");
  for (const auto& name : features) {
    TabularColumn col;
    col.name = name;
    const int64_t ci = table.column(name);
    col.categorical = cat.count(name) > 0;
    if (col.categorical) {
      std::set<std::string> values;
      for (int64_t r = 0; r < table.size(); ++r)
        if (!table.missing(r, ci)) values.insert(trimmed(table, r, ci));
      col.categories.assign(values.begin(), values.end());
    } else if (standardize) {
      // mean and population std of the training rows (float64); a constant column keeps std 1
      double s = 0, s2 = 0;
      for (auto r : rows) s += table.number(r, ci);
      col.mean = s / static_cast<double>(rows.size());
      for (auto r : rows) s2 += std::pow(table.number(r, ci) - col.mean, 2);
      const double sd = std::sqrt(s2 / static_cast<double>(rows.size()));
      col.std = sd > 1e-12 ? sd : 1.0;
    }
    p.features.push_back(std::move(col));
  }
  if (task == Task::Classification) {
    if (targets.size() != 1)
      throw UserError(table.path + ": a classification csv_table needs exactly one target column, got " +
                      std::to_string(targets.size()));
    const int64_t ci = table.column(targets[0]);
    std::set<std::string> values;
    for (int64_t r = 0; r < table.size(); ++r)
      if (!table.missing(r, ci)) values.insert(trimmed(table, r, ci));
    p.classes.assign(values.begin(), values.end());
  } else {
    if (targets.empty()) throw UserError(table.path + ": csv_table needs at least one target column (data.targets)");
    for (const auto& name : targets) {
      const int64_t ci = table.column(name);
      double mean = 0, sd = 1;
      if (standardize_targets) {
        double s = 0, s2 = 0;
        for (auto r : rows) s += target_value(table, r, ci, p.target_transform);
        mean = s / static_cast<double>(rows.size());
        for (auto r : rows) s2 += std::pow(target_value(table, r, ci, p.target_transform) - mean, 2);
        sd = std::sqrt(s2 / static_cast<double>(rows.size()));
        if (sd <= 1e-12) sd = 1.0;
      }
      p.target_mean.push_back(mean);
      p.target_std.push_back(sd);
    }
  }
  return p;
}

int64_t TabularPreprocessor::width() const {
  int64_t w = 0;
  for (const auto& c : features) w += c.categorical ? static_cast<int64_t>(c.categories.size()) : 1;
  return w;
}

std::vector<std::string> TabularPreprocessor::input_names() const {
  std::vector<std::string> out;
  for (const auto& c : features) {
    if (!c.categorical) out.push_back(c.name);
    else
      for (const auto& v : c.categories) out.push_back(c.name + "=" + v);
  }
  return out;
}

torch::Tensor TabularPreprocessor::encode_features(const CsvTable& table, const std::vector<int64_t>& rows) const {
  const int64_t n = static_cast<int64_t>(rows.size()), w = width();
  auto x = torch::zeros({n, w}, torch::kFloat);
  auto a = x.accessor<float, 2>();
  int64_t off = 0;
  for (const auto& c : features) {
    const int64_t ci = table.column(c.name);
    if (c.categorical) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = rows[i];
        if (table.missing(r, ci)) throw UserError(table.where(r, ci) + ": missing value (empty field)");
        const std::string v = trimmed(table, r, ci);
        const auto it = std::find(c.categories.begin(), c.categories.end(), v);
        if (it == c.categories.end())
          throw UserError(table.where(r, ci) + ": category '" + v + "' was not seen when the preprocessing was fitted (known: " +
                          text::join(c.categories, ", ") + ")");
        a[i][off + (it - c.categories.begin())] = 1.0f;
      }
      off += static_cast<int64_t>(c.categories.size());
    } else {
      for (int64_t i = 0; i < n; ++i) a[i][off] = static_cast<float>((table.number(rows[i], ci) - c.mean) / c.std);
      off += 1;
    }
  }
  return x;
}

torch::Tensor TabularPreprocessor::raw_targets(const CsvTable& table, const std::vector<int64_t>& rows) const {
  const int64_t n = static_cast<int64_t>(rows.size()), k = static_cast<int64_t>(targets.size());
  auto y = torch::zeros({n, k}, torch::kDouble);
  auto a = y.accessor<double, 2>();
  for (int64_t j = 0; j < k; ++j) {
    const int64_t ci = table.column(targets[j]);
    for (int64_t i = 0; i < n; ++i) a[i][j] = table.number(rows[i], ci);
  }
  return y;
}

torch::Tensor TabularPreprocessor::encode_targets(const CsvTable& table, const std::vector<int64_t>& rows) const {
  const int64_t n = static_cast<int64_t>(rows.size());
  if (task == Task::Classification) {
    const int64_t ci = table.column(targets.at(0));
    auto y = torch::zeros({n}, torch::kLong);
    auto a = y.accessor<int64_t, 1>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = rows[i];
      if (table.missing(r, ci)) throw UserError(table.where(r, ci) + ": missing label (empty field)");
      const std::string v = trimmed(table, r, ci);
      const auto it = std::find(classes.begin(), classes.end(), v);
      if (it == classes.end())
        throw UserError(table.where(r, ci) + ": label '" + v + "' is not one of the classes (" + text::join(classes, ", ") + ")");
      a[i] = it - classes.begin();
    }
    return y;
  }
  const int64_t k = static_cast<int64_t>(targets.size());
  auto y = torch::zeros({n, k}, torch::kDouble);
  auto a = y.accessor<double, 2>();
  for (int64_t j = 0; j < k; ++j) {
    const int64_t ci = table.column(targets[j]);
    for (int64_t i = 0; i < n; ++i)
      a[i][j] = (target_value(table, rows[i], ci, target_transform) - target_mean[j]) / target_std[j];
  }
  return y.to(torch::kFloat);
}

torch::Tensor TabularPreprocessor::decode_targets(const torch::Tensor& out) const {
  TORCH_CHECK(task == Task::Regression, "decode_targets: only regression targets can be decoded");
  auto mean = torch::tensor(target_mean, torch::kDouble).to(out.device());
  auto sd = torch::tensor(target_std, torch::kDouble).to(out.device());
  auto y = out.to(torch::kDouble) * sd + mean;
  if (target_transform == "log1p") y = torch::expm1(y);
  return y;
}

nlohmann::json TabularPreprocessor::to_json() const {
  nlohmann::json j;
  j["kind"] = "tabular";
  j["task"] = task == Task::Regression ? "regression" : "classification";
  j["features"] = nlohmann::json::array();
  for (const auto& c : features) {
    nlohmann::json f = {{"name", c.name}, {"categorical", c.categorical}};
    if (c.categorical) f["categories"] = c.categories;
    else f["mean"] = c.mean, f["std"] = c.std;
    j["features"].push_back(f);
  }
  j["inputs"] = input_names();
  j["targets"] = targets;
  if (task == Task::Classification) j["classes"] = classes;
  else {
    j["target_transform"] = target_transform;
    j["target_mean"] = target_mean;
    j["target_std"] = target_std;
  }
  return j;
}

TabularPreprocessor TabularPreprocessor::from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("kind", "") != "tabular") throw UserError("preprocessing: not a tabular preprocessing record");
  TabularPreprocessor p;
  p.task = j.at("task") == "regression" ? Task::Regression : Task::Classification;
  for (const auto& f : j.at("features")) {
    TabularColumn c;
    c.name = f.at("name");
    c.categorical = f.at("categorical");
    if (c.categorical) c.categories = f.at("categories").get<std::vector<std::string>>();
    else c.mean = f.at("mean"), c.std = f.at("std");
    p.features.push_back(std::move(c));
  }
  p.targets = j.at("targets").get<std::vector<std::string>>();
  if (p.task == Task::Classification) p.classes = j.at("classes").get<std::vector<std::string>>();
  else {
    p.target_transform = j.at("target_transform");
    p.target_mean = j.at("target_mean").get<std::vector<double>>();
    p.target_std = j.at("target_std").get<std::vector<double>>();
  }
  return p;
}

namespace {

std::shared_ptr<Dataset> make(const config::Config& cfg, Split split) {
  const std::string path = cfg.get<std::string>("data.path");
  if (path.empty()) throw UserError("csv_table: data.path is required (a CSV file with a header row)");
  CsvTable table = read_csv(path, delimiter_from_name(cfg.get<std::string>("data.delimiter")));
  if (const int64_t limit = cfg.get<int64_t>("data.limit"); limit > 0 && table.size() > limit) {
    table.rows.resize(limit);
    table.lines.resize(limit);
  }
  const auto targets = cfg.get<std::vector<std::string>>("data.targets");
  auto features = cfg.get<std::vector<std::string>>("data.features");
  const auto exclude = cfg.get<std::vector<std::string>>("data.exclude");
  const auto categorical = cfg.get<std::vector<std::string>>("data.categorical");
  for (const auto& c : targets) table.column(c);
  for (const auto& c : exclude) table.column(c);
  if (features.empty()) {
    for (const auto& h : table.header) {
      if (h.empty() || std::find(targets.begin(), targets.end(), h) != targets.end() ||
          std::find(exclude.begin(), exclude.end(), h) != exclude.end())
        continue;
      features.push_back(h);
    }
  }
  for (const auto& f : features) {
    table.column(f);
    if (std::find(targets.begin(), targets.end(), f) != targets.end())
      throw UserError("csv_table: column '" + f + "' is both a feature and a target");
  }
  const Task task = cfg.get<std::string>("data.task") == "classification" ? Task::Classification : Task::Regression;

  // Rows with an empty field in a used column: an error, or dropped and reported.
  std::vector<int64_t> used;
  for (const auto& c : features) used.push_back(table.column(c));
  for (const auto& c : targets) used.push_back(table.column(c));
  std::vector<int64_t> valid;
  std::vector<std::string> dropped;
  const bool drop = cfg.get<std::string>("data.missing") == "drop";
  for (int64_t r = 0; r < table.size(); ++r) {
    int64_t bad = -1;
    for (auto c : used)
      if (table.missing(r, c)) {
        bad = c;
        break;
      }
    if (bad < 0) {
      valid.push_back(r);
      continue;
    }
    if (!drop) throw UserError(table.where(r, bad) + ": missing value (empty field); set data.missing=drop to drop such rows");
    dropped.push_back(std::to_string(table.lines[r]) + " ('" + table.header[bad] + "')");
  }
  if (!dropped.empty() && split == Split::Train) {
    std::cerr << "[smlab] csv_table: dropped " << dropped.size() << " of " << table.size() << " rows of " << table.path
              << " with missing values, at lines " << text::join(dropped, ", ") << "\n";
  }
  const int64_t n = static_cast<int64_t>(valid.size());
  if (n < 3) throw UserError(table.path + ": " + std::to_string(n) + " usable rows; csv_table needs at least 3");

  // Split: test rows (hold-out fraction or fold), then a seeded val share of the rest.
  const uint64_t seed = cfg.get<uint64_t>("data.seed");
  std::vector<int64_t> test_pos, rest_pos;
  if (cfg.get<std::string>("data.split") == "kfold") {
    const int64_t folds = cfg.get<int64_t>("data.folds"), fold = cfg.get<int64_t>("data.fold");
    if (fold >= folds) throw UserError("csv_table: data.fold " + std::to_string(fold) + " is out of range for data.folds " + std::to_string(folds));
    if (folds > n) throw UserError("csv_table: data.folds " + std::to_string(folds) + " exceeds the " + std::to_string(n) + " usable rows");
    test_pos = detail::kfold_part(n, folds, fold, seed, true);
    rest_pos = detail::kfold_part(n, folds, fold, seed, false);
  } else {
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
    const auto perm = torch::randperm(n, gen, torch::kInt64);
    const int64_t n_test = std::llround(static_cast<double>(n) * cfg.get<double>("data.test_fraction"));
    const int64_t* pp = perm.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) (i < n_test ? test_pos : rest_pos).push_back(pp[i]);
  }
  const int64_t n_val = std::llround(static_cast<double>(rest_pos.size()) * cfg.get<double>("data.val_fraction"));
  std::vector<int64_t> train_pos(rest_pos.begin() + n_val, rest_pos.end()), val_pos(rest_pos.begin(), rest_pos.begin() + n_val);
  if (val_pos.empty()) val_pos = test_pos;  // val_fraction 0: validate on the test rows
  auto to_rows = [&](std::vector<int64_t> pos) {
    std::sort(pos.begin(), pos.end());
    std::vector<int64_t> rows;
    for (auto p : pos) rows.push_back(valid[p]);
    return rows;
  };
  const auto train_rows = to_rows(train_pos);
  const auto prep = TabularPreprocessor::fit(table, train_rows, features, categorical, targets, task,
                                             cfg.get<std::string>("data.target_transform"), cfg.get<bool>("data.standardize"),
                                             cfg.get<bool>("data.standardize_targets"));
  const auto rows = split == Split::Train ? train_rows : to_rows(split == Split::Val ? val_pos : test_pos);
  if (rows.empty()) throw UserError(table.path + ": the " + split_name(split) + " split is empty");
  DatasetInfo info;
  info.task = task;
  info.input_shape = {prep.width()};
  if (task == Task::Classification) {
    info.num_classes = static_cast<int64_t>(prep.classes.size());
    info.class_names = prep.classes;
  } else {
    info.output_dim = static_cast<int64_t>(targets.size());
  }
  std::vector<int64_t> lines;
  for (auto r : rows) lines.push_back(table.lines[r]);
  auto x = prep.encode_features(table, rows);
  auto y = prep.encode_targets(table, rows);
  auto raw = task == Task::Regression ? prep.raw_targets(table, rows) : torch::Tensor();
  return std::make_shared<TabularDataset>(x, y, info, prep, raw, lines);
}

}  // namespace

void register_csv_table() {
  registry().add(
      "csv_table",
      {"numeric tabular data from a CSV file: [B,F] float features (numeric standardised on train rows, categorical one-hot), "
       "regression targets [B,T] or class ids [B]",
       config::Schema()
           .string("path", "", "CSV file with a header row")
           .choice("delimiter", "auto", {"auto", "comma", "semicolon", "tab"}, "column delimiter; auto sniffs the header line")
           .list("features", config::Type::StringList, "[]",
                 "input columns (default: every named column that is neither a target nor excluded)")
           .list("exclude", config::Type::StringList, "[]", "columns left out of the default feature list")
           .list("categorical", config::Type::StringList, "[]",
                 "feature columns one-hot encoded; categories are the sorted distinct values of the whole file")
           .list("targets", config::Type::StringList, "[]",
                 "target columns: one output each (regression), or exactly one label column (classification)")
           .choice("task", "regression", {"regression", "classification"}, "what the targets are")
           .choice("target_transform", "none", {"none", "log1p"}, "regression targets: log1p before standardising")
           .boolean("standardize", true, "standardise numeric features with the training rows' mean and std")
           .boolean("standardize_targets", true,
                    "standardise regression targets (after target_transform) with the training rows' mean and std")
           .choice("missing", "error", {"error", "drop"},
                   "an empty field in a used column: stop naming file:line and column, or drop the row (reported)")
           .choice("split", "holdout", {"holdout", "kfold"},
                   "holdout: test_fraction of the rows is the test split; kfold: fold `fold` of `folds` is")
           .number("test_fraction", 0.2, "holdout: share of the rows in the test split", 0.0, 0.9)
           .number("val_fraction", 0.1, "share of the non-test rows held out for validation (0: validate on the test rows)",
                   0.0, 0.9)
           .integer("folds", 5, "kfold: number of folds", 2)
           .integer("fold", 0, "kfold: the fold used as the test split (0-based)", 0)
           .integer("seed", 0, "seed of the row permutation behind every split", 0)
           .integer("limit", 0, "use only the first N data rows of the file (0 = all; CI smoke runs)", 0),
       make});
}

}  // namespace smlab::datasets
