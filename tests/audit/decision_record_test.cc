// A decision record is one line of valid JSON with the fields the spec
// lists, bounded whatever the request held (fields cut on a character
// boundary and marked), never holding the byte 0xff, and carrying the
// client's correlation only when it is well formed.

#include "server/audit/decision_record.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/engine/engine.h"
#include "server/model/decision.h"
#include "server/model/reason.h"
#include "server/policy/policy_set.h"

namespace verdict::audit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTraceparent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const policy::Rule& ReadContacts() {
  static const policy::Rule* const rule = [] {
    auto* rule = new policy::Rule;
    rule->policy = "crm-agents";
    rule->id = "read-contacts";
    rule->effect = policy::Effect::kAllow;
    return rule;
  }();
  return *rule;
}

std::vector<engine::Reason> Allowed() {
  return {{.code = model::ReasonCode::kAllowedByRule, .rule = &ReadContacts()}};
}

DecisionRecordInput Input(const std::vector<engine::Reason>& reasons) {
  return {
      .time = absl::FromUnixMicros(1796000000123456),
      .decision_id = "0123456789abcdef0123456789abcdef",
      .caller = "ipv4:127.0.0.1:4000",
      .subject_id = "spiffe://corp.example/agent/crm/r1",
      .auth_method = "asserted",
      .tool_server = "crm",
      .tool_name = "get_contact",
      .action = "tools/call",
      .decision = model::Decision::kAllow,
      .reasons = reasons,
      .policy_revision = "3be1f0a2c4d5e6f7",
      .latency = absl::Microseconds(4),
  };
}

nlohmann::json Format(const DecisionRecordInput& input, bool* whole = nullptr) {
  std::string out;
  const bool complete = AppendDecisionRecord(input, &out);
  if (whole != nullptr) *whole = complete;
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out.find('\xff'), std::string::npos);
  nlohmann::json json = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << out;
  return json;
}

TEST(DecisionRecordTest, HasTheSpecFields) {
  const std::vector<engine::Reason> reasons = Allowed();
  google::protobuf::Struct context;
  (*context.mutable_fields())["environment"].set_string_value("prod");
  DecisionRecordInput input = Input(reasons);
  input.context = &context;
  bool whole = false;
  const nlohmann::json record = Format(input, &whole);
  EXPECT_TRUE(whole);
  EXPECT_EQ(record["decision_id"], "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(record["time"], "2026-11-30T00:53:20.123456Z");
  EXPECT_EQ(record["subject"]["id"], "spiffe://corp.example/agent/crm/r1");
  EXPECT_EQ(record["subject"]["auth"], "asserted");
  EXPECT_FALSE(record["subject"].contains("error"));
  EXPECT_EQ(record["tool"]["name"], "get_contact");
  EXPECT_EQ(record["decision"], "allow");
  EXPECT_EQ(record["reasons"][0]["code"], "allowed_by_rule");
  EXPECT_EQ(record["reasons"][0]["policy"], "crm-agents");
  EXPECT_EQ(record["reasons"][0]["rule"], "read-contacts");
  EXPECT_EQ(record["policy_revision"], "3be1f0a2c4d5e6f7");
  EXPECT_EQ(record["context_digest"].get<std::string>().size(), 16u);
  EXPECT_EQ(record["latency_us"], 4);
  EXPECT_FALSE(record.contains("truncated"));
  EXPECT_FALSE(record.contains("request_id"));
  EXPECT_FALSE(record.contains("trace"));
  EXPECT_FALSE(record.contains("batch")) << "a Check is not part of a batch";
}

TEST(DecisionRecordTest, BatchItemsSayWhichBatchAndWhere) {
  const std::vector<engine::Reason> reasons = Allowed();
  DecisionRecordInput input = Input(reasons);
  input.batch = {
      .id = "fedcba9876543210fedcba9876543210", .index = 2, .size = 3};
  nlohmann::json record = Format(input);
  EXPECT_EQ(record["batch"]["id"], "fedcba9876543210fedcba9876543210");
  EXPECT_EQ(record["batch"]["index"], 2);
  EXPECT_EQ(record["batch"]["size"], 3);
  EXPECT_FALSE(record["batch"].contains("source"));

  input.batch.source = "Grants.Issue";
  record = Format(input);
  EXPECT_EQ(record["batch"]["source"], "Grants.Issue");
}

TEST(DecisionRecordTest, SingleDecisionNamesItsProtocol) {
  const std::vector<engine::Reason> reasons = Allowed();
  DecisionRecordInput input = Input(reasons);
  nlohmann::json record = Format(input);
  EXPECT_FALSE(record.contains("source"));
  EXPECT_FALSE(record.contains("batch"));
  input.batch.source = "ext_authz";
  record = Format(input);
  EXPECT_EQ(record["source"], "ext_authz");
  EXPECT_FALSE(record.contains("batch"));
}

TEST(DecisionRecordTest, ConditionalListingNamesItsPaths) {
  const std::vector<engine::Reason> reasons = {
      {.code = model::ReasonCode::kConditional, .rule = &ReadContacts()}};
  const std::vector<std::string_view> paths = {"tool.arguments.path",
                                               "resource"};
  DecisionRecordInput input = Input(reasons);
  input.action = "tools/list";
  input.decision = model::Decision::kConditional;
  input.depends_on = paths;
  const nlohmann::json record = Format(input);
  EXPECT_EQ(record["decision"], "conditional");
  EXPECT_EQ(record["depends_on"],
            nlohmann::json::array({"tool.arguments.path", "resource"}));
  EXPECT_EQ(record["reasons"][0]["code"], "conditional");

  input.decision = model::Decision::kAllow;
  input.depends_on = {};
  EXPECT_FALSE(Format(input).contains("depends_on"));
}

TEST(DecisionRecordTest, AuthenticationFailureCarriesMethodAndMessage) {
  const std::vector<engine::Reason> reasons = {
      {.code = model::ReasonCode::kSignatureInvalid}};
  DecisionRecordInput input = Input(reasons);
  input.decision = model::Decision::kDeny;
  input.subject_id = "";
  input.auth_method = "jwt";
  input.auth_error = "bearer_token: the signature does not verify";
  const nlohmann::json record = Format(input);
  EXPECT_EQ(record["decision"], "deny");
  EXPECT_EQ(record["reasons"][0]["code"], "signature_invalid");
  EXPECT_FALSE(record["reasons"][0].contains("rule"));
  EXPECT_EQ(record["subject"]["auth"], "jwt");
  EXPECT_EQ(record["subject"]["error"],
            "bearer_token: the signature does not verify");
}

TEST(DecisionRecordTest, EveryFieldIsBoundedAndCutOnACharacter) {
  const std::vector<engine::Reason> reasons = Allowed();
  // 900 KB of a three-byte character, a quote and a control character: the
  // worst case for escaping.
  std::string huge;
  while (huge.size() < 900000) huge += "\xe2\x82\xac\"\x01";
  DecisionRecordInput input = Input(reasons);
  input.subject_id = huge;
  input.caller = huge;
  input.tool_server = huge;
  input.tool_name = huge;
  input.action = huge;
  input.auth_error = huge;
  input.request_id = huge;
  input.batch = {.id = huge, .index = 1023, .size = 1024, .source = huge};
  v1::Resource resource;
  resource.set_kind(huge);
  resource.set_id(huge);
  input.resource = &resource;
  std::string out;
  EXPECT_FALSE(AppendDecisionRecord(input, &out));
  EXPECT_LT(out.size(), 24u << 10);
  const nlohmann::json record = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(record.is_discarded()) << "cut inside a character or escape";
  EXPECT_EQ(record["truncated"], true);
  const std::string id = record["subject"]["id"];
  EXPECT_LE(id.size(), kMaxIdBytes);
  EXPECT_GT(id.size(), kMaxIdBytes / 4);
  EXPECT_LE(record["request_id"].get<std::string>().size(), kMaxRequestIdBytes);
  EXPECT_LE(record["batch"]["id"].get<std::string>().size(),
            kMaxBatchFieldBytes);
}

TEST(DecisionRecordTest, BytesThatAreNeverUtf8BecomeReplacementCharacters) {
  const std::vector<engine::Reason> reasons = Allowed();
  DecisionRecordInput input = Input(reasons);
  input.tool_name =
      "a\xff\xfe"
      "b";
  const nlohmann::json record = Format(input);
  EXPECT_EQ(record["tool"]["name"],
            "a\xef\xbf\xbd\xef\xbf\xbd"
            "b");
}

TEST(DecisionRecordTest, ReasonsAreCountedPastTheLimit) {
  const std::vector<engine::Reason> reasons(41, Allowed().front());
  const nlohmann::json record = Format(Input(reasons));
  EXPECT_EQ(record["reasons"].size(), static_cast<size_t>(kMaxReasons));
  EXPECT_EQ(record["reasons_omitted"], 41 - kMaxReasons);
}

TEST(DecisionRecordTest, CorrelationIsWrittenWhenWellFormed) {
  const std::vector<engine::Reason> reasons = Allowed();
  DecisionRecordInput input = Input(reasons);
  input.request_id = "req-42";
  input.traceparent = kTraceparent;
  input.tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  nlohmann::json record = Format(input);
  EXPECT_EQ(record["request_id"], "req-42");
  EXPECT_EQ(record["trace"]["traceparent"], kTraceparent);
  EXPECT_EQ(record["trace"]["tracestate"],
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");

  input.traceparent = "00-not-a-trace";
  record = Format(input);
  EXPECT_FALSE(record.contains("trace")) << "an invalid traceparent is dropped";
  EXPECT_EQ(record["request_id"], "req-42");

  input.traceparent = kTraceparent;
  const std::string long_state(kMaxTracestateBytes + 1, 'a');
  input.tracestate = long_state;
  record = Format(input);
  EXPECT_TRUE(record.contains("trace"));
  EXPECT_FALSE(record["trace"].contains("tracestate"));
}

TEST(DecisionRecordTest, TraceparentValidation) {
  EXPECT_TRUE(IsValidTraceparent(kTraceparent));
  EXPECT_TRUE(IsValidTraceparent(
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
  EXPECT_FALSE(IsValidTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  EXPECT_FALSE(IsValidTraceparent(
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(IsValidTraceparent(
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(IsValidTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(IsValidTraceparent(
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(IsValidTraceparent(""));
}

}  // namespace
}  // namespace verdict::audit
