#include "server/model/reason.h"

#include <set>
#include <string_view>

#include "gtest/gtest.h"

namespace verdict::model {
namespace {

// Wire names are public: one per code, distinct, snake_case.
TEST(ReasonCode, EveryCodeHasItsOwnWireName) {
  std::set<std::string_view> names;
  for (int i = 0; i < kReasonCodeCount; ++i) {
    const std::string_view name = ReasonCodeName(static_cast<ReasonCode>(i));
    EXPECT_FALSE(name.empty()) << i;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"),
              std::string_view::npos)
        << name;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(ReasonCodeName(ReasonCode::kNoMatchingRule), "no_matching_rule");
  EXPECT_EQ(ReasonCodeName(ReasonCode::kAuditUnavailable), "audit_unavailable");
}

}  // namespace
}  // namespace verdict::model
