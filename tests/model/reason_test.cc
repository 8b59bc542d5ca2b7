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

// A PEP maps categories onto 401/403/400/503 (docs/mcp.md): a credential
// problem must never read as a policy answer, nor the reverse.
TEST(ReasonCategory,
     CredentialCodesAreAuthenticationAndPolicyCodesAuthorization) {
  for (ReasonCode code :
       {ReasonCode::kUnauthenticated, ReasonCode::kTokenExpired,
        ReasonCode::kTokenNotYetValid, ReasonCode::kAudienceMismatch,
        ReasonCode::kIssuerUnknown, ReasonCode::kSignatureInvalid,
        ReasonCode::kAlgorithmNotAllowed, ReasonCode::kGrantRevoked,
        ReasonCode::kGrantExpired}) {
    EXPECT_EQ(CategoryOf(code), ReasonCategory::kAuthentication)
        << ReasonCodeName(code);
  }
  for (ReasonCode code :
       {ReasonCode::kDeniedByRule, ReasonCode::kNoMatchingRule,
        ReasonCode::kEvaluationError, ReasonCode::kGrantScope,
        ReasonCode::kDelegationDenied, ReasonCode::kInsufficientScope,
        ReasonCode::kConditional}) {
    EXPECT_EQ(CategoryOf(code), ReasonCategory::kAuthorization)
        << ReasonCodeName(code);
  }
  EXPECT_EQ(CategoryOf(ReasonCode::kInvalidRequest),
            ReasonCategory::kInvalidRequest);
  EXPECT_EQ(CategoryOf(ReasonCode::kMcpHeaderMismatch),
            ReasonCategory::kInvalidRequest);
  for (ReasonCode code :
       {ReasonCode::kCallerNotTrusted, ReasonCode::kAuditUnavailable,
        ReasonCode::kPolicyUnavailable}) {
    EXPECT_EQ(CategoryOf(code), ReasonCategory::kUnavailable)
        << ReasonCodeName(code);
  }
  EXPECT_EQ(ReasonCategoryName(ReasonCategory::kInvalidRequest),
            "invalid_request");
}

}  // namespace
}  // namespace verdict::model
