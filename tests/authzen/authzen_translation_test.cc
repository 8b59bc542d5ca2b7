// authzen_translation.h without a server: AuthZEN JSON into Verdict's
// requests (every resource type, defaults and semantics of evaluations,
// searches and their pages), Verdict's answers into AuthZEN JSON, and every
// malformed input refused with a message naming what is wrong.

#include "server/authzen/authzen_translation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict::authzen {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

RequestFrame Frame() {
  RequestFrame frame;
  frame.max_context_depth = 4;
  return frame;
}

absl::StatusOr<v1::CheckRequest> Evaluate(const std::string& body) {
  absl::StatusOr<Json> json = ParseBody(body, 4);
  if (!json.ok()) return json.status();
  return TranslateEvaluation(*json, Frame());
}

TEST(ParseBodyTest, AcceptsOneObject) {
  absl::StatusOr<Json> json = ParseBody(R"({"a": {"b": [1, "x"]}})", 4);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["a"]["b"][1], "x");
}

TEST(ParseBodyTest, RefusesMalformedDocuments) {
  const std::string cases[] = {
      "",
      "{",
      "[]",
      "\"text\"",
      R"({"a": 1} trailing)",
      R"({"a": 1}{"b": 2})",
      R"({"a": 1, "a": 2})",
      R"({"x": {"a": 1, "a": 2}})",
      "{\"a\": \"\xff\xfe\"}",
      "{\"a\": \"\xc3\x28\"}",
      R"({"a": 1e999})",
      R"({"a": -1e999})",
      R"({"a": NaN})",
      R"({"a": 01})",
      R"({"a": 'x'})",
      R"({"a": [1,]})",
      R"({"a": 1,})",
  };
  for (const std::string& body : cases) {
    EXPECT_FALSE(ParseBody(body, 4).ok()) << body;
  }
}

TEST(ParseBodyTest, BoundsNesting) {
  // The cap is max_context_depth + kEnvelopeDepth brackets.
  std::string ok(4 + kEnvelopeDepth, '[');
  ok.append(4 + kEnvelopeDepth, ']');
  EXPECT_FALSE(ParseBody(ok, 4).ok());  // an array, not an object
  std::string deep = "{\"a\":" + std::string(4 + kEnvelopeDepth, '[') +
                     std::string(4 + kEnvelopeDepth, ']') + "}";
  EXPECT_THAT(ParseBody(deep, 4).status().message(), HasSubstr("deeply"));
  std::string huge = "{\"a\":" + std::string(100000, '[');
  EXPECT_FALSE(ParseBody(huge, 4).ok());
}

TEST(EvaluationTest, MapsAToolCall) {
  absl::StatusOr<v1::CheckRequest> check = Evaluate(R"({
    "subject": {"type": "agent", "id": "agent-1",
                "properties": {"roles": ["reader"], "scopes": ["files:read"],
                               "attributes": {"team": "a"}, "tier": 2}},
    "action": {"name": "tools/call"},
    "resource": {"type": "mcp_tool", "id": "read_file",
                 "properties": {"server": "files",
                                "arguments": {"path": "/srv/docs/a.md"},
                                "annotations": {"readOnlyHint": true},
                                "data": {"kind": "document", "id": "d1",
                                         "attributes": {"owner": "x"}}}},
    "context": {"environment": "prod"}})");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->subject().id(), "agent-1");
  EXPECT_THAT(check->subject().roles(), ElementsAre("reader"));
  EXPECT_THAT(check->subject().scopes(), ElementsAre("files:read"));
  EXPECT_EQ(check->subject().attributes().fields().at("team").string_value(),
            "a");
  EXPECT_EQ(check->subject().attributes().fields().at("tier").number_value(),
            2);
  EXPECT_EQ(check->action(), "tools/call");
  EXPECT_EQ(check->tool().server(), "files");
  EXPECT_EQ(check->tool().name(), "read_file");
  EXPECT_EQ(check->tool().arguments().fields().at("path").string_value(),
            "/srv/docs/a.md");
  EXPECT_TRUE(
      check->tool().annotations().fields().at("readOnlyHint").bool_value());
  EXPECT_EQ(check->resource().kind(), "document");
  EXPECT_EQ(check->resource().id(), "d1");
  EXPECT_EQ(check->context().fields().at("environment").string_value(), "prod");
  EXPECT_FALSE(check->has_credentials());
}

TEST(EvaluationTest, MapsTheOtherResourceTypes) {
  absl::StatusOr<v1::CheckRequest> read = Evaluate(R"({
    "subject": {"type": "agent", "id": "a"},
    "action": {"name": "resources/read"},
    "resource": {"type": "mcp_resource", "id": "file:///srv/a",
                 "properties": {"server": "files"}}})");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->tool().server(), "files");
  EXPECT_EQ(read->tool().name(), "");
  EXPECT_EQ(read->resource().kind(), "resource");
  EXPECT_EQ(read->resource().id(), "file:///srv/a");

  absl::StatusOr<v1::CheckRequest> prompt = Evaluate(R"({
    "subject": {"type": "agent", "id": "a"},
    "action": {"name": "prompts/get"},
    "resource": {"type": "mcp_prompt", "id": "summary",
                 "properties": {"server": "files", "arguments": {"n": 1}}}})");
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(prompt->tool().name(), "summary");
  EXPECT_FALSE(prompt->has_resource());

  absl::StatusOr<v1::CheckRequest> server = Evaluate(R"({
    "subject": {"type": "agent", "id": "a"},
    "action": {"name": "logging/setLevel"},
    "resource": {"type": "mcp_server", "id": "files"}})");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->tool().server(), "files");

  absl::StatusOr<v1::CheckRequest> data = Evaluate(R"({
    "subject": {"type": "user", "id": "a"},
    "action": {"name": "read"},
    "resource": {"type": "document", "id": "d1",
                 "properties": {"owner": "a"}}})");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->resource().kind(), "document");
  EXPECT_EQ(data->resource().attributes().fields().at("owner").string_value(),
            "a");
}

TEST(EvaluationTest, CarriesTheFrame) {
  RequestFrame frame = Frame();
  frame.has_credentials = true;
  frame.credentials.set_bearer_token("t");
  frame.request_id = "r-1";
  frame.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  absl::StatusOr<Json> json = ParseBody(
      R"({"action": {"name": "tools/call"},
          "resource": {"type": "mcp_tool", "id": "t"}})",
      4);
  ASSERT_TRUE(json.ok());
  absl::StatusOr<v1::CheckRequest> check = TranslateEvaluation(*json, frame);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->credentials().bearer_token(), "t");
  EXPECT_EQ(check->request_id(), "r-1");
  EXPECT_EQ(check->traceparent(), frame.traceparent);
  EXPECT_FALSE(check->has_subject());
}

TEST(EvaluationTest, RefusesMalformedRequests) {
  struct Case {
    std::string body;
    std::string says;
  };
  const std::string subject = R"("subject": {"type": "agent", "id": "a"})";
  const std::string action = R"("action": {"name": "tools/call"})";
  const std::string tool = R"("resource": {"type": "mcp_tool", "id": "t"})";
  const Case cases[] = {
      {"{" + subject + ", " + tool + "}", "action: is required"},
      {"{" + subject + ", " + action + "}", "resource: is required"},
      {"{" + action + ", " + tool + ", \"extra\": 1}", "unknown member"},
      {R"({"subject": "a", )" + action + ", " + tool + "}",
       "subject: must be an object"},
      {R"({"subject": {"id": "a"}, )" + action + ", " + tool + "}",
       "\"type\" is required"},
      {R"({"subject": {"type": "agent", "id": 7}, )" + action + ", " + tool +
           "}",
       "\"id\" must be a string"},
      {R"({"subject": {"type": "agent", "id": ""}, )" + action + ", " + tool +
           "}",
       "must not be empty"},
      {R"({"subject": {"type": "a", "id": "a", "properties": []}, )" + action +
           ", " + tool + "}",
       "subject.properties: must be an object"},
      {R"({"subject": {"type": "a", "id": "a", "properties": {"roles": "x"}}, )" +
           action + ", " + tool + "}",
       "roles: must be an array of strings"},
      {R"({"subject": {"type": "a", "id": "a", "properties": {"roles": [1]}}, )" +
           action + ", " + tool + "}",
       "roles: must be an array of strings"},
      {R"({"subject": {"type": "a", "id": "a", "properties": {"x": 1, "attributes": {"x": 2}}}, )" +
           action + ", " + tool + "}",
       "also in attributes"},
      {R"({"subject": {"type": "a", "id": "a", "properties": {"attributes": 3}}, )" +
           action + ", " + tool + "}",
       "attributes: must be an object"},
      {"{" + subject + R"(, "action": {"name": ""}, )" + tool + "}",
       "must not be empty"},
      {"{" + subject + R"(, "action": {"name": 1}, )" + tool + "}",
       "must be a string"},
      {"{" + subject + R"(, "action": {"name": "x", "properties": {}}, )" +
           tool + "}",
       "action.properties belongs in context"},
      {"{" + subject + ", " + action + R"(, "resource": {"id": "t"}})",
       "\"type\" is required"},
      {"{" + subject + ", " + action + R"(, "resource": {"type": "mcp_tool"}})",
       "\"id\" is required"},
      {"{" + subject + ", " + action +
           R"(, "resource": {"type": "mcp_tool", "id": "t", "properties": {"server": 1}}})",
       "\"server\" must be a string"},
      {"{" + subject + ", " + action +
           R"(, "resource": {"type": "mcp_tool", "id": "t", "properties": {"arguments": []}}})",
       "arguments: must be an object"},
      {"{" + subject + ", " + action +
           R"(, "resource": {"type": "mcp_tool", "id": "t", "properties": {"other": 1}}})",
       "unknown member \"other\""},
      {"{" + subject + ", " + action +
           R"(, "resource": {"type": "mcp_tool", "id": "t", "properties": {"candidates": ["a"]}}})",
       "for resource search only"},
      {"{" + subject + ", " + action +
           R"(, "resource": {"type": "mcp_tool", "id": "t", "properties": {"data": {"id": "x"}}}})",
       "\"kind\" is required"},
      {"{" + subject + ", " + action +
           R"(, "resource": {"type": "mcp_server", "id": "s", "properties": {"server": "x"}}})",
       "unknown member"},
      {"{" + subject + ", " + action + ", " + tool + R"(, "context": [1]})",
       "context: must be an object"},
      // Within the document's cap, deeper than max_context_depth (4).
      {"{" + subject + ", " + action + ", " + tool +
           R"(, "context": {"a": {"b": {"c": {"d": {}}}}}})",
       "context: nested deeper than 4"},
      {"{" + subject + ", " + action +
           R"(, "resource": {"type": "mcp_tool", "id": "t", "properties": {"arguments": {"a": {"b": {"c": {"d": {}}}}}}}})",
       "nested deeper than 4"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<v1::CheckRequest> check = Evaluate(c.body);
    ASSERT_FALSE(check.ok()) << c.body;
    EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(check.status().message(), HasSubstr(c.says)) << c.body;
  }
}

absl::StatusOr<Evaluations> EvaluateMany(const std::string& body,
                                         size_t max = 8) {
  absl::StatusOr<Json> json = ParseBody(body, 4);
  if (!json.ok()) return json.status();
  return TranslateEvaluations(*json, Frame(), max);
}

TEST(EvaluationsTest, EachEvaluationOverridesTheDefaults) {
  absl::StatusOr<Evaluations> many = EvaluateMany(R"({
    "subject": {"type": "agent", "id": "agent-1"},
    "action": {"name": "tools/call"},
    "resource": {"type": "mcp_tool", "id": "default",
                 "properties": {"server": "files"}},
    "context": {"env": "prod"},
    "options": {"evaluations_semantic": "deny_on_first_deny"},
    "evaluations": [
      {},
      {"resource": {"type": "mcp_tool", "id": "other"}},
      {"subject": {"type": "agent", "id": "agent-2"}, "context": {"env": "dev"},
       "action": {"name": "tools/list"}}
    ]})");
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(many->semantic, Semantic::kDenyOnFirstDeny);
  ASSERT_EQ(many->checks.size(), 3);
  EXPECT_EQ(many->checks[0].tool().name(), "default");
  EXPECT_EQ(many->checks[0].tool().server(), "files");
  EXPECT_EQ(many->checks[1].tool().name(), "other");
  // A resource replaces the default whole: no server.
  EXPECT_EQ(many->checks[1].tool().server(), "");
  EXPECT_EQ(many->checks[1].subject().id(), "agent-1");
  EXPECT_EQ(many->checks[2].subject().id(), "agent-2");
  EXPECT_EQ(many->checks[2].action(), "tools/list");
  EXPECT_EQ(many->checks[2].context().fields().at("env").string_value(), "dev");
  EXPECT_EQ(many->checks[0].context().fields().at("env").string_value(),
            "prod");
}

TEST(EvaluationsTest, SemanticsAndTheSingleForm) {
  const std::string base = R"("action": {"name": "tools/call"},
      "resource": {"type": "mcp_tool", "id": "t"})";
  absl::StatusOr<Evaluations> one = EvaluateMany("{" + base + "}");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->semantic, Semantic::kExecuteAll);
  EXPECT_EQ(one->checks.size(), 1);
  absl::StatusOr<Evaluations> empty =
      EvaluateMany("{" + base + R"(, "evaluations": []})");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->checks.size(), 1);
  absl::StatusOr<Evaluations> permit = EvaluateMany(
      "{" + base +
      R"(, "options": {"evaluations_semantic": "permit_on_first_permit"}})");
  ASSERT_TRUE(permit.ok()) << permit.status();
  EXPECT_EQ(permit->semantic, Semantic::kPermitOnFirstPermit);
  absl::StatusOr<Evaluations> all = EvaluateMany(
      "{" + base + R"(, "options": {"evaluations_semantic": "execute_all"}})");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->semantic, Semantic::kExecuteAll);
}

TEST(EvaluationsTest, RefusesMalformedRequests) {
  const std::string base = R"("action": {"name": "tools/call"},
      "resource": {"type": "mcp_tool", "id": "t"})";
  const std::pair<std::string, std::string> cases[] = {
      {"{" + base + R"(, "evaluations": {}})", "must be an array"},
      {"{" + base + R"(, "evaluations": [1]})", "evaluations[0]: must be an"},
      {"{" + base + R"(, "evaluations": [{"x": 1}]})", "unknown member"},
      {R"({"evaluations": [{"resource": {"type": "mcp_tool", "id": "t"}}]})",
       "evaluations[0]: action: is required"},
      {"{" + base + R"(, "options": []})", "options: must be an object"},
      {"{" + base + R"(, "options": {"evaluations_semantic": "any"}})",
       "must be execute_all"},
      {"{" + base + R"(, "options": {"evaluations_semantic": 1}})",
       "must be a string"},
      {"{" + base + R"(, "options": {"other": 1}})", "unknown member"},
      {"{" + base + R"(, "evaluations": [{},{},{}]})", "at most 2"},
  };
  for (const auto& [body, says] : cases) {
    absl::StatusOr<Evaluations> many = EvaluateMany(body, 2);
    ASSERT_FALSE(many.ok()) << body;
    EXPECT_THAT(many.status().message(), HasSubstr(says)) << body;
  }
}

TEST(SearchTest, ActionSearchAsksEveryMethodOfTheType) {
  absl::StatusOr<Json> json = ParseBody(R"({
    "subject": {"type": "agent", "id": "a"},
    "resource": {"type": "mcp_tool", "id": "read_file",
                 "properties": {"server": "files"}},
    "context": {"env": "prod"}})",
                                        4);
  ASSERT_TRUE(json.ok());
  absl::StatusOr<Search> search = TranslateActionSearch(*json, Frame());
  ASSERT_TRUE(search.ok()) << search.status();
  ASSERT_EQ(search->batch.items_size(), 2);
  EXPECT_EQ(search->batch.items(0).action(), "tools/call");
  EXPECT_EQ(search->batch.items(1).action(), "tools/list");
  EXPECT_EQ(search->batch.items(0).tool().name(), "read_file");
  EXPECT_EQ(search->batch.subject().id(), "a");
  EXPECT_EQ(search->batch.context().fields().at("env").string_value(), "prod");
  EXPECT_EQ(search->entities[0], Json({{"name", "tools/call"}}));

  absl::StatusOr<Json> data =
      ParseBody(R"({"resource": {"type": "document", "id": "d"}})", 4);
  ASSERT_TRUE(data.ok());
  EXPECT_THAT(TranslateActionSearch(*data, Frame()).status().message(),
              HasSubstr("action search needs"));
  absl::StatusOr<Json> with_action = ParseBody(
      R"({"action": {"name": "x"}, "resource": {"type": "mcp_tool", "id": "d"}})",
      4);
  ASSERT_TRUE(with_action.ok());
  EXPECT_THAT(TranslateActionSearch(*with_action, Frame()).status().message(),
              HasSubstr("unknown member \"action\""));
}

absl::StatusOr<Search> SearchResources(const std::string& body) {
  absl::StatusOr<Json> json = ParseBody(body, 4);
  if (!json.ok()) return json.status();
  return TranslateResourceSearch(*json, Frame(), 4);
}

TEST(SearchTest, ResourceSearchListsTheCandidates) {
  absl::StatusOr<Search> search = SearchResources(R"({
    "subject": {"type": "agent", "id": "a"},
    "action": {"name": "tools/call"},
    "resource": {"type": "mcp_tool",
                 "properties": {"server": "files",
                                "candidates": ["read_file", "delete_file"]}},
    "page": {"limit": 1, "token": "1"}})");
  ASSERT_TRUE(search.ok()) << search.status();
  ASSERT_EQ(search->batch.items_size(), 2);
  EXPECT_EQ(search->batch.items(0).action(), "tools/list");
  EXPECT_EQ(search->batch.items(1).tool().name(), "delete_file");
  EXPECT_EQ(search->batch.items(1).tool().server(), "files");
  EXPECT_EQ(search->offset, 1);
  EXPECT_EQ(search->limit, 1);
  EXPECT_EQ(search->entities[1],
            Json({{"type", "mcp_tool"}, {"id", "delete_file"}}));

  absl::StatusOr<Search> resources = SearchResources(R"({
    "action": {"name": "resources/read"},
    "resource": {"type": "mcp_resource",
                 "properties": {"server": "files",
                                "candidates": ["file:///a"]}}})");
  ASSERT_TRUE(resources.ok()) << resources.status();
  EXPECT_EQ(resources->batch.items(0).action(), "resources/list");
  EXPECT_EQ(resources->batch.items(0).resource().id(), "file:///a");
}

TEST(SearchTest, ResourceSearchRefusesMalformedRequests) {
  const std::string tools = R"("resource": {"type": "mcp_tool",
      "properties": {"candidates": ["a"]}})";
  const std::pair<std::string, std::string> cases[] = {
      {"{" + tools + "}", "action: is required"},
      {R"({"action": {"name": "tools/call"}})", "resource: is required"},
      {R"({"action": {"name": "prompts/get"}, )" + tools + "}",
       "resource search asks"},
      {R"({"action": {"name": "tools/call"}, "resource": {"type": "mcp_tool"}})",
       "candidates: is required"},
      {R"({"action": {"name": "tools/call"}, "resource": {"type": "mcp_tool", "id": "x", "properties": {"candidates": ["a"]}}})",
       "a search names no"},
      {R"({"action": {"name": "tools/call"}, "resource": {"type": "mcp_tool", "properties": {"candidates": "a"}}})",
       "must be an array"},
      {R"({"action": {"name": "tools/call"}, "resource": {"type": "mcp_tool", "properties": {"candidates": [""]}}})",
       "non-empty strings"},
      {R"({"action": {"name": "tools/call"}, "resource": {"type": "mcp_tool", "properties": {"candidates": ["a","b","c","d","e"]}}})",
       "at most 4"},
      {R"({"action": {"name": "tools/call"}, )" + tools + R"(, "page": 1})",
       "page: must be an object"},
      {R"({"action": {"name": "tools/call"}, )" + tools +
           R"(, "page": {"token": "abc"}})",
       "not a token this PDP handed out"},
      {R"({"action": {"name": "tools/call"}, )" + tools +
           R"(, "page": {"token": "-1"}})",
       "not a token"},
      {R"({"action": {"name": "tools/call"}, )" + tools +
           R"(, "page": {"token": "99999999999"}})",
       "not a token"},
      {R"({"action": {"name": "tools/call"}, )" + tools +
           R"(, "page": {"limit": 0}})",
       "must be 1 to 4"},
      {R"({"action": {"name": "tools/call"}, )" + tools +
           R"(, "page": {"limit": 1.5}})",
       "must be an integer"},
      {R"({"action": {"name": "tools/call"}, )" + tools +
           R"(, "page": {"limit": 100000000000000000000}})",
       "must be an integer"},
      {R"({"action": {"name": "tools/call"}, )" + tools +
           R"(, "page": {"size": 1}})",
       "unknown member"},
  };
  for (const auto& [body, says] : cases) {
    absl::StatusOr<Search> search = SearchResources(body);
    ASSERT_FALSE(search.ok()) << body;
    EXPECT_THAT(search.status().message(), HasSubstr(says)) << body;
  }
}

TEST(AnswerTest, AnAllowCarriesItsIdsAndObligations) {
  v1::CheckResponse response;
  response.set_decision(v1::ALLOW);
  response.set_decision_id("d-1");
  response.set_policy_revision("rev");
  v1::Reason* reason = response.add_reasons();
  reason->set_code("allowed");
  reason->set_message("allowed by rule read-docs");
  reason->set_policy("agents");
  reason->set_rule("read-docs");
  reason->set_category(v1::REASON_CATEGORY_AUTHORIZATION);
  (*response.mutable_obligations()->mutable_fields())["redact"].set_bool_value(
      true);
  response.mutable_identity()->set_subject("agent-1");
  response.mutable_identity()->set_method("jwt");
  response.mutable_cache_ttl()->set_seconds(2);
  const Json json = DecisionJson(response);
  EXPECT_EQ(json["decision"], true);
  EXPECT_EQ(json["context"]["decision_id"], "d-1");
  EXPECT_EQ(json["context"]["policy_revision"], "rev");
  EXPECT_EQ(json["context"]["reasons"][0],
            Json({{"code", "allowed"},
                  {"message", "allowed by rule read-docs"},
                  {"category", "authorization"},
                  {"policy", "agents"},
                  {"rule", "read-docs"}}));
  EXPECT_EQ(json["context"]["obligations"]["redact"], true);
  EXPECT_EQ(json["context"]["identity"]["subject"], "agent-1");
  EXPECT_EQ(json["context"]["cache_ttl_ms"], 2000);
  EXPECT_FALSE(json["context"].contains("challenge"));
}

TEST(AnswerTest, ADenyCarriesItsChallenge) {
  v1::CheckResponse response;
  v1::Reason* reason = response.add_reasons();
  reason->set_code("insufficient_scope");
  reason->set_category(v1::REASON_CATEGORY_AUTHORIZATION);
  v1::Challenge* challenge = response.mutable_challenge();
  challenge->set_http_status(403);
  challenge->set_www_authenticate("Bearer error=\"insufficient_scope\"");
  challenge->add_required_scopes("crm:export");
  const Json json = DecisionJson(response);
  EXPECT_EQ(json["decision"], false);
  EXPECT_EQ(json["context"]["challenge"]["http_status"], 403);
  EXPECT_EQ(json["context"]["challenge"]["required_scopes"][0], "crm:export");
  EXPECT_EQ(json["context"]["challenge"]["www_authenticate"],
            "Bearer error=\"insufficient_scope\"");
}

TEST(AnswerTest, AConditionalItemIsADenyWithItsPaths) {
  v1::CheckResponse response;
  response.set_conditional(true);
  response.add_depends_on("tool.arguments.path");
  const Json json = DecisionJson(response);
  EXPECT_EQ(json["decision"], false);
  EXPECT_EQ(json["context"]["conditional"], true);
  EXPECT_EQ(json["context"]["depends_on"][0], "tool.arguments.path");
}

TEST(AnswerTest, SearchResultsArePagedAndMarked) {
  Search search;
  for (const char* id : {"a", "b", "c", "d"}) {
    search.entities.push_back(Json{{"type", "mcp_tool"}, {"id", id}});
  }
  v1::CheckBatchResponse response;
  response.add_results()->set_decision(v1::ALLOW);  // a
  response.add_results();                           // b: denied
  v1::CheckResponse* c = response.add_results();
  c->set_conditional(true);
  c->add_depends_on("tool.arguments.path");
  response.add_results()->set_decision(v1::ALLOW);  // d
  response.set_policy_revision("rev");
  search.limit = 2;
  Json first = SearchJson(search, response);
  ASSERT_EQ(first["results"].size(), 2);
  EXPECT_EQ(first["results"][0]["id"], "a");
  EXPECT_EQ(first["results"][1]["id"], "c");
  EXPECT_EQ(first["results"][1]["properties"]["conditional"], true);
  EXPECT_EQ(first["page"]["next_token"], "2");
  EXPECT_EQ(first["page"]["count"], 2);
  EXPECT_EQ(first["page"]["total"], 3);
  search.offset = 2;
  Json second = SearchJson(search, response);
  ASSERT_EQ(second["results"].size(), 1);
  EXPECT_EQ(second["results"][0]["id"], "d");
  EXPECT_EQ(second["page"]["next_token"], "");
  search.offset = 50;
  EXPECT_TRUE(SearchJson(search, response)["results"].empty());
}

TEST(AnswerTest, ARefusedSearchSaysWhy) {
  Search search;
  search.entities.push_back(Json{{"name", "tools/call"}});
  v1::CheckBatchResponse response;
  response.add_results();
  response.mutable_refusal()->set_code("invalid_token");
  response.mutable_refusal()->set_category(v1::REASON_CATEGORY_AUTHENTICATION);
  response.mutable_challenge()->set_http_status(401);
  const Json json = SearchJson(search, response);
  EXPECT_TRUE(json["results"].empty());
  EXPECT_EQ(json["context"]["refusal"]["code"], "invalid_token");
  EXPECT_EQ(json["context"]["challenge"]["http_status"], 401);
}

TEST(AnswerTest, MetadataNamesEveryServedEndpoint) {
  const Json json = MetadataJson("https://pdp.test:8443");
  EXPECT_EQ(json["policy_decision_point"], "https://pdp.test:8443");
  EXPECT_EQ(json["access_evaluation_endpoint"],
            "https://pdp.test:8443/access/v1/evaluation");
  EXPECT_EQ(json["access_evaluations_endpoint"],
            "https://pdp.test:8443/access/v1/evaluations");
  EXPECT_EQ(json["search_action_endpoint"],
            "https://pdp.test:8443/access/v1/search/action");
  EXPECT_EQ(json["search_resource_endpoint"],
            "https://pdp.test:8443/access/v1/search/resource");
  EXPECT_FALSE(json.contains("search_subject_endpoint"));
}

TEST(AnswerTest, ErrorBodyIsJson) {
  const Json json = Json::parse(ErrorBody("invalid_request", "bad \xff"));
  EXPECT_EQ(json["error"]["code"], "invalid_request");
}

}  // namespace
}  // namespace verdict::authzen
