// Decider authentication paths without gRPC, with a scripted Authenticator:
// trust before credentials, credentials before rules, one verification per
// batch and per Grants.Issue, the credential over an asserted subject,
// assert_identity, actor limits and roles, evaluate_at leaving the
// verification time alone, cache_ttl capped at the credential's expiry,
// failures counted in verdict_authn_failures_total, and a delegation deny
// counted as what was sent.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/authn/authenticator.h"
#include "server/decision/decider.h"
#include "server/decision/decision_recorder.h"
#include "server/decision/policy_store.h"
#include "server/decision/proto_time.h"
#include "server/metrics/metrics.h"
#include "tests/decision/decide_for_test.h"

namespace verdict::decision {
namespace {

using ::testing::HasSubstr;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";

// "reader:<id>" verifies as a crm-reader expiring in 10 minutes,
// "nobody:<id>" as a subject without roles; anything else is expired.
class ScriptedAuthenticator final : public authn::Authenticator {
 public:
  explicit ScriptedAuthenticator(std::string method)
      : method_(std::move(method)) {}

  authn::AuthOutcome Authenticate(std::string_view credential,
                                  absl::Time now) const override {
    calls_.fetch_add(1);
    last_now_nanos_.store(absl::ToUnixNanos(now));
    const bool reader = credential.starts_with("reader:");
    if (!reader && !credential.starts_with("nobody:")) {
      return authn::AuthOutcome::Failure(model::ReasonCode::kTokenExpired,
                                         "exp is in the past");
    }
    auto identity = std::make_shared<authn::Identity>();
    identity->subject =
        std::string(credential.substr(credential.find(':') + 1));
    if (reader) identity->roles.Add("crm-reader");
    identity->method = method_;
    identity->issuer = "https://idp.test";
    identity->audiences = {"https://mcp.test/crm"};
    identity->expires_at = now + absl::Minutes(10);
    return authn::AuthOutcome::Success(std::move(identity));
  }

  int calls() const { return calls_.load(); }
  absl::Time last_now() const {
    return absl::FromUnixNanos(last_now_nanos_.load());
  }

 private:
  const std::string method_;
  mutable std::atomic<int> calls_{0};
  mutable std::atomic<int64_t> last_now_nanos_{0};
};

const CallerInfo kMayAssert{.trusted = true, .may_assert_identity = true};
const CallerInfo kMayNotAssert{.trusted = true};

v1::CheckRequest GetContact() {
  v1::CheckRequest request;
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("get_contact");
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("dev");
  return request;
}

double AuthnFailures(const metrics::Metrics& metrics, std::string_view method,
                     std::string_view reason) {
  for (const prometheus::MetricFamily& family : metrics.registry()->Collect()) {
    if (family.name != "verdict_authn_failures_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      int matched = 0;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if ((label.name == "method" && label.value == method) ||
            (label.name == "reason" && label.value == reason)) {
          ++matched;
        }
      }
      if (matched == 2) return metric.counter.value;
    }
  }
  return -1;
}

class DeciderAuthnTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Reload().ok); }

  Decider MakeDecider(absl::Duration cache_ttl = absl::Hours(1)) {
    DeciderOptions options;
    options.cache_ttl = cache_ttl;
    options.jwt = &jwt_;
    options.x509 = &x509_;
    options.metrics = &metrics_;
    return Decider(&store_, options);
  }

  metrics::Metrics metrics_;
  PolicyStore store_{kFixtureDir, &metrics_};
  ScriptedAuthenticator jwt_{"jwt"};
  ScriptedAuthenticator x509_{"x509"};
};

TEST_F(DeciderAuthnTest, CredentialWinsOverAnAssertedSubject) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_subject()->set_id("someone-else");
  request.mutable_credentials()->set_bearer_token("reader:agent-1");
  v1::CheckResponse response = testing::Check(decider, request, kMayNotAssert);
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
  EXPECT_EQ(response.identity().subject(), "agent-1");
  EXPECT_EQ(response.identity().method(), "jwt");
  EXPECT_EQ(response.identity().issuer(), "https://idp.test");
  EXPECT_TRUE(response.identity().has_expires_at());
  // Capped from decisions.cache_ttl (1h) to the 10 minutes left.
  EXPECT_LE(response.cache_ttl().seconds(), 600);
  EXPECT_GT(response.cache_ttl().seconds(), 590);
}

TEST_F(DeciderAuthnTest, X509SvidGoesToTheX509Authenticator) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_x509_svid("reader:spiffe://t/agent");
  v1::CheckResponse response = testing::Check(decider, request, kMayNotAssert);
  EXPECT_EQ(response.decision(), v1::ALLOW);
  EXPECT_EQ(response.identity().method(), "x509");
  EXPECT_EQ(x509_.calls(), 1);
  EXPECT_EQ(jwt_.calls(), 0);
}

TEST_F(DeciderAuthnTest, FailureDeniesWithItsCodeAndIsCounted) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token("stale");
  v1::CheckResponse response = testing::Check(decider, request, kMayAssert);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "token_expired");
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("bearer_token"));
  EXPECT_FALSE(response.has_identity());
  EXPECT_EQ(AuthnFailures(metrics_, "jwt", "token_expired"), 1);

  request.mutable_credentials()->set_grant_token("g");
  response = testing::Check(decider, request, kMayAssert);
  EXPECT_EQ(response.reasons(0).code(), "unauthenticated");
  EXPECT_EQ(AuthnFailures(metrics_, "grant", "unauthenticated"), 1);
}

TEST_F(DeciderAuthnTest, MissingAuthenticatorDenies) {
  const Decider decider(&store_, DeciderOptions());
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_x509_svid("reader:spiffe://t/agent");
  v1::CheckResponse response = testing::Check(decider, request, kMayAssert);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(response.reasons(0).code(), "unauthenticated");
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("no issuer configured"));
}

TEST_F(DeciderAuthnTest, BatchVerifiesItsCredentialsOnce) {
  const Decider decider = MakeDecider();
  v1::CheckBatchRequest batch;
  batch.mutable_credentials()->set_bearer_token("reader:agent-1");
  batch.mutable_credentials()->add_actor_tokens("reader:agent-2");
  (*batch.mutable_context()->mutable_fields())["environment"].set_string_value(
      "dev");
  for (int i = 0; i < 5; ++i) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name("get_contact");
    item->set_action("tools/call");
  }
  std::vector<v1::CheckResponse> results;
  v1::Identity identity;
  ASSERT_TRUE(
      testing::CheckBatch(decider, batch, kMayNotAssert, &results, &identity)
          .ok());
  ASSERT_EQ(results.size(), 5u);
  for (const v1::CheckResponse& result : results) {
    EXPECT_EQ(result.decision(), v1::ALLOW) << result.DebugString();
    EXPECT_FALSE(result.has_identity()) << "the batch names it once";
  }
  EXPECT_EQ(jwt_.calls(), 2);  // the subject and the actor, once each
  EXPECT_EQ(identity.subject(), "agent-1");
  ASSERT_EQ(identity.delegation_chain_size(), 1);
  EXPECT_EQ(identity.delegation_chain(0), "agent-2");
}

// Grants.Issue's path: one authentication, then every item decided for it
// on one snapshot as one batch.
TEST_F(DeciderAuthnTest, IdentifiedRequesterIsDecidedWithoutAnotherVerify) {
  const Decider decider = MakeDecider();
  v1::Credentials credentials;
  credentials.set_bearer_token("reader:agent-1");
  const Authenticated requester =
      decider.Identify(&credentials, v1::Subject(), kMayNotAssert, absl::Now());
  ASSERT_TRUE(requester.ok) << requester.message;
  ASSERT_NE(requester.requester, nullptr);
  EXPECT_EQ(requester.requester->subject, "agent-1");

  google::protobuf::RepeatedPtrField<v1::CheckBatchItem> items;
  for (const char* tool :
       {"get_contact", "search_contacts", "delete_contact"}) {
    v1::CheckBatchItem* item = items.Add();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name(tool);
    item->set_action("tools/call");
  }
  google::protobuf::Struct context;
  (*context.mutable_fields())["environment"].set_string_value("dev");
  std::vector<std::string> revisions;
  std::vector<bool> allowed;
  decider.DecideBatch(
      requester,
      BatchInput{
          .context = &context, .items = &items, .source = "Grants.Issue"},
      kMayNotAssert, absl::Now(), [&](const Outcome& outcome) {
        revisions.emplace_back(outcome.policy_revision());
        allowed.push_back(outcome.allowed());
      });
  EXPECT_EQ(jwt_.calls(), 1);
  EXPECT_THAT(allowed, ::testing::ElementsAre(true, true, false));
  ASSERT_EQ(revisions.size(), 3u);
  EXPECT_EQ(revisions[0], store_.Status().revision);
  EXPECT_EQ(revisions[1], revisions[0]);
  EXPECT_EQ(revisions[2], revisions[0]);

  EXPECT_EQ(
      decider.Identify(nullptr, v1::Subject(), kMayAssert, absl::Now()).code,
      model::ReasonCode::kUnauthenticated);
  credentials.add_actor_tokens("reader:agent-2");
  EXPECT_EQ(
      decider.Identify(&credentials, v1::Subject(), kMayAssert, absl::Now())
          .code,
      model::ReasonCode::kInvalidRequest);
}

// Trust comes before credentials: an untrusted caller costs no signature
// check and is no authentication failure.
TEST_F(DeciderAuthnTest, UntrustedCallerIsRefusedBeforeItsCredentials) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token("stale");
  const v1::CheckResponse response =
      testing::Check(decider, request, CallerInfo{.trusted = false});
  EXPECT_EQ(response.reasons(0).code(), "caller_not_trusted");
  EXPECT_EQ(jwt_.calls(), 0);
  EXPECT_EQ(AuthnFailures(metrics_, "jwt", "token_expired"), 0);

  SetTimestamp(absl::Now(), request.mutable_evaluate_at());
  const v1::CheckResponse timed =
      testing::Check(decider, request, kMayNotAssert);
  EXPECT_EQ(timed.reasons(0).code(), "caller_not_trusted");
  EXPECT_EQ(jwt_.calls(), 0);
}

// evaluate_at moves only the policies' `now`: credentials are verified at
// the clock's time.
TEST_F(DeciderAuthnTest, EvaluateAtNeverMovesTheTimeCredentialsAreVerifiedAt) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token("reader:agent-1");
  const absl::Time received = absl::Now();
  SetTimestamp(received + absl::Hours(24 * 365), request.mutable_evaluate_at());
  v1::CheckResponse response;
  decider.Check(request, kMayAssert, received, [&](const Outcome& outcome) {
    TranslateOutcome(outcome, /*with_identity=*/true, &response);
  });
  EXPECT_EQ(response.decision(), v1::ALLOW) << response.DebugString();
  EXPECT_EQ(jwt_.last_now(), received);
  // The identity expires 10 minutes after the verification, not the
  // evaluation time.
  EXPECT_EQ(response.identity().expires_at().seconds(),
            absl::ToUnixSeconds(received + absl::Minutes(10)));
}

// What the metrics count is what the response says: a delegation deny is
// labelled delegation_denied, never with the actor's own reason, and
// credits no rule.
TEST_F(DeciderAuthnTest, DelegationDenyIsCountedAsSent) {
  DecisionRecorder recorder(&metrics_, nullptr);
  DeciderOptions options;
  options.jwt = &jwt_;
  options.observer = &recorder;
  const Decider decider(&store_, options);
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token("reader:agent-1");
  request.mutable_credentials()->add_actor_tokens("nobody:orchestrator");
  const v1::CheckResponse response =
      testing::Check(decider, request, kMayNotAssert);
  ASSERT_EQ(response.reasons(0).code(), "delegation_denied");
  const prometheus::Registry& registry = *metrics_.registry();
  EXPECT_EQ(testing::CounterValue(
                registry, "verdict_decisions_total",
                {{"decision", "deny"}, {"reason", "delegation_denied"}}),
            1);
  EXPECT_EQ(testing::CounterValue(
                registry, "verdict_decisions_total",
                {{"decision", "deny"}, {"reason", "no_matching_rule"}}),
            0);
  EXPECT_EQ(testing::CounterValue(
                registry, "verdict_decisions_total",
                {{"decision", "allow"}, {"reason", "allowed_by_rule"}}),
            0);
  EXPECT_EQ(testing::CounterValue(
                registry, "verdict_rule_matches_total",
                {{"policy", "crm-agents"}, {"rule", "read-contacts"}}),
            0);
}

TEST_F(DeciderAuthnTest, AssertedSubjectNeedsAssertIdentity) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_subject()->set_id("agent");
  request.mutable_subject()->add_roles("crm-reader");
  v1::CheckResponse refused = testing::Check(decider, request, kMayNotAssert);
  EXPECT_EQ(refused.decision(), v1::DENY);
  EXPECT_EQ(refused.reasons(0).code(), "caller_not_trusted");

  v1::CheckResponse nobody =
      testing::Check(decider, GetContact(), kMayNotAssert);
  EXPECT_EQ(nobody.reasons(0).code(), "unauthenticated");

  v1::CheckResponse allowed = testing::Check(decider, request, kMayAssert);
  EXPECT_EQ(allowed.decision(), v1::ALLOW);
  EXPECT_EQ(allowed.identity().method(), "asserted");
}

TEST_F(DeciderAuthnTest, ActorWithoutPermissionDeniesTheDelegation) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token("reader:agent-1");
  request.mutable_credentials()->add_actor_tokens("reader:agent-2");
  request.mutable_credentials()->add_actor_tokens("nobody:orchestrator");
  v1::CheckResponse response = testing::Check(decider, request, kMayNotAssert);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "delegation_denied");
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("orchestrator"));
  EXPECT_TRUE(response.obligations().fields().empty());
  EXPECT_EQ(response.cache_ttl().seconds(), 0);

  // An actor token that does not verify fails authentication first.
  request.mutable_credentials()->set_actor_tokens(1, "stale");
  response = testing::Check(decider, request, kMayNotAssert);
  EXPECT_EQ(response.reasons(0).code(), "token_expired");
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("actor_tokens[1]"));
}

TEST_F(DeciderAuthnTest, TooManyActorsIsAnInvalidRequest) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token("reader:agent-1");
  for (int i = 0; i < 9; ++i) {
    request.mutable_credentials()->add_actor_tokens("reader:actor");
  }
  v1::CheckResponse response = testing::Check(decider, request, kMayNotAssert);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(response.reasons(0).code(), "invalid_request");
  EXPECT_EQ(jwt_.calls(), 1);  // the actors were never verified
}

// Audiences are bound per MCP server (mcp_servers.h): a token for crm is
// refused at warehouse, checked and counted once for the whole batch, and
// the batch is refused once with warehouse's challenge.
TEST_F(DeciderAuthnTest, AudienceIsBoundToTheServerTheBatchNames) {
  absl::StatusOr<McpServers> servers = McpServers::Build(
      {{.name = "crm", .resource = "https://mcp.test/crm"},
       {.name = "warehouse", .resource = "https://mcp.test/warehouse"}});
  ASSERT_TRUE(servers.ok()) << servers.status();
  DeciderOptions options;
  options.jwt = &jwt_;
  options.metrics = &metrics_;
  options.mcp_servers = &*servers;
  const Decider decider(&store_, options);

  v1::CheckBatchRequest batch;
  batch.mutable_credentials()->set_bearer_token("reader:agent-1");
  (*batch.mutable_context()->mutable_fields())["environment"].set_string_value(
      "dev");
  for (int i = 0; i < 3; ++i) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_server("warehouse");
    item->mutable_tool()->set_name("get_contact");
    item->set_action("tools/call");
  }
  std::vector<v1::CheckResponse> results;
  v1::CheckBatchResponse whole;
  ASSERT_TRUE(testing::CheckBatch(decider, batch, kMayNotAssert, &results,
                                  nullptr, &whole)
                  .ok());
  ASSERT_EQ(results.size(), 3u);
  for (const v1::CheckResponse& result : results) {
    EXPECT_EQ(result.reasons(0).code(), "audience_mismatch");
    EXPECT_THAT(result.reasons(0).message(),
                HasSubstr("https://mcp.test/warehouse"));
  }
  EXPECT_EQ(AuthnFailures(metrics_, "jwt", "audience_mismatch"), 1);
  EXPECT_EQ(whole.refusal().code(), "audience_mismatch");
  EXPECT_EQ(whole.challenge().http_status(), 401);
  EXPECT_EQ(whole.challenge().resource_metadata(),
            "https://mcp.test/.well-known/oauth-protected-resource/warehouse");
  EXPECT_FALSE(whole.has_identity());

  for (v1::CheckBatchItem& item : *batch.mutable_items()) {
    item.mutable_tool()->set_server("crm");
  }
  results.clear();
  ASSERT_TRUE(testing::CheckBatch(decider, batch, kMayNotAssert, &results,
                                  nullptr, &whole)
                  .ok());
  for (const v1::CheckResponse& result : results) {
    EXPECT_EQ(result.decision(), v1::ALLOW) << result.DebugString();
  }
  EXPECT_EQ(whole.identity().subject(), "agent-1");
}

// A caller may speak only for the MCP servers that name it.
TEST_F(DeciderAuthnTest, CallerIsTiedToTheServersItSpeaksFor) {
  absl::StatusOr<McpServers> servers =
      McpServers::Build({{.name = "crm",
                          .resource = "https://mcp.test/crm",
                          .callers = {"spiffe://corp.example/mcp/crm"}}});
  ASSERT_TRUE(servers.ok()) << servers.status();
  DeciderOptions options;
  options.jwt = &jwt_;
  options.mcp_servers = &*servers;
  const Decider decider(&store_, options);
  v1::CheckRequest request = GetContact();
  request.mutable_credentials()->set_bearer_token("reader:agent-1");
  const CallerInfo crm{.trusted = true, .id = "spiffe://corp.example/mcp/crm"};
  const CallerInfo other{.trusted = true,
                         .id = "spiffe://corp.example/mcp/billing"};
  EXPECT_EQ(testing::Check(decider, request, crm).decision(), v1::ALLOW);
  const v1::CheckResponse refused = testing::Check(decider, request, other);
  EXPECT_EQ(refused.reasons(0).code(), "caller_not_trusted");
  EXPECT_EQ(refused.category(), v1::REASON_CATEGORY_UNAVAILABLE);
  EXPECT_EQ(jwt_.calls(), 2);
}

// A listed item is conditional for the chain when every identity may use
// it depending on the unknowns, and hidden when one actor may not at all.
TEST_F(DeciderAuthnTest, ListingNarrowsThroughTheDelegationChain) {
  const Decider decider = MakeDecider();
  v1::CheckRequest request = GetContact();
  request.mutable_tool()->set_name("export_contacts");
  request.set_action("tools/list");
  request.mutable_credentials()->set_bearer_token("reader:agent-1");
  request.mutable_credentials()->add_actor_tokens("reader:bot-1");
  const v1::CheckResponse shown = testing::Check(decider, request, kMayAssert);
  EXPECT_EQ(shown.decision(), v1::DENY);
  EXPECT_TRUE(shown.conditional()) << shown.DebugString();
  EXPECT_THAT(shown.depends_on(), ::testing::Contains("resource"));
  EXPECT_EQ(shown.cache_ttl().seconds(), 0);

  request.mutable_credentials()->set_actor_tokens(0, "nobody:bot-2");
  const v1::CheckResponse hidden = testing::Check(decider, request, kMayAssert);
  EXPECT_FALSE(hidden.conditional());
  EXPECT_EQ(hidden.reasons(0).code(), "delegation_denied");
}

}  // namespace
}  // namespace verdict::decision
