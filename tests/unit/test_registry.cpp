#include <gtest/gtest.h>

#include "core/registry.h"

TEST(Registry, UnknownNameListsKnownNamesAndSuggests) {
  smlab::Registry<int> r("model");
  r.add("resnet20", 1);
  r.add("resnet56", 2);
  EXPECT_EQ(r.get("resnet56"), 2);
  try {
    r.get("resnet2");
    FAIL() << "expected UserError";
  } catch (const smlab::UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown model 'resnet2'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean 'resnet20'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("known models: resnet20, resnet56"), std::string::npos) << msg;
  }
}

TEST(Registry, DuplicateRegistrationIsAnError) {
  smlab::Registry<int> r("optimizer");
  r.add("sgd", 1);
  EXPECT_THROW(r.add("sgd", 2), std::logic_error);
  EXPECT_EQ(r.get("sgd"), 1);
}
