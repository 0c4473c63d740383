// The CSV reader and the csv_table dataset on small files written by the tests: parsing rules,
// errors that name file, line and column, standardisation fitted on the training rows only
// (checked against means/stds computed here by hand), one-hot columns, k-fold partitions and the
// preprocessing record.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "datasets/csv.h"
#include "datasets/split.h"
#include "datasets/tabular.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace smlab::datasets;

namespace {

void write(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

using smlab::testing::expect_user_error;

smlab::config::Config table_cfg(const fs::path& csv, const std::string& extra) {
  return smlab::config::load_string("data:\n  name: csv_table\n  path: " + csv.string() + "\n" + extra, "mem.yaml");
}

// 10 rows: x = 1..10, kind alternates a/b/c, y = 2x + (kind == b); the row with x = i is on line i + 1.
std::string ten_rows() {
  std::string s = "x;kind;y\r\n";
  const char* kinds[] = {"a", "b", "c"};
  for (int i = 1; i <= 10; ++i) {
    const std::string k = kinds[(i - 1) % 3];
    s += std::to_string(i) + ";" + k + ";" + std::to_string(2 * i + (k == "b" ? 1 : 0)) + "\r\n";
  }
  return s;
}

}  // namespace

TEST(Csv, ReadsBomCrlfQuotesAndSniffsTheDelimiter) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "a.csv", "\xEF\xBB\xBFid,text,v\r\n1,\"a, \"\"quoted\"\" b\",2.5\r\n\r\n2,plain,-3e1\r\n");
  const auto t = read_csv(dir / "a.csv");
  EXPECT_EQ(t.delimiter, ',');
  EXPECT_EQ(t.header, (std::vector<std::string>{"id", "text", "v"}));
  ASSERT_EQ(t.size(), 2);
  EXPECT_EQ(t.rows[0][1], "a, \"quoted\" b");
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 4}));  // the blank line 3 is skipped, numbering kept
  EXPECT_DOUBLE_EQ(t.number(1, 2), -30.0);
  write(dir / "b.csv", "a;b;c\n1;2;3\n");
  EXPECT_EQ(read_csv(dir / "b.csv").delimiter, ';');
  write(dir / "c.tsv", "a\tb\n1\t2\n");
  EXPECT_EQ(read_csv(dir / "c.tsv").delimiter, '\t');
}

TEST(Csv, ErrorsNameFileLineAndColumn) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "bad.csv", "a,b\n1,2\n3,n/a\n4,\n");
  const auto t = read_csv(dir / "bad.csv");
  expect_user_error([&] { t.number(1, 1); }, {"bad.csv:3", "column 'b'", "'n/a'", "number"});
  expect_user_error([&] { t.number(2, 1); }, {"bad.csv:4", "column 'b'", "missing value"});
  expect_user_error([&] { t.column("c"); }, {"bad.csv", "no column 'c'", "'a', 'b'"});
  write(dir / "short.csv", "a,b,c\n1,2,3\n4,5\n");
  expect_user_error([&] { read_csv(dir / "short.csv"); }, {"short.csv:3", "2 fields", "header has 3"});
  // Trailing empty fields beyond the header are tolerated (Live.csv ends rows with ",,,,"), others are not.
  write(dir / "trail.csv", "a,b\n1,2,,\n");
  EXPECT_EQ(read_csv(dir / "trail.csv").rows[0].size(), 2u);
  write(dir / "extra.csv", "a,b\n1,2,3\n");
  expect_user_error([&] { read_csv(dir / "extra.csv"); }, {"extra.csv:2", "3 fields"});
  expect_user_error([&] { read_csv(dir / "nope.csv"); }, {"nope.csv", "not found"});
  double v = 0;
  EXPECT_FALSE(parse_number("inf", &v));
  EXPECT_FALSE(parse_number("1.5x", &v));
  EXPECT_TRUE(parse_number(" +7 ", &v));
  EXPECT_EQ(v, 7.0);
}

TEST(CsvTable, StandardisationComesFromTrainingRowsOnly) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "t.csv", ten_rows());
  const auto cfg = table_cfg(dir / "t.csv",
                             "  targets: [y]\n  categorical: [kind]\n  test_fraction: 0.2\n  val_fraction: 0.25\n  seed: 3\n");
  auto train = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Train));
  auto val = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Val));
  auto test = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Test));
  ASSERT_TRUE(train && val && test);
  EXPECT_EQ(test->size(), 2);   // round(10 * 0.2)
  EXPECT_EQ(val->size(), 2);    // round(8 * 0.25)
  EXPECT_EQ(train->size(), 6);
  std::set<int64_t> lines;
  for (const auto* d : {train.get(), val.get(), test.get()})
    for (auto l : d->lines()) EXPECT_TRUE(lines.insert(l).second) << "line " << l << " in two splits";
  EXPECT_EQ(lines.size(), 10u);
  // x of the training rows is line - 1; mean and population std by hand
  double m = 0, ss = 0;
  for (auto l : train->lines()) m += static_cast<double>(l - 1);
  m /= 6;
  for (auto l : train->lines()) ss += std::pow(static_cast<double>(l - 1) - m, 2);
  const double sd = std::sqrt(ss / 6);
  const auto& prep = train->preprocessor();
  EXPECT_NEAR(prep.features[0].mean, m, 1e-12);
  EXPECT_NEAR(prep.features[0].std, sd, 1e-12);
  // every split uses the same fitted values
  EXPECT_EQ(test->preprocessor().to_json(), prep.to_json());
  EXPECT_EQ(prep.input_names(), (std::vector<std::string>{"x", "kind=a", "kind=b", "kind=c"}));
  ASSERT_EQ(test->info().input_shape, (std::vector<int64_t>{4}));
  for (int64_t i = 0; i < test->size(); ++i) {
    const int64_t x = test->lines()[i] - 1;
    EXPECT_NEAR(test->inputs()[i][0].item<double>(), (x - m) / sd, 1e-6);
    const int64_t kind = (x - 1) % 3;
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(test->inputs()[i][1 + c].item<float>(), c == kind ? 1.0f : 0.0f);
    // targets: standardised with the training rows, decoded back to the file's units
    EXPECT_NEAR(prep.decode_targets(test->targets().slice(0, i, i + 1)).item<double>(), test->raw_targets()[i][0].item<double>(),
                1e-5);
  }
  // the preprocessing record round-trips
  EXPECT_EQ(TabularPreprocessor::from_json(prep.to_json()).to_json(), prep.to_json());
  EXPECT_EQ(train->preprocessing()["inputs"].size(), 4u);
}

TEST(CsvTable, Log1pTargetsDecodeToTheFileUnits) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "t.csv", "x,y\n1,0\n2,10\n3,100\n4,1000\n5,3\n6,7\n");
  const auto cfg = table_cfg(dir / "t.csv", "  targets: [y]\n  target_transform: log1p\n  test_fraction: 0.5\n  val_fraction: 0\n");
  auto train = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Train));
  double m = 0;
  for (int64_t i = 0; i < train->size(); ++i) m += std::log1p(train->raw_targets()[i][0].item<double>());
  m /= static_cast<double>(train->size());
  EXPECT_NEAR(train->preprocessor().target_mean[0], m, 1e-12);
  const auto back = train->preprocessor().decode_targets(train->targets());
  EXPECT_TRUE(torch::allclose(back, train->raw_targets(), 1e-4, 1e-3));
  // val_fraction 0: the validation split is the test split
  auto val = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Val));
  auto test = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Test));
  EXPECT_EQ(val->lines(), test->lines());
  write(dir / "neg.csv", "x,y\n1,2\n2,-1\n3,4\n4,5\n");
  expect_user_error([&] { build(table_cfg(dir / "neg.csv", "  targets: [y]\n  target_transform: log1p\n"), Split::Train); },
                    {"neg.csv:3", "column 'y'", "log1p"});
}

TEST(CsvTable, KFoldPartitionsEveryRowOnceAcrossFolds) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "t.csv", ten_rows());
  std::map<int64_t, int> seen;
  for (int f = 0; f < 3; ++f) {
    const auto cfg = table_cfg(dir / "t.csv", "  targets: [y]\n  categorical: [kind]\n  split: kfold\n  folds: 3\n  fold: " +
                                                  std::to_string(f) + "\n  val_fraction: 0.2\n");
    auto test = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Test));
    auto train = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Train));
    auto val = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Val));
    EXPECT_EQ(test->size(), f == 0 ? 4 : 3);  // 10 = 4 + 3 + 3 (array_split)
    EXPECT_EQ(train->size() + val->size() + test->size(), 10);
    for (auto l : test->lines()) ++seen[l];
  }
  EXPECT_EQ(seen.size(), 10u);
  for (auto& [l, c] : seen) EXPECT_EQ(c, 1) << "line " << l;
  // the helper itself: fold + rest = everything, sizes as numpy.array_split
  const auto a = smlab::datasets::detail::kfold_part(11, 4, 3, 9, true), b = smlab::datasets::detail::kfold_part(11, 4, 3, 9, false);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a.size() + b.size(), 11u);
  expect_user_error([&] { build(table_cfg(dir / "t.csv", "  targets: [y]\n  exclude: [kind]\n  split: kfold\n  folds: 3\n  fold: 3\n"), Split::Test); },
                    {"data.fold 3", "data.folds 3"});
  // a text column used as a numeric feature is named
  expect_user_error([&] { build(table_cfg(dir / "t.csv", "  targets: [y]\n"), Split::Train); },
                    {"t.csv:2", "column 'kind'", "cannot read 'a'"});
}

TEST(CsvTable, MissingValuesFailOrAreDroppedAndCounted) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "m.csv", "a,b,y\n1,2,3\n4,,6\n7,8,9\n1,1,1\n2,2,2\n3,3,3\n");
  expect_user_error([&] { build(table_cfg(dir / "m.csv", "  targets: [y]\n"), Split::Train); },
                    {"m.csv:3", "column 'b'", "missing value", "data.missing=drop"});
  const auto cfg = table_cfg(dir / "m.csv", "  targets: [y]\n  missing: drop\n  test_fraction: 0.2\n  val_fraction: 0\n");
  int64_t total = 0;
  std::set<int64_t> lines;
  for (auto s : {Split::Train, Split::Test}) {
    auto d = std::dynamic_pointer_cast<TabularDataset>(build(cfg, s));
    total += d->size();
    lines.insert(d->lines().begin(), d->lines().end());
  }
  EXPECT_EQ(total, 5);
  EXPECT_FALSE(lines.count(3));
  // a column nobody uses may be empty
  EXPECT_NO_THROW(build(table_cfg(dir / "m.csv", "  targets: [y]\n  features: [a]\n"), Split::Train));
  // unknown columns are named with a suggestion
  expect_user_error([&] { build(table_cfg(dir / "m.csv", "  targets: [yy]\n"), Split::Train); }, {"no column 'yy'", "did you mean 'y'"});
}

TEST(CsvTable, ClassificationLabelsAreSortedDistinctValues) {
  const auto dir = smlab::testing::temp_dir();
  write(dir / "c.csv", "f,label\n1,dog\n2,cat\n3,dog\n4,emu\n5,cat\n6,cat\n7,emu\n8,dog\n9,cat\n10,dog\n");
  const auto cfg = table_cfg(dir / "c.csv", "  targets: [label]\n  task: classification\n");
  auto train = std::dynamic_pointer_cast<TabularDataset>(build(cfg, Split::Train));
  EXPECT_EQ(train->info().task, Task::Classification);
  EXPECT_EQ(train->info().class_names, (std::vector<std::string>{"cat", "dog", "emu"}));
  for (int64_t i = 0; i < train->size(); ++i) {
    const int64_t f = train->lines()[i] - 1;
    const std::string want = std::vector<std::string>{"dog", "cat", "dog", "emu", "cat", "cat", "emu", "dog", "cat", "dog"}[f - 1];
    EXPECT_EQ(train->info().class_names[train->targets()[i].item<int64_t>()], want);
  }
}
