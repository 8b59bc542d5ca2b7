// The Envoy ext_authz translation without a server: MCP headers, JSON-RPC
// bodies and their agreement, credentials, the asserted SPIFFE principal,
// and both kinds of answer.

#include "server/service/ext_authz_translation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace verdict::service {
namespace {

namespace envoy_auth = ::envoy::service::auth::v3;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

envoy_auth::CheckRequest Request(
    const std::map<std::string, std::string>& headers,
    const std::string& body = "") {
  envoy_auth::CheckRequest request;
  envoy_auth::AttributeContext* attributes = request.mutable_attributes();
  auto* http = attributes->mutable_request()->mutable_http();
  for (const auto& [key, value] : headers)
    (*http->mutable_headers())[key] = value;
  http->set_body(body);
  (*attributes->mutable_context_extensions())["mcp_server"] = "files";
  return request;
}

std::string Header(const google::protobuf::RepeatedPtrField<
                       envoy::config::core::v3::HeaderValueOption>& headers,
                   const std::string& key) {
  for (const auto& option : headers) {
    if (option.header().key() == key) return option.header().value();
  }
  return "";
}

TEST(TranslateExtAuthzRequest, HeadersAloneNameTheCall) {
  const ExtAuthzRequest out = TranslateExtAuthzRequest(
      Request({{"mcp-method", "tools/call"},
               {"mcp-name", "read_file"},
               {"mcp-param-path", "/srv/docs/a.md"},
               {"authorization", "Bearer tok"},
               {"x-request-id", "r-1"}}),
      /*may_assert_identity=*/false, ExtAuthzOptions());
  EXPECT_TRUE(out.problem.empty());
  EXPECT_FALSE(out.authenticate_only);
  EXPECT_EQ(out.check.action(), "tools/call");
  EXPECT_EQ(out.check.tool().server(), "files");
  EXPECT_EQ(out.check.tool().name(), "read_file");
  EXPECT_EQ(out.check.tool().arguments().fields().at("path").string_value(),
            "/srv/docs/a.md");
  EXPECT_EQ(out.check.credentials().bearer_token(), "tok");
  EXPECT_EQ(out.check.request_id(), "r-1");
  EXPECT_EQ(out.jsonrpc_id, "null");
}

TEST(TranslateExtAuthzRequest, BodyGivesArgumentsAndId) {
  const ExtAuthzRequest out = TranslateExtAuthzRequest(
      Request(
          {{"mcp-method", "tools/call"}, {"mcp-name", "read_file"}},
          R"({"jsonrpc":"2.0","id":7,"method":"tools/call",)"
          R"("params":{"name":"read_file","arguments":{"path":"/x","n":2}}})"),
      false, ExtAuthzOptions());
  EXPECT_TRUE(out.problem.empty());
  EXPECT_EQ(out.check.tool().name(), "read_file");
  EXPECT_EQ(out.check.tool().arguments().fields().at("n").number_value(), 2);
  EXPECT_EQ(out.jsonrpc_id, "7");
}

TEST(TranslateExtAuthzRequest, ResourcesReadNamesTheResource) {
  const ExtAuthzRequest out = TranslateExtAuthzRequest(
      Request({{"mcp-method", "resources/read"},
               {"mcp-name", "file:///srv/handbook/a"}},
              R"({"jsonrpc":"2.0","id":"a","method":"resources/read",)"
              R"("params":{"uri":"file:///srv/handbook/a"}})"),
      false, ExtAuthzOptions());
  EXPECT_TRUE(out.problem.empty());
  EXPECT_EQ(out.check.resource().kind(), "resource");
  EXPECT_EQ(out.check.resource().id(), "file:///srv/handbook/a");
  EXPECT_EQ(out.jsonrpc_id, "\"a\"");
}

TEST(TranslateExtAuthzRequest, HeadersThatDisagreeWithTheBodyAreAProblem) {
  const ExtAuthzRequest name = TranslateExtAuthzRequest(
      Request({{"mcp-method", "tools/call"}, {"mcp-name", "read_file"}},
              R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)"
              R"("params":{"name":"delete_file"}})"),
      false, ExtAuthzOptions());
  EXPECT_EQ(name.problem_code, model::ReasonCode::kMcpHeaderMismatch);
  EXPECT_THAT(name.problem, HasSubstr("delete_file"));
  const ExtAuthzRequest method = TranslateExtAuthzRequest(
      Request({{"mcp-method", "tools/list"}},
              R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)"
              R"("params":{"name":"delete_file"}})"),
      false, ExtAuthzOptions());
  EXPECT_EQ(method.problem_code, model::ReasonCode::kMcpHeaderMismatch);
  // Decided (and logged), not merely authenticated.
  EXPECT_FALSE(method.authenticate_only);
}

TEST(TranslateExtAuthzRequest, BodiesThatAreNotOneRequestArePseudoActions) {
  EXPECT_EQ(
      TranslateExtAuthzRequest(Request({}, "[{}]"), false, ExtAuthzOptions())
          .check.action(),
      kJsonRpcBatchAction);
  for (const char* body :
       {"not json", R"({"id":1,"method":"tools/call"})",
        R"({"jsonrpc":"2.0","id":1,"result":{}})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]})",
        R"({"jsonrpc":"2.0","id":1,"id":2,"method":"ping"})"}) {
    EXPECT_EQ(
        TranslateExtAuthzRequest(Request({}, body), false, ExtAuthzOptions())
            .check.action(),
        kJsonRpcInvalidAction)
        << body;
  }
}

TEST(TranslateExtAuthzRequest, SessionAndListingMethodsOnlyAuthenticate) {
  for (const char* method :
       {"initialize", "ping", "tools/list", "notifications/initialized"}) {
    EXPECT_TRUE(TranslateExtAuthzRequest(Request({{"mcp-method", method}}),
                                         false, ExtAuthzOptions())
                    .authenticate_only)
        << method;
  }
}

TEST(TranslateExtAuthzRequest, StreamAndSessionEndOnlyAuthenticate) {
  for (const char* method : {"GET", "DELETE"}) {
    envoy_auth::CheckRequest request = Request({});
    request.mutable_attributes()->mutable_request()->mutable_http()->set_method(
        method);
    EXPECT_TRUE(TranslateExtAuthzRequest(request, false, ExtAuthzOptions())
                    .authenticate_only)
        << method;
  }
  // A POST without a method is decided, and so refused as malformed.
  EXPECT_FALSE(TranslateExtAuthzRequest(Request({}), false, ExtAuthzOptions())
                   .authenticate_only);
}

TEST(TranslateExtAuthzRequest, PrincipalOnlyFromATrustedGatewayWithoutToken) {
  envoy_auth::CheckRequest request = Request({{"mcp-method", "tools/call"}});
  request.mutable_attributes()->mutable_source()->set_principal(
      "spiffe://corp.test/agent-7");
  EXPECT_EQ(TranslateExtAuthzRequest(request, true, ExtAuthzOptions())
                .check.subject()
                .id(),
            "spiffe://corp.test/agent-7");
  EXPECT_FALSE(TranslateExtAuthzRequest(request, false, ExtAuthzOptions())
                   .check.has_subject());
  (*request.mutable_attributes()
        ->mutable_request()
        ->mutable_http()
        ->mutable_headers())["authorization"] = "bearer tok";
  const ExtAuthzRequest with_token =
      TranslateExtAuthzRequest(request, true, ExtAuthzOptions());
  EXPECT_FALSE(with_token.check.has_subject());
  EXPECT_EQ(with_token.check.credentials().bearer_token(), "tok");
}

TEST(TranslateExtAuthzRequest, OversizedBodyIsAProblem) {
  const ExtAuthzRequest out = TranslateExtAuthzRequest(
      Request({}, std::string(kMaxExtAuthzBodyBytes + 1, ' ')), false,
      ExtAuthzOptions());
  EXPECT_EQ(out.problem_code, model::ReasonCode::kInvalidRequest);
  EXPECT_FALSE(out.problem.empty());
}

TEST(TranslateCheckAnswer, AllowCarriesTheDecisionIdAndDropsTheToken) {
  v1::CheckResponse answer;
  answer.set_decision(v1::ALLOW);
  answer.set_decision_id("d-1");
  answer.set_policy_revision("rev");
  envoy_auth::CheckResponse out;
  TranslateCheckAnswer(answer, "null", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 0);
  EXPECT_EQ(Header(out.ok_response().headers(), "x-verdict-decision-id"),
            "d-1");
  EXPECT_THAT(out.ok_response().headers_to_remove(),
              ElementsAre("authorization"));
  EXPECT_EQ(out.dynamic_metadata().fields().at("decision_id").string_value(),
            "d-1");

  ExtAuthzOptions keep;
  keep.remove_authorization = false;
  envoy_auth::CheckResponse kept;
  TranslateCheckAnswer(answer, "null", keep, &kept);
  EXPECT_TRUE(kept.ok_response().headers_to_remove().empty());
}

TEST(TranslateCheckAnswer, DenyIsAnHttpRefusalWithAJsonRpcError) {
  v1::CheckResponse answer;
  answer.set_decision_id("d-2");
  v1::Reason* reason = answer.add_reasons();
  reason->set_code("insufficient_scope");
  reason->set_category(v1::REASON_CATEGORY_AUTHORIZATION);
  answer.mutable_challenge()->set_http_status(403);
  answer.mutable_challenge()->set_www_authenticate(
      "Bearer error=\"insufficient_scope\", scope=\"crm:export\"");
  envoy_auth::CheckResponse out;
  TranslateCheckAnswer(answer, "7", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 7);
  EXPECT_EQ(out.denied_response().status().code(), 403);
  EXPECT_THAT(Header(out.denied_response().headers(), "www-authenticate"),
              HasSubstr("insufficient_scope"));
  EXPECT_EQ(Header(out.denied_response().headers(), "content-type"),
            "application/json");
  const nlohmann::json body =
      nlohmann::json::parse(out.denied_response().body());
  EXPECT_EQ(body["id"], 7);
  EXPECT_EQ(body["error"]["code"], -32003);
  EXPECT_EQ(body["error"]["data"]["reason"], "insufficient_scope");
  EXPECT_EQ(body["error"]["data"]["decision_id"], "d-2");
}

TEST(TranslateAuthenticateAnswer, RefusalIsUnauthenticated) {
  v1::AuthenticateResponse answer;
  answer.mutable_refusal()->set_code("unauthenticated");
  answer.mutable_refusal()->set_category(v1::REASON_CATEGORY_AUTHENTICATION);
  answer.mutable_challenge()->set_http_status(401);
  answer.mutable_challenge()->set_www_authenticate("Bearer");
  envoy_auth::CheckResponse out;
  TranslateAuthenticateAnswer(answer, "null", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 16);
  EXPECT_EQ(out.denied_response().status().code(), 401);
  const nlohmann::json body =
      nlohmann::json::parse(out.denied_response().body());
  EXPECT_EQ(body["error"]["code"], -32001);
  EXPECT_TRUE(body["id"].is_null());
  EXPECT_FALSE(body["error"]["data"].contains("decision_id"));
}

TEST(TranslateAuthenticateAnswer, AllowRemovesAnAgentsDecisionIdHeader) {
  v1::AuthenticateResponse answer;
  answer.set_authenticated(true);
  envoy_auth::CheckResponse out;
  TranslateAuthenticateAnswer(answer, "null", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 0);
  EXPECT_THAT(out.ok_response().headers_to_remove(),
              ElementsAre("x-verdict-decision-id", "authorization"));
}

}  // namespace
}  // namespace verdict::service
