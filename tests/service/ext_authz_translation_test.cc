// The Envoy ext_authz translation without a server: MCP headers (with the
// transport's Base64 form of Mcp-Param-* values), JSON-RPC bodies and their
// agreement, credentials, the asserted SPIFFE principal, the route's MCP
// server, and both kinds of answer, from the Decider's Outcome and
// Admission.

#include "server/service/ext_authz_translation.h"

#include <map>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/decision/mcp_servers.h"
#include "server/decision/outcome.h"
#include "server/engine/engine.h"

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
      /*may_assert_identity=*/false, nullptr, ExtAuthzOptions());
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
      false, nullptr, ExtAuthzOptions());
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
      false, nullptr, ExtAuthzOptions());
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
      false, nullptr, ExtAuthzOptions());
  EXPECT_EQ(name.problem_code, model::ReasonCode::kMcpHeaderMismatch);
  EXPECT_THAT(name.problem, HasSubstr("delete_file"));
  const ExtAuthzRequest method = TranslateExtAuthzRequest(
      Request({{"mcp-method", "tools/list"}},
              R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)"
              R"("params":{"name":"delete_file"}})"),
      false, nullptr, ExtAuthzOptions());
  EXPECT_EQ(method.problem_code, model::ReasonCode::kMcpHeaderMismatch);
  // Decided (and logged), not merely authenticated.
  EXPECT_FALSE(method.authenticate_only);
}

TEST(TranslateExtAuthzRequest, BodiesThatAreNotOneRequestArePseudoActions) {
  EXPECT_EQ(TranslateExtAuthzRequest(Request({}, "[{}]"), false, nullptr,
                                     ExtAuthzOptions())
                .check.action(),
            kJsonRpcBatchAction);
  for (const char* body :
       {"not json", R"({"id":1,"method":"tools/call"})",
        R"({"jsonrpc":"2.0","id":1,"result":{}})",
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]})",
        R"({"jsonrpc":"2.0","id":1,"id":2,"method":"ping"})"}) {
    EXPECT_EQ(TranslateExtAuthzRequest(Request({}, body), false, nullptr,
                                       ExtAuthzOptions())
                  .check.action(),
              kJsonRpcInvalidAction)
        << body;
  }
}

TEST(TranslateExtAuthzRequest, SessionAndListingMethodsOnlyAuthenticate) {
  for (const char* method :
       {"initialize", "ping", "tools/list", "notifications/initialized"}) {
    EXPECT_TRUE(TranslateExtAuthzRequest(Request({{"mcp-method", method}}),
                                         false, nullptr, ExtAuthzOptions())
                    .authenticate_only)
        << method;
  }
}

TEST(TranslateExtAuthzRequest, StreamAndSessionEndOnlyAuthenticate) {
  for (const char* method : {"GET", "DELETE"}) {
    envoy_auth::CheckRequest request = Request({});
    request.mutable_attributes()->mutable_request()->mutable_http()->set_method(
        method);
    EXPECT_TRUE(
        TranslateExtAuthzRequest(request, false, nullptr, ExtAuthzOptions())
            .authenticate_only)
        << method;
  }
  // A POST without a method is decided, and so refused as malformed.
  EXPECT_FALSE(
      TranslateExtAuthzRequest(Request({}), false, nullptr, ExtAuthzOptions())
          .authenticate_only);
}

TEST(TranslateExtAuthzRequest, PrincipalOnlyFromATrustedGatewayWithoutToken) {
  envoy_auth::CheckRequest request = Request({{"mcp-method", "tools/call"}});
  request.mutable_attributes()->mutable_source()->set_principal(
      "spiffe://corp.test/agent-7");
  EXPECT_EQ(TranslateExtAuthzRequest(request, true, nullptr, ExtAuthzOptions())
                .check.subject()
                .id(),
            "spiffe://corp.test/agent-7");
  EXPECT_FALSE(
      TranslateExtAuthzRequest(request, false, nullptr, ExtAuthzOptions())
          .check.has_subject());
  (*request.mutable_attributes()
        ->mutable_request()
        ->mutable_http()
        ->mutable_headers())["authorization"] = "bearer tok";
  const ExtAuthzRequest with_token =
      TranslateExtAuthzRequest(request, true, nullptr, ExtAuthzOptions());
  EXPECT_FALSE(with_token.check.has_subject());
  EXPECT_EQ(with_token.check.credentials().bearer_token(), "tok");
}

TEST(TranslateExtAuthzRequest, OversizedBodyIsAProblem) {
  const ExtAuthzRequest out = TranslateExtAuthzRequest(
      Request({}, std::string(kMaxExtAuthzBodyBytes + 1, ' ')), false, nullptr,
      ExtAuthzOptions());
  EXPECT_EQ(out.problem_code, model::ReasonCode::kInvalidRequest);
  EXPECT_FALSE(out.problem.empty());
}

// A tools/call with `header` as Mcp-Param-Region and `arguments` in the
// body.
ExtAuthzRequest WithRegion(const std::string& header,
                           const std::string& arguments) {
  return TranslateExtAuthzRequest(
      Request({{"mcp-method", "tools/call"},
               {"mcp-name", "execute_sql"},
               {"mcp-param-region", header}},
              R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)"
              R"("params":{"name":"execute_sql","arguments":)" +
                  arguments + "}}"),
      false, nullptr, ExtAuthzOptions());
}

TEST(TranslateExtAuthzRequest, ParamHeadersAreDecodedFromBase64) {
  const ExtAuthzRequest out = TranslateExtAuthzRequest(
      Request({{"mcp-method", "tools/call"},
               {"mcp-name", "greet"},
               {"mcp-param-greeting", "=?base64?SGVsbG8sIOS4lueVjA==?="},
               {"mcp-param-text", "=?base64?IHBhZGRlZCA=?="},
               // Not between both markers: plain text, as sent.
               {"mcp-param-val", "=?base64?literal"}}),
      false, nullptr, ExtAuthzOptions());
  ASSERT_TRUE(out.problem.empty()) << out.problem;
  const auto& fields = out.check.tool().arguments().fields();
  EXPECT_EQ(fields.at("greeting").string_value(), "Hello, \u4e16\u754c");
  EXPECT_EQ(fields.at("text").string_value(), " padded ");
  EXPECT_EQ(fields.at("val").string_value(), "=?base64?literal");
}

TEST(TranslateExtAuthzRequest, MalformedParamHeadersAreInvalid) {
  for (const std::string& value : {
           std::string("=?base64?!!!!?="),      // not Base64
           std::string("=?base64?SGVsbG8?="),   // unpadded
           std::string("=?base64?SGV=bG8=?="),  // padding inside
           std::string("=?base64?/w==?="),      // 0xFF: not UTF-8
           std::string("caf\xc3\xa9"),          // raw non-ASCII
           std::string("line1\nline2"),         // a control character
       }) {
    for (const std::string& body :
         {std::string(), std::string(R"({"jsonrpc":"2.0","id":1,)"
                                     R"("method":"tools/call","params":)"
                                     R"({"name":"t","arguments":{}}})")}) {
      const ExtAuthzRequest out =
          TranslateExtAuthzRequest(Request({{"mcp-method", "tools/call"},
                                            {"mcp-name", "t"},
                                            {"mcp-param-x", value}},
                                           body),
                                   false, nullptr, ExtAuthzOptions());
      EXPECT_EQ(out.problem_code, model::ReasonCode::kInvalidRequest) << value;
      EXPECT_THAT(out.problem, HasSubstr("mcp-param-x")) << value;
      EXPECT_FALSE(out.authenticate_only);
    }
  }
}

TEST(TranslateExtAuthzRequest, ParamHeadersMustAgreeWithTheBody) {
  EXPECT_TRUE(
      WithRegion("us-west1", R"({"region":"us-west1"})").problem.empty());
  // Header names are case-insensitive; the argument may be nested.
  EXPECT_TRUE(WithRegion("us-west1", R"({"target":{"Region":"us-west1"}})")
                  .problem.empty());
  EXPECT_TRUE(WithRegion("=?base64?5p2x5Lqs?=", "{\"region\":\"\u6771\u4eac\"}")
                  .problem.empty());
  // Integers compare numerically, booleans as true and false.
  EXPECT_TRUE(WithRegion("42.0", R"({"region":42})").problem.empty());
  EXPECT_TRUE(WithRegion("true", R"({"region":true})").problem.empty());
  // No argument of that name: the MCP server, which knows the schema,
  // checks the mapping.
  EXPECT_TRUE(WithRegion("us-west1", R"({"zone":"eu-1"})").problem.empty());

  for (const std::string& arguments :
       {std::string(R"({"region":"eu-west1"})"),
        std::string(R"({"target":{"region":"eu-west1"}})"),
        std::string(R"({"region":43})"), std::string(R"({"region":null})"),
        std::string(R"({"region":"US-WEST1"})")}) {
    const ExtAuthzRequest out = WithRegion("us-west1", arguments);
    EXPECT_EQ(out.problem_code, model::ReasonCode::kMcpHeaderMismatch)
        << arguments;
    EXPECT_THAT(out.problem, HasSubstr("Mcp-Param-region"));
    // The values may be secrets: never quoted.
    EXPECT_THAT(out.problem, ::testing::Not(HasSubstr("west")));
  }
  EXPECT_EQ(WithRegion("false", R"({"region":true})").problem_code,
            model::ReasonCode::kMcpHeaderMismatch);
}

TEST(TranslateExtAuthzRequest, RouteMustNameAConfiguredServer) {
  absl::StatusOr<decision::McpServers> servers = decision::McpServers::Build(
      {{.name = "files", .resource = "https://mcp.test/files"}});
  ASSERT_TRUE(servers.ok()) << servers.status();
  envoy_auth::CheckRequest request = Request({{"mcp-method", "tools/list"}});
  EXPECT_TRUE(
      TranslateExtAuthzRequest(request, false, &*servers, ExtAuthzOptions())
          .problem.empty());
  const std::string unknown(100000, 'x');
  (*request.mutable_attributes()->mutable_context_extensions())["mcp_server"] =
      unknown;
  const ExtAuthzRequest out =
      TranslateExtAuthzRequest(request, false, &*servers, ExtAuthzOptions());
  EXPECT_EQ(out.problem_code, model::ReasonCode::kInvalidRequest);
  EXPECT_EQ(out.problem,
            "context_extensions[mcp_server] names no configured MCP server");
  EXPECT_FALSE(out.authenticate_only);
  // Without configured servers any name is taken as it is.
  EXPECT_TRUE(
      TranslateExtAuthzRequest(request, false, nullptr, ExtAuthzOptions())
          .problem.empty());
}

TEST(TranslateOutcome, AllowCarriesTheDecisionIdAndDropsTheToken) {
  decision::Outcome outcome(absl::Now(), "rev");
  engine::Result result;
  result.decision = model::Decision::kAllow;
  outcome.Decide(result, absl::ZeroDuration());
  const std::string id(outcome.decision_id());
  envoy_auth::CheckResponse out;
  TranslateOutcome(outcome, "null", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 0);
  EXPECT_EQ(Header(out.ok_response().headers(), "x-verdict-decision-id"), id);
  EXPECT_THAT(out.ok_response().headers_to_remove(),
              ElementsAre("authorization"));
  EXPECT_EQ(out.dynamic_metadata().fields().at("decision_id").string_value(),
            id);
  EXPECT_EQ(
      out.dynamic_metadata().fields().at("policy_revision").string_value(),
      "rev");

  ExtAuthzOptions keep;
  keep.remove_authorization = false;
  envoy_auth::CheckResponse kept;
  TranslateOutcome(outcome, "null", keep, &kept);
  EXPECT_TRUE(kept.ok_response().headers_to_remove().empty());
}

TEST(TranslateOutcome, DenyIsAnHttpRefusalWithAJsonRpcError) {
  decision::Outcome outcome(absl::Now(), "rev");
  engine::Result result;
  result.reasons.push_back(
      engine::Reason{.code = model::ReasonCode::kInsufficientScope,
                     .message = "needs a scope"});
  result.required_scopes = "crm:export";
  outcome.Decide(result, absl::ZeroDuration());
  const std::string id(outcome.decision_id());
  envoy_auth::CheckResponse out;
  TranslateOutcome(outcome, "7", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 7);
  EXPECT_EQ(out.status().message(), "needs a scope");
  EXPECT_EQ(out.denied_response().status().code(), 403);
  EXPECT_EQ(Header(out.denied_response().headers(), "www-authenticate"),
            "Bearer error=\"insufficient_scope\", scope=\"crm:export\"");
  EXPECT_EQ(Header(out.denied_response().headers(), "content-type"),
            "application/json");
  EXPECT_EQ(Header(out.denied_response().headers(), "x-verdict-decision-id"),
            id);
  const nlohmann::json body =
      nlohmann::json::parse(out.denied_response().body());
  EXPECT_EQ(body["id"], 7);
  EXPECT_EQ(body["error"]["code"], -32003);
  EXPECT_EQ(body["error"]["data"]["reason"], "insufficient_scope");
  EXPECT_EQ(body["error"]["data"]["decision_id"], id);
}

TEST(TranslateOutcome, InvalidRequestIsA400) {
  decision::Outcome outcome(absl::Now(), "rev");
  outcome.Deny(model::ReasonCode::kMcpHeaderMismatch, "headers disagree");
  envoy_auth::CheckResponse out;
  TranslateOutcome(outcome, "\"a\"", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 7);
  EXPECT_EQ(out.denied_response().status().code(), 400);
  EXPECT_EQ(out.dynamic_metadata().fields().at("reason").string_value(),
            "mcp_header_mismatch");
  const nlohmann::json body =
      nlohmann::json::parse(out.denied_response().body());
  EXPECT_EQ(body["id"], "a");
  EXPECT_EQ(body["error"]["code"], -32602);
}

TEST(TranslateAdmission, RefusalIsUnauthenticated) {
  const decision::McpServer server{
      .name = "files",
      .resource = "https://mcp.test/files",
      .resource_metadata = "https://mcp.test/.well-known/files"};
  decision::Admission admission;
  admission.refused = true;
  admission.refusal = model::ReasonCode::kUnauthenticated;
  admission.message = "a credential is required";
  admission.mcp_server = &server;
  envoy_auth::CheckResponse out;
  TranslateAdmission(admission, "null", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 16);
  EXPECT_EQ(out.status().message(), "a credential is required");
  EXPECT_EQ(out.denied_response().status().code(), 401);
  EXPECT_EQ(Header(out.denied_response().headers(), "www-authenticate"),
            "Bearer resource_metadata=\"https://mcp.test/.well-known/files\"");
  const nlohmann::json body =
      nlohmann::json::parse(out.denied_response().body());
  EXPECT_EQ(body["error"]["code"], -32001);
  EXPECT_TRUE(body["id"].is_null());
  EXPECT_FALSE(body["error"]["data"].contains("decision_id"));
}

TEST(TranslateAdmission, AllowRemovesAnAgentsDecisionIdHeader) {
  const decision::IdentityView identity{.subject = "spiffe://corp.test/a"};
  decision::Admission admission;
  admission.identity = &identity;
  envoy_auth::CheckResponse out;
  TranslateAdmission(admission, "null", ExtAuthzOptions(), &out);
  EXPECT_EQ(out.status().code(), 0);
  EXPECT_THAT(out.ok_response().headers_to_remove(),
              ElementsAre("x-verdict-decision-id", "authorization"));
  EXPECT_EQ(out.dynamic_metadata().fields().at("subject").string_value(),
            "spiffe://corp.test/a");
}

}  // namespace
}  // namespace verdict::service
