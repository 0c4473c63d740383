#include <gtest/gtest.h>

#include "core/text.h"

using namespace smlab::text;

TEST(Text, EditDistanceKnownValues) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
}

TEST(Text, DidYouMeanPicksClosestAndRejectsFarOnes) {
  const std::vector<std::string> verbs = {"train", "eval", "sweep", "export", "score"};
  EXPECT_EQ(closest("trian", verbs), "train");
  EXPECT_EQ(closest("swep", verbs), "sweep");
  EXPECT_EQ(closest("completely-different", verbs), "");
  EXPECT_EQ(did_you_mean("exprot", verbs), "; did you mean 'export'?");
}

TEST(Text, SplitJoinTrim) {
  EXPECT_EQ(split("a.b.c", '.'), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split("", '.'), (std::vector<std::string>{""}));
  EXPECT_EQ(join({"x", "y"}, ", "), "x, y");
  EXPECT_EQ(trim("  hi \n"), "hi");
}

TEST(Text, FormatDuration) {
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(-1), "--");
}
