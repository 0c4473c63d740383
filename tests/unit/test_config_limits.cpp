// Hostile configs fail fast with one line naming the file and key (issue 22, item 13 and the NaN case):
// nested YAML aliases ("billion laughs") and deep nesting hit a limit instead of taking exponential
// time, and non-finite numbers are refused by the range check instead of crashing a later conversion.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/config.h"
#include "test_util.h"
#include "tools/register_all.h"

using smlab::config::ConfigError;
using smlab::config::load_string;

namespace {

/// 12 levels of aliases, each referring to the one below 10 times: 10^12 nodes once expanded.
std::string alias_bomb() {
  std::string y = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 12; ++i) {
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) y += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
    y += "]\n";
  }
  return "bogus_first_key: 1\n" + y;
}

}  // namespace

TEST(ConfigLimits, NestedAliasesAreRefusedNotExpanded) {
  smlab::register_all();
  smlab::testing::expect_user_error([] { load_string(alias_bomb(), "bomb.yaml"); }, {"bomb.yaml", "more than 100000 nodes", "aliases"});
  const auto dir = smlab::testing::temp_dir();
  smlab::write_file_atomic(dir / "bomb.yaml", alias_bomb());
  smlab::testing::expect_user_error([&] { smlab::config::load(dir / "bomb.yaml"); }, {(dir / "bomb.yaml").string(), "aliases"});
  // On the command line too.
  smlab::testing::expect_user_error([] { load_string("", "ok.yaml", {"train.epochs=" + std::string("[&a [1,1,1,1,1,1,1,1], ") +
                                                       "&b [*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b], "
                                                       "&d [*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d], "
                                                       "&f [*e,*e,*e,*e,*e,*e,*e,*e], [*f,*f,*f,*f,*f,*f,*f,*f]]"}); },
                      {"command line", "train.epochs", "aliases"});
  // A config that uses an alias the ordinary way still loads.
  EXPECT_EQ(load_string("train: {epochs: &e 3, eval_every: *e}\n", "fine.yaml").get<int>("train.eval_every"), 3)
      << "an ordinary alias must keep working";
}

TEST(ConfigLimits, DeepNestingIsRefused) {
  smlab::register_all();
  std::string deep = "model: ";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  smlab::testing::expect_user_error([&] { load_string(deep + "\n", "deep.yaml"); }, {"deep.yaml", "nesting deeper than 64"});
}

TEST(ConfigLimits, NonFiniteNumbersFailTheRangeCheck) {
  smlab::register_all();
  for (const std::string v : {"nan", ".nan", "inf", "-.inf", "NaN"}) {
    smlab::testing::expect_user_error([&] { load_string("", "ok.yaml", {"optim.lr=" + v}); },
                        {"command line", "optim.lr", "finite number", v});
    smlab::testing::expect_user_error([&] { load_string("optim:\n  lr: " + v + "\n", "bad.yaml"); }, {"bad.yaml:2", "optim.lr", "finite"});
  }
}

// Issue 22: `train..epochs=3` on the command line blamed the YAML file.
TEST(ConfigLimits, MalformedOverrideKeysBlameTheCommandLine) {
  smlab::register_all();
  for (const std::string bad : {"train..epochs=3", ".train=1", "train.=3"})
    smlab::testing::expect_user_error([&] { load_string("train: {epochs: 2}\n", "ok.yaml", {bad}); },
                        {"command line: override '" + bad + "'", "empty part", "train.epochs=3"});
}
