#include "server/decision/translation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/decision/decider.h"
#include "server/decision/mcp_servers.h"
#include "server/model/reason.h"

namespace verdict::decision {
namespace {

using model::ReasonCode;
using ::testing::ElementsAre;

McpServer Crm() {
  McpServer server;
  server.name = "crm";
  server.resource = "https://mcp.example/crm";
  server.resource_metadata =
      "https://mcp.example/.well-known/oauth-protected-resource/crm";
  return server;
}

TEST(TranslateChallenge, EveryCodeHasAWireCategoryAndAStatus) {
  for (int i = 0; i < model::kReasonCodeCount; ++i) {
    const auto code = static_cast<ReasonCode>(i);
    EXPECT_NE(CategoryOnWire(code), v1::REASON_CATEGORY_UNSPECIFIED)
        << model::ReasonCodeName(code);
    v1::Challenge challenge;
    TranslateChallenge(code, true, "", nullptr, &challenge);
    EXPECT_THAT(challenge.http_status(),
                ::testing::AnyOf(401, 403, 400, 429, 503))
        << model::ReasonCodeName(code);
  }
}

TEST(TranslateChallenge, AuthenticationIsA401WithTheMetadataUrl) {
  const McpServer crm = Crm();
  v1::Challenge presented;
  TranslateChallenge(ReasonCode::kTokenExpired, true, "", &crm, &presented);
  EXPECT_EQ(presented.http_status(), 401);
  EXPECT_EQ(presented.www_authenticate(),
            "Bearer error=\"invalid_token\", resource_metadata=\"https://"
            "mcp.example/.well-known/oauth-protected-resource/crm\"");
  EXPECT_EQ(presented.resource_metadata(), crm.resource_metadata);

  v1::Challenge missing;
  TranslateChallenge(ReasonCode::kUnauthenticated, false, "", &crm, &missing);
  EXPECT_EQ(missing.www_authenticate(),
            "Bearer resource_metadata=\"https://mcp.example/.well-known/"
            "oauth-protected-resource/crm\"");

  v1::Challenge unbound;
  TranslateChallenge(ReasonCode::kUnauthenticated, false, "", nullptr,
                     &unbound);
  EXPECT_EQ(unbound.www_authenticate(), "Bearer");
  EXPECT_TRUE(unbound.resource_metadata().empty());
}

TEST(TranslateChallenge, InsufficientScopeNamesTheScopes) {
  const McpServer crm = Crm();
  v1::Challenge challenge;
  TranslateChallenge(ReasonCode::kInsufficientScope, true,
                     "crm:export crm:admin", &crm, &challenge);
  EXPECT_EQ(challenge.http_status(), 403);
  EXPECT_THAT(challenge.required_scopes(),
              ElementsAre("crm:export", "crm:admin"));
  EXPECT_EQ(challenge.www_authenticate(),
            "Bearer error=\"insufficient_scope\", scope=\"crm:export "
            "crm:admin\", resource_metadata=\"https://mcp.example/"
            ".well-known/oauth-protected-resource/crm\"");
}

TEST(TranslateChallenge, OtherRefusalsCarryOnlyAStatus) {
  const McpServer crm = Crm();
  const struct {
    ReasonCode code;
    int status;
  } cases[] = {{ReasonCode::kDeniedByRule, 403},
               {ReasonCode::kNoMatchingRule, 403},
               {ReasonCode::kInvalidRequest, 400},
               {ReasonCode::kPolicyUnavailable, 503},
               {ReasonCode::kCallerNotTrusted, 503}};
  for (const auto& c : cases) {
    v1::Challenge challenge;
    TranslateChallenge(c.code, true, "", &crm, &challenge);
    EXPECT_EQ(challenge.http_status(), c.status)
        << model::ReasonCodeName(c.code);
    EXPECT_TRUE(challenge.www_authenticate().empty());
    EXPECT_TRUE(challenge.resource_metadata().empty());
  }
}

TEST(TranslateAdmission, RefusalIsAnsweredOnceWithItsCategory) {
  const McpServer crm = Crm();
  Admission admission;
  admission.refused = true;
  admission.refusal = ReasonCode::kSignatureInvalid;
  admission.message = "bearer_token: the signature does not verify";
  admission.credential_presented = true;
  admission.mcp_server = &crm;
  admission.policy_revision = "abc";
  admission.listing_ttl = absl::Seconds(5);
  v1::CheckBatchResponse response;
  TranslateAdmission(admission, &response);
  EXPECT_EQ(response.refusal().code(), "signature_invalid");
  EXPECT_EQ(response.refusal().category(), v1::REASON_CATEGORY_AUTHENTICATION);
  EXPECT_EQ(response.refusal().message(), admission.message);
  EXPECT_EQ(response.challenge().http_status(), 401);
  EXPECT_EQ(response.policy_revision(), "abc");
  EXPECT_FALSE(response.has_identity());
  // A refused listing is not cached.
  EXPECT_FALSE(response.has_cache_hint());
}

TEST(TranslateAdmission, AcceptedListingNamesTheIdentityAndItsCacheHint) {
  IdentityView identity;
  identity.subject = "agent-1";
  identity.method = "jwt";
  Admission admission;
  admission.identity = &identity;
  admission.listing_ttl = absl::Milliseconds(1500);
  v1::CheckBatchResponse batch;
  TranslateAdmission(admission, &batch);
  EXPECT_FALSE(batch.has_refusal());
  EXPECT_EQ(batch.identity().subject(), "agent-1");
  EXPECT_EQ(batch.cache_hint().ttl_ms(), 1500);
  EXPECT_EQ(batch.cache_hint().cache_scope(), "private");

  v1::AuthenticateResponse session;
  TranslateAdmission(admission, &session);
  EXPECT_TRUE(session.authenticated());
  EXPECT_EQ(session.identity().method(), "jwt");
}

}  // namespace
}  // namespace verdict::decision
