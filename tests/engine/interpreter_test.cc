// Tests of EvaluateCondition: every construct of the condition language
// evaluated against a Request built here, including CEL's error absorption,
// missing keys and absent parts (kError naming the key), unknown arguments
// and resources (Kleene logic, the paths reported), and the promise that
// evaluation does not allocate.

#include "server/engine/interpreter.h"

#include <deque>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/policy/condition.h"
#include "tests/testing/allocation_counter.h"

namespace verdict::engine {

using model::EvalScratch;
using model::Principal;
using model::Request;
using model::StringList;
namespace {

google::protobuf::Struct ParseStruct(const std::string& json) {
  google::protobuf::Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return s;
}

class InterpreterTest : public ::testing::Test {
 protected:
  InterpreterTest() {
    roles_.Add("crm-reader");
    roles_.Add("crm-writer");
    scopes_.Add("contacts:read");
    chain_.Add("agent-b");
    actor_roles_.Add("bot");
    subject_attributes_ = ParseStruct(
        R"({"clearance": 3, "team": "sales", "ratio": 0.5, "big": 1e300})");
    context_ = ParseStruct(R"({
      "environment": "prod", "count": 7, "zero": 0, "flag": true,
      "nothing": null, "name": "héllo wörld", "tags": ["a", "b", "c"],
      "nums": [1, 2.5, 3], "nested": {"inner": {"deep": "yes"}},
      "mixed": [1, "x", true],
      "list_of_lists": [[1, 2], [3]], "empty": {}, "key": "environment"
    })");
    arguments_ = ParseStruct(R"({"limit": 50, "query": "acme"})");
    resource_attributes_ =
        ParseStruct(R"({"sensitivity": 2, "owner": "alice"})");
    grant_scope_ = ParseStruct(R"({"rows": 10})");

    request_.subject = {"alice",        &roles_, &scopes_, &subject_attributes_,
                        "corp.example", "jwt"};
    request_.tool = {"crm", "export_contacts", &arguments_, nullptr};
    request_.action = "tools/call";
    request_.context = &context_;
    // Tuesday 2025-01-07 14:35:00 UTC.
    request_.now = absl::FromUnixSeconds(1736260500);
  }

  void AddActor() {
    actor_ = {"agent-b", &actor_roles_,  nullptr,
              nullptr,   "corp.example", "x509"};
    request_.actor = &actor_;
    request_.delegation = {1, &chain_};
  }
  void AddResource() {
    request_.resource = {true, "dataset", "crm/contacts",
                         &resource_attributes_};
  }
  void AddGrant() {
    request_.grant = {true,   "g-1",         "export-q3",
                      "prod", &grant_scope_, request_.now + absl::Hours(1)};
  }

  const policy::Program& Compile(std::string_view text) {
    std::vector<policy::ConditionError> errors;
    absl::StatusOr<policy::Program> p = policy::CompileCondition(text, &errors);
    EXPECT_TRUE(p.ok()) << text << ": "
                        << (errors.empty() ? "" : errors[0].message);
    programs_.push_back(p.ok() ? std::move(*p) : policy::Program());
    return programs_.back();
  }
  ConditionOutcome Eval(std::string_view text) {
    return EvaluateCondition(Compile(text), request_, &scratch_);
  }
  Truth T(std::string_view text) { return Eval(text).truth; }
  // The paths an evaluation of `text` recorded, copied out of the scratch.
  std::vector<std::string> Paths(std::string_view text) {
    Eval(text);
    return {scratch_.unknown_paths().begin(), scratch_.unknown_paths().end()};
  }
  // A listed item: arguments unknown, and the resource too when it has none.
  void MakeListing() {
    request_.arguments_unknown = true;
    request_.resource_unknown = true;
  }

  StringList roles_, scopes_, chain_, actor_roles_;
  google::protobuf::Struct subject_attributes_, context_, arguments_,
      resource_attributes_, grant_scope_;
  Principal actor_;
  Request request_;
  EvalScratch scratch_;
  std::deque<policy::Program> programs_;
};

constexpr Truth kT = Truth::kTrue;
constexpr Truth kF = Truth::kFalse;
constexpr Truth kE = Truth::kError;
constexpr Truth kU = Truth::kUnknown;

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST_F(InterpreterTest, Literals) {
  EXPECT_EQ(T("true"), kT);
  EXPECT_EQ(T("false"), kF);
  EXPECT_EQ(T("null == null"), kT);
  EXPECT_EQ(T("0x10 == 16 && 7u == 7"), kT);
  EXPECT_EQ(T("1.5 == 1.5 && .5 == 0.5 && 1e3 == 1000"), kT);
  EXPECT_EQ(T("'a\\tb' == \"a\\x09b\" && '\\u00e9' == 'é'"), kT);
  EXPECT_EQ(T("r'\\d+' == '\\\\d+'"), kT);
  EXPECT_EQ(T("[1, 'a', true] == [1, 'a', true]"), kT);
  EXPECT_EQ(T("[1, 2] == [2, 1]"), kF);
  EXPECT_EQ(T("{'a': 1, 2: 'b'}['a'] == 1 && {'a': 1, 2: 'b'}[2] == 'b'"), kT);
  EXPECT_EQ(T("{'a': 1} == {'a': 1.0}"), kT);
  EXPECT_EQ(T("-9223372036854775808 < 0"), kT);
}

TEST_F(InterpreterTest, Arithmetic) {
  EXPECT_EQ(T("1 + 2 * 3 - 4 / 2 == 5"), kT);
  EXPECT_EQ(T("7 % 3 == 1 && -7 / 2 == -3"), kT);
  EXPECT_EQ(T("context.count * 2 == 14"), kT);
  EXPECT_EQ(T("context.count + 0.5 == 7.5"), kT);
  EXPECT_EQ(T("1.0 / 4 == 0.25"), kT);
  EXPECT_EQ(T("-context.count == -7"), kT);
  EXPECT_EQ(T("'ab' + 'cd' == 'abcd'"), kT);
  EXPECT_EQ(
      T("subject.id + '@' + subject.trust_domain == 'alice@corp.example'"), kT);
  EXPECT_EQ(T("[1] + context.tags == [1, 'a', 'b', 'c']"), kT);
  EXPECT_EQ(T("size(subject.roles + ['x']) == 3"), kT);

  const ConditionOutcome overflow =
      Eval("9223372036854775807 + context.count > 0");
  EXPECT_EQ(overflow.truth, kE);
  EXPECT_EQ(overflow.error, "integer overflow");
  EXPECT_EQ(T("9223372036854775807 * context.count > 0"), kE);
  EXPECT_EQ(T("-(-9223372036854775807 - context.count) > 0"), kE);
  EXPECT_EQ(T("-9223372036854775808 / (context.count - 8) > 0"), kE);
  const ConditionOutcome div = Eval("10 / context.zero == 1");
  EXPECT_EQ(div.truth, kE);
  EXPECT_EQ(div.error, "division by zero");
  EXPECT_EQ(Eval("10 % context.zero == 1").error, "modulo by zero");
  EXPECT_EQ(T("1.0 / context.zero > 0.0"), kE);
  EXPECT_EQ(T("context.name - 1 == 0"), kE);
  EXPECT_EQ(T("context.ratio % 2 == 0"), kE);
}

TEST_F(InterpreterTest, Comparisons) {
  EXPECT_EQ(T("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3"), kT);
  EXPECT_EQ(T("1 < 1.5 && 2.0 == 2 && 2 != 2.5"), kT);
  EXPECT_EQ(T("subject.attributes.clearance >= 3"), kT);
  EXPECT_EQ(T("subject.attributes.clearance == 3.0"), kT);
  EXPECT_EQ(T("subject.attributes.ratio < 1"), kT);
  EXPECT_EQ(T("'abc' < 'abd' && 'B' < 'a' && '' < 'a'"), kT);
  EXPECT_EQ(T("'é' > 'z'"), kT);  // bytewise
  EXPECT_EQ(T("false < true"), kT);
  // Equality across kinds is false, never an error.
  EXPECT_EQ(T("context.count == 'seven'"), kF);
  EXPECT_EQ(T("context.count != 'seven'"), kT);
  EXPECT_EQ(T("context.nothing == null"), kT);
  EXPECT_EQ(T("context.tags == ['a', 'b', 'c']"), kT);
  EXPECT_EQ(T("context.nested == {'inner': {'deep': 'yes'}}"), kT);
  EXPECT_EQ(T("context.nested == {'inner': {'deep': 'no'}}"), kF);
  EXPECT_EQ(T("context.nested == {'inner': 1}"), kF);
  EXPECT_EQ(T("context.nested.inner.deep == 'yes'"), kT);
  // Ordering across kinds is an error.
  const ConditionOutcome bad = Eval("context.name > 1");
  EXPECT_EQ(bad.truth, kE);
  EXPECT_EQ(bad.error, "no matching overload");
  EXPECT_EQ(bad.detail, ">");
}

TEST_F(InterpreterTest, In) {
  EXPECT_EQ(T("'crm-reader' in subject.roles"), kT);
  EXPECT_EQ(T("'admin' in subject.roles"), kF);
  EXPECT_EQ(T("context.environment in ['dev', 'prod']"), kT);  // const set
  EXPECT_EQ(T("context.environment in ['dev', 'test']"), kF);
  EXPECT_EQ(T("context.count in ['7', 'x']"), kF);
  EXPECT_EQ(T("2.5 in context.nums && 3 in context.nums"), kT);
  EXPECT_EQ(T("3.0 in context.nums"), kT);
  EXPECT_EQ(T("'b' in context.tags && !('z' in context.tags)"), kT);
  EXPECT_EQ(T("'environment' in context && !('missing' in context)"), kT);
  EXPECT_EQ(T("2 in {1: 'a', 2: 'b'}"), kT);
  EXPECT_EQ(T("subject.id in [context.name, 'alice']"), kT);
  EXPECT_EQ(T("[1, 2] in context.list_of_lists"), kT);
  EXPECT_EQ(T("1 in context.name"), kE);
  EXPECT_EQ(T("context.missing in ['a']"), kE);
}

TEST_F(InterpreterTest, ConstantSetScalesToLongAllowLists) {
  std::string text = "context.environment in [";
  for (int i = 0; i < 1000; ++i) text += "'env" + std::to_string(i) + "', ";
  text += "'prod']";
  EXPECT_EQ(T(text), kT);
}

TEST_F(InterpreterTest, Has) {
  EXPECT_EQ(T("has(context.environment)"), kT);
  EXPECT_EQ(T("has(context.missing)"), kF);
  EXPECT_EQ(T("has(context.nested.inner.deep)"), kT);
  EXPECT_EQ(T("has(context.nested.nope.deep)"), kF);
  EXPECT_EQ(T("has(context.name.x)"), kF);
  EXPECT_EQ(T("has(subject.id) && has(subject.roles)"), kT);
  EXPECT_EQ(T("has(subject.attributes.clearance)"), kT);
  EXPECT_EQ(T("has(subject.attributes.nope)"), kF);
  EXPECT_EQ(T("has(tool.annotations)"), kF);  // null struct: empty
  EXPECT_EQ(T("has(actor.id)"), kF);
  EXPECT_EQ(T("has(actor.attributes.x)"), kF);
  EXPECT_EQ(T("has(grant.task)"), kF);
  EXPECT_EQ(T("has(resource.kind)"), kF);
  AddActor();
  AddGrant();
  AddResource();
  EXPECT_EQ(T("has(actor.id) && has(grant.task) && has(resource.kind)"), kT);
  EXPECT_EQ(T("has(actor.scopes)"), kF);  // null list: empty
}

TEST_F(InterpreterTest, SizeCountsCodePoints) {
  EXPECT_EQ(T("size(context.name) == 11"), kT);  // "héllo wörld"
  EXPECT_EQ(T("context.name.size() == 11"), kT);
  EXPECT_EQ(T("size('😀') == 1 && size('') == 0"), kT);
  EXPECT_EQ(T("size(subject.roles) == 2 && size(context.tags) == 3"), kT);
  EXPECT_EQ(T("size(context) == 13 && size(context.empty) == 0"), kT);
  EXPECT_EQ(T("size({'a': 1}) == 1 && size([]) == 0"), kT);
  EXPECT_EQ(T("size(context.count) == 1"), kE);
  EXPECT_EQ(T("size(actor.roles) == 0"), kE);
}

TEST_F(InterpreterTest, StringMethods) {
  EXPECT_EQ(T("tool.name.startsWith('export_')"), kT);
  EXPECT_EQ(T("tool.name.endsWith('contacts')"), kT);
  EXPECT_EQ(T("tool.name.contains('port_con')"), kT);
  EXPECT_EQ(T("tool.name.contains('import')"), kF);
  EXPECT_EQ(T("context.name.startsWith('hé')"), kT);
  EXPECT_EQ(T("context.count.startsWith('7')"), kE);
  EXPECT_EQ(T("context.name.endsWith(context.count)"), kE);
}

TEST_F(InterpreterTest, Matches) {
  EXPECT_EQ(T("tool.name.matches('^export_[a-z]+$')"), kT);
  EXPECT_EQ(T("tool.name.matches('contact')"), kT);  // partial match
  EXPECT_EQ(T("matches(tool.name, '^import')"), kF);
  EXPECT_EQ(T("subject.id.matches('(?i)ALICE')"), kT);
  EXPECT_EQ(T("context.count.matches('7')"), kE);
}

TEST_F(InterpreterTest, Comprehensions) {
  EXPECT_EQ(T("subject.roles.exists(r, r.startsWith('crm-'))"), kT);
  EXPECT_EQ(T("subject.roles.exists(r, r == 'admin')"), kF);
  EXPECT_EQ(T("subject.roles.all(r, r.startsWith('crm-'))"), kT);
  EXPECT_EQ(T("subject.roles.all(r, r == 'crm-reader')"), kF);
  EXPECT_EQ(T("subject.roles.exists_one(r, r == 'crm-writer')"), kT);
  EXPECT_EQ(T("subject.roles.exists_one(r, r.startsWith('crm'))"), kF);
  EXPECT_EQ(T("context.nums.all(n, n > 0)"), kT);
  EXPECT_EQ(T("context.list_of_lists.exists(l, l.exists(n, n == 3))"), kT);
  EXPECT_EQ(T("context.tags.exists(t, context.tags.all(u, u >= t))"), kT);
  EXPECT_EQ(T("context.nested.exists(k, k == 'inner')"), kT);  // map keys
  EXPECT_EQ(T("{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])"), kT);
  EXPECT_EQ(T("[].all(x, false) && ![].exists(x, true)"), kT);
  EXPECT_EQ(T("[subject.id, tool.name].exists(v, v == 'alice')"), kT);
  // Errors: a deciding element wins, otherwise the error is the result.
  EXPECT_EQ(T("context.mixed.exists(v, v > 0)"), kT);
  EXPECT_EQ(T("context.mixed.exists(v, v > 5)"), kE);
  EXPECT_EQ(T("context.mixed.all(v, v < 0)"), kF);
  EXPECT_EQ(T("context.mixed.all(v, v > 0)"), kE);
  EXPECT_EQ(T("context.mixed.exists_one(v, v == 1)"), kT);
  EXPECT_EQ(T("context.mixed.exists_one(v, v > 0)"), kE);
  EXPECT_EQ(T("context.tags.exists(v, v)"), kE);  // non-bool predicate
  EXPECT_EQ(T("context.count.exists(v, true)"), kE);
  EXPECT_EQ(T("context.missing.exists(v, true)"), kE);
}

TEST_F(InterpreterTest, Ternary) {
  EXPECT_EQ(T("context.flag ? context.count == 7 : false"), kT);
  EXPECT_EQ(T("!context.flag ? true : context.environment == 'dev'"), kF);
  EXPECT_EQ(T("context.count ? true : false"), kE);
  EXPECT_EQ(T("context.missing ? true : false"), kE);
  EXPECT_EQ(T("(context.flag ? 1 : 'x') == 1"), kT);
}

TEST_F(InterpreterTest, LogicalOperatorsAbsorbErrorsLikeCel) {
  EXPECT_EQ(T("false && context.missing == 1"), kF);
  EXPECT_EQ(T("context.missing == 1 && false"), kF);
  EXPECT_EQ(T("true || context.missing == 1"), kT);
  EXPECT_EQ(T("context.missing == 1 || true"), kT);
  EXPECT_EQ(T("context.missing == 1 && true"), kE);
  EXPECT_EQ(T("context.missing == 1 || false"), kE);
  EXPECT_EQ(T("context.flag && context.missing == 1"), kE);
  EXPECT_EQ(T("!context.flag && context.missing == 1"), kF);
  EXPECT_EQ(T("context.count && true"), kE);  // non-bool operand
  EXPECT_EQ(T("!context.count"), kE);
  EXPECT_EQ(T("context.a == 1 || context.b == 2 || context.flag"), kT);
}

TEST_F(InterpreterTest, MissingKeysAreErrorsNamingTheKey) {
  const ConditionOutcome a = Eval("context.region == 'eu'");
  EXPECT_EQ(a.truth, kE);
  EXPECT_EQ(a.error, "no such key");
  EXPECT_EQ(a.detail, "region");
  const ConditionOutcome b = Eval("context.nested.inner.missing == 'x'");
  EXPECT_EQ(b.detail, "missing");
  const ConditionOutcome c = Eval("context['other'] == 1");
  EXPECT_EQ(c.detail, "other");
  const ConditionOutcome d = Eval("context[context.name] == 1");
  EXPECT_EQ(d.detail, "héllo wörld");
  const ConditionOutcome e = Eval("context[context.key + 'x'] == 1");
  EXPECT_EQ(e.error, "no such key");
  EXPECT_EQ(e.detail, "");  // the key lived in the scratch
  EXPECT_EQ(Eval("context[context.key] == 'prod'").truth, kT);
  EXPECT_EQ(Eval("context.tags[5] == 'a'").error, "index out of range");
  EXPECT_EQ(T("context.tags[1] == 'b' && context.tags[-1] == 'x'"), kE);
  EXPECT_EQ(T("tool.annotations.readOnly == true"), kE);
  // The detail is still readable after the scratch is reused.
  EvalScratch other;
  const policy::Program& p = Compile("context.zone == 1");
  const ConditionOutcome f = EvaluateCondition(p, request_, &other);
  Eval("context.name + 'x' == 'y'");
  EXPECT_EQ(f.detail, "zone");
}

TEST_F(InterpreterTest, AbsentActorGrantResource) {
  const ConditionOutcome actor = Eval("actor.id == 'agent-b'");
  EXPECT_EQ(actor.truth, kE);
  EXPECT_EQ(actor.detail, "actor");
  EXPECT_EQ(Eval("grant.task == 'x'").detail, "grant");
  EXPECT_EQ(Eval("resource.kind == 'dataset'").detail, "resource");
  EXPECT_EQ(T("delegation.depth == 0 && size(delegation.chain) == 0"), kT);

  AddActor();
  AddGrant();
  AddResource();
  EXPECT_EQ(T("actor.id == 'agent-b' && 'bot' in actor.roles"), kT);
  EXPECT_EQ(T("actor.auth == 'x509' && actor.trust_domain == 'corp.example'"),
            kT);
  EXPECT_EQ(T("delegation.depth == 1 && delegation.chain[0] == 'agent-b'"), kT);
  EXPECT_EQ(T("grant.task == 'export-q3' && grant.id == 'g-1'"), kT);
  EXPECT_EQ(T("grant.environment == context.environment"), kT);
  EXPECT_EQ(T("grant.scope.rows == 10 && grant.expires_at > now"), kT);
  EXPECT_EQ(T("resource.kind == 'dataset' && resource.id == 'crm/contacts'"),
            kT);
  EXPECT_EQ(T("resource.attributes.sensitivity > subject.attributes.clearance"),
            kF);
  EXPECT_EQ(T("resource.attributes.owner == subject.id"), kT);
}

TEST_F(InterpreterTest, RequestFields) {
  EXPECT_EQ(T("subject.id == 'alice' && subject.auth == 'jwt'"), kT);
  EXPECT_EQ(T("'contacts:read' in subject.scopes"), kT);
  EXPECT_EQ(T("subject.attributes.team == 'sales'"), kT);
  EXPECT_EQ(T("subject['trust_domain'] == 'corp.example'"), kT);
  EXPECT_EQ(T("tool.server == 'crm' && action == 'tools/call'"), kT);
  EXPECT_EQ(T("tool.arguments.limit <= 100 && tool.arguments.query == 'acme'"),
            kT);
  EXPECT_EQ(T("subject.roles[1] == 'crm-writer'"), kT);
  EXPECT_EQ(T("context.nums[1] == 2.5 && context.nums[1.0] == 2.5"), kT);
}

TEST_F(InterpreterTest, StructNumbersThatAreIntegralReadAsInt) {
  EXPECT_EQ(T("context.count % 2 == 1"), kT);  // % needs ints
  EXPECT_EQ(T("string(context.count) == '7'"), kT);
  EXPECT_EQ(T("string(subject.attributes.ratio) == '0.5'"), kT);
  EXPECT_EQ(T("subject.attributes.big > 1.0"), kT);  // too big: double
}

TEST_F(InterpreterTest, TimestampsAndNow) {
  EXPECT_EQ(T("now.getHours() == 14 && now.getMinutes() == 35"), kT);
  EXPECT_EQ(T("now.getDayOfWeek() == 2"), kT);  // Tuesday
  EXPECT_EQ(T("timestamp('2025-01-05T00:00:00Z').getDayOfWeek() == 0"), kT);
  EXPECT_EQ(T("now > timestamp('2025-01-07T14:34:59Z')"), kT);
  EXPECT_EQ(T("now < timestamp('2025-01-07T14:35:00.5Z')"), kT);
  EXPECT_EQ(T("now == timestamp('2025-01-07T16:35:00+02:00')"), kT);
  EXPECT_EQ(T("int(now) == 1736260500"), kT);
  EXPECT_EQ(T("string(now) == '2025-01-07T14:35:00Z'"), kT);
  EXPECT_EQ(T("context.name.getHours() == 1"), kE);
  AddGrant();
  EXPECT_EQ(T("grant.expires_at > now"), kT);
  request_.grant.expires_at = absl::InfiniteFuture();
  EXPECT_EQ(T("grant.expires_at > now && grant.expires_at > "
              "timestamp('9999-12-31T23:59:59.999Z')"),
            kT);
  request_.grant.expires_at = request_.now + absl::Hours(1);
  request_.now = absl::FromUnixSeconds(-1) + absl::Milliseconds(250);
  EXPECT_EQ(T("now < timestamp('1970-01-01T00:00:00Z') && "
              "now > timestamp('1969-12-31T23:59:59Z') && "
              "now == timestamp('1969-12-31T23:59:59.25Z')"),
            kT);
  request_.now = absl::FromUnixSeconds(1736260500);
  request_.now += absl::Hours(2);
  EXPECT_EQ(T("grant.expires_at > now"), kF);
  EXPECT_EQ(T("now.getHours() == 16"), kT);
}

TEST_F(InterpreterTest, Conversions) {
  EXPECT_EQ(T("int('42') == 42 && int(-3.9) == -3 && int(7) == 7"), kT);
  EXPECT_EQ(T("double(2) == 2.0 && double('2.5') == 2.5"), kT);
  EXPECT_EQ(T("string(12) == '12' && string(true) == 'true'"), kT);
  EXPECT_EQ(T("string(1.5) == '1.5' && string('s') == 's'"), kT);
  EXPECT_EQ(T("int(context.name) == 1"), kE);
  EXPECT_EQ(Eval("int('x') == 1").error, "invalid conversion");
  EXPECT_EQ(T("double('x') == 1.0"), kE);
  EXPECT_EQ(T("int(subject.attributes.big) == 1"), kE);
  EXPECT_EQ(T("int(context.tags) == 1"), kE);
}

TEST_F(InterpreterTest, NonBoolResultIsAnError) {
  const ConditionOutcome o = Eval("context.count");
  EXPECT_EQ(o.truth, kE);
  EXPECT_EQ(o.error, "not a bool");
  EXPECT_EQ(T("context.flag"), kT);
  EXPECT_EQ(EvaluateCondition(policy::Program(), request_, &scratch_).truth,
            kE);
}

TEST_F(InterpreterTest, DeepDynamicValuesFailClosed) {
  // Built by hand: the JSON parser refuses this depth.
  for (const char* key : {"deep", "deep2"}) {
    google::protobuf::Value* v = &(*context_.mutable_fields())[key];
    for (int i = 0; i < 60; ++i) {
      v = v->mutable_list_value()->add_values();
    }
    v->set_number_value(1);
  }
  EXPECT_EQ(Eval("context.deep == context.deep2").error,
            "value nested too deep");
}

TEST_F(InterpreterTest, ViewsSurviveMovingTheProgram) {
  std::vector<policy::ConditionError> errors;
  absl::StatusOr<policy::Program> compiled = policy::CompileCondition(
      "context.environment in ['dev', 'prod'] && "
      "{'k': 'v'}['k'] == 'v' && context.unknown_key == 1",
      &errors);
  ASSERT_TRUE(compiled.ok());
  policy::Program moved = std::move(*compiled);
  policy::Program target;
  target = std::move(moved);
  const ConditionOutcome o = EvaluateCondition(target, request_, &scratch_);
  EXPECT_EQ(o.truth, kE);
  EXPECT_EQ(o.detail, "unknown_key");
}

// Random well-formed expressions over the request: whatever they compute,
// evaluation returns one of the three truths without crashing. With the
// arguments and resource unknown it may also answer unknown, and an answer
// it does give holds for the request's actual arguments (partial evaluation
// is sound).
TEST_F(InterpreterTest, RandomExpressionsEvaluateWithoutCrashing) {
  AddActor();
  std::mt19937 rng(7);
  const std::vector<std::string> kLeaves = {"context.count",
                                            "context.zero",
                                            "context.name",
                                            "context.tags",
                                            "context.nums",
                                            "context.nested",
                                            "context.missing",
                                            "context.flag",
                                            "subject.id",
                                            "subject.roles",
                                            "subject.attributes.clearance",
                                            "tool.arguments",
                                            "tool.arguments.limit",
                                            "tool.arguments.query",
                                            "actor.id",
                                            "grant.task",
                                            "resource.id",
                                            "now",
                                            "delegation.depth",
                                            "0",
                                            "-1",
                                            "9223372036854775807",
                                            "2.5",
                                            "'x'",
                                            "''",
                                            "true",
                                            "null",
                                            "[1, 'a']",
                                            "{'a': 1}",
                                            "[]"};
  const std::vector<std::string> kBinary = {
      "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "in", "&&", "||"};
  std::function<std::string(int)> gen = [&](int depth) -> std::string {
    if (depth == 0) return kLeaves[rng() % kLeaves.size()];
    switch (rng() % 8) {
      case 0:
        return "!(" + gen(depth - 1) + ")";
      case 1:
        return "-(" + gen(depth - 1) + ")";
      case 2:
        return "size(" + gen(depth - 1) + ")";
      case 3:
        return "(" + gen(depth - 1) + ").exists(v, v == " + gen(depth - 1) +
               ")";
      case 4:
        return "(" + gen(depth - 1) + ") ? (" + gen(depth - 1) + ") : (" +
               gen(depth - 1) + ")";
      case 5:
        return "(" + gen(depth - 1) + ")[" + gen(depth - 1) + "]";
      default:
        return "(" + gen(depth - 1) + ") " + kBinary[rng() % kBinary.size()] +
               " (" + gen(depth - 1) + ")";
    }
  };
  int evaluated = 0, unknown = 0, known_partially = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = gen(1 + static_cast<int>(rng() % 4));
    if (i % 2 == 1) text = "(" + text + ") == (" + gen(2) + ")";
    std::vector<policy::ConditionError> errors;
    absl::StatusOr<policy::Program> p = policy::CompileCondition(text, &errors);
    if (!p.ok()) {
      EXPECT_FALSE(errors.empty()) << text;
      continue;
    }
    ++evaluated;
    const ConditionOutcome o = EvaluateCondition(*p, request_, &scratch_);
    EXPECT_TRUE(o.truth == kT || o.truth == kF || o.truth == kE) << text;
    if (o.truth == kE) {
      EXPECT_FALSE(o.error.empty()) << text;
    }
    Request listing = request_;
    listing.arguments_unknown = true;
    listing.resource_unknown = true;
    const ConditionOutcome partial = EvaluateCondition(*p, listing, &scratch_);
    if (partial.truth == kU) {
      ++unknown;
      EXPECT_FALSE(scratch_.unknown_paths().empty()) << text;
    } else if (partial.truth != kE) {
      ++known_partially;
      EXPECT_EQ(partial.truth, o.truth) << text;
    }
  }
  EXPECT_GT(evaluated, 100);
  EXPECT_GT(unknown, 20);
  EXPECT_GT(known_partially, 20);
}

// Kleene's three-valued && and || over CEL's errors: a deciding operand wins
// over unknowns and errors, an unknown over an error, in either order.
TEST_F(InterpreterTest, KleeneTruthTableWithErrorsAndUnknowns) {
  MakeListing();
  // Operands the compiler cannot fold: true, false, unknown, error.
  const std::map<char, std::string> operand = {{'T', "context.flag"},
                                               {'F', "!context.flag"},
                                               {'U', "tool.arguments.x == 1"},
                                               {'E', "context.missing == 1"}};
  struct Row {
    char a, b;
    Truth a_and_b, a_or_b;
  };
  const Row kTable[] = {
      {'T', 'T', kT, kT}, {'T', 'F', kF, kT}, {'T', 'U', kU, kT},
      {'T', 'E', kE, kT}, {'F', 'F', kF, kF}, {'F', 'U', kF, kU},
      {'F', 'E', kF, kE}, {'U', 'U', kU, kU}, {'U', 'E', kU, kU},
      {'E', 'E', kE, kE},
  };
  for (const Row& row : kTable) {
    const std::string& a = operand.at(row.a);
    const std::string& b = operand.at(row.b);
    for (const auto& [x, y] : {std::pair(a, b), std::pair(b, a)}) {
      EXPECT_EQ(T("(" + x + ") && (" + y + ")"), row.a_and_b)
          << row.a << " && " << row.b;
      EXPECT_EQ(T("(" + x + ") || (" + y + ")"), row.a_or_b)
          << row.a << " || " << row.b;
    }
  }
  EXPECT_EQ(T("!(tool.arguments.x == 1)"), kU);
  // Three operands: one deciding operand anywhere decides.
  EXPECT_EQ(T("tool.arguments.x == 1 && context.missing == 1 && "
              "!context.flag"),
            kF);
  EXPECT_EQ(T("tool.arguments.x == 1 || context.missing == 1 || "
              "context.flag"),
            kT);
  EXPECT_EQ(T("context.missing == 1 || tool.arguments.x == 1 || "
              "!context.flag"),
            kU);
}

TEST_F(InterpreterTest, StrictOperatorsPassUnknownsOn) {
  MakeListing();
  for (const char* text : {
           "tool.arguments.x == 1",
           "1 != tool.arguments.x",
           "tool.arguments.n < 3",
           "tool.arguments.n + 1 > 3",
           "-tool.arguments.n == 1",
           "tool.arguments.s in ['a', 'b']",
           "'a' in tool.arguments.list",
           "'path' in tool.arguments",
           "size(tool.arguments) > 0",
           "size(tool.arguments.s) > 0",
           "tool.arguments.s.startsWith('/tmp')",
           "tool.arguments.s.endsWith(tool.name)",
           "tool.name.contains(tool.arguments.s)",
           "tool.arguments.s.matches('^a')",
           "int(tool.arguments.n) == 1",
           "double(tool.arguments.n) == 1.0",
           "string(tool.arguments.n) == '1'",
           "tool.arguments.t.getHours() == 1",
           "tool.arguments.x",
           "tool.arguments[0] == 1",
           "tool.arguments.list[0] == 1",
           "[tool.arguments.x, 1] == [1, 1]",
           "tool.arguments.c ? true : false",
           "(context.flag ? tool.arguments.x : 1) == 1",
           "tool.arguments.list.exists(v, v == 1)",
           "tool.arguments.list.all(v, v == 1)",
           "tool.arguments.list.exists_one(v, v == 1)",
           "has(tool.arguments.x)",
           "has(tool.arguments)",
           "tool.arguments == {}",
       }) {
    EXPECT_EQ(T(text), kU) << text;
  }
  // The first special operand, left to right, is the result.
  EXPECT_EQ(T("context.missing == tool.arguments.x"), kE);
  EXPECT_EQ(T("tool.arguments.x == context.missing"), kU);
  EXPECT_EQ(T("context.missing + tool.arguments.n > 1"), kE);
  // A branch not taken is not evaluated.
  EXPECT_EQ(T("context.flag ? true : tool.arguments.x == 1"), kT);
}

TEST_F(InterpreterTest, ComprehensionsOverUnknowns) {
  MakeListing();
  // exists: a true predicate wins over unknowns and errors.
  EXPECT_EQ(T("context.tags.exists(t, t == 'b' || tool.arguments[t] == 1)"),
            kT);
  EXPECT_EQ(T("context.tags.exists(t, tool.arguments[t] == 1)"), kU);
  // all: a false one does.
  EXPECT_EQ(T("context.tags.all(t, t != 'b' && tool.arguments[t] == 1)"), kF);
  EXPECT_EQ(T("context.tags.all(t, tool.arguments[t] == 1)"), kU);
  // Otherwise an unknown beats an error, whichever comes first: mixed is
  // [1, "x", true] and `v > 5` errs on "x".
  EXPECT_EQ(T("context.mixed.exists(v, v == 1 ? tool.arguments.x == 1 : "
              "v > 5)"),
            kU);
  EXPECT_EQ(T("context.mixed.exists(v, v == true ? tool.arguments.x == 1 : "
              "v > 5)"),
            kU);
  EXPECT_EQ(T("context.mixed.all(v, v == true ? tool.arguments.x == 1 : "
              "v > 0)"),
            kU);
  // exists_one: the first special predicate is the result.
  EXPECT_EQ(T("context.mixed.exists_one(v, v == 'x' ? tool.arguments.x == 1 "
              ": v > 5)"),
            kU);
  EXPECT_EQ(T("context.mixed.exists_one(v, v == 1 ? v > 'a' : "
              "tool.arguments.x == 1)"),
            kE);
}

TEST_F(InterpreterTest, WhatLoadsAsUnknown) {
  AddResource();
  MakeListing();
  // Arguments are unknown; other fields are not, and a present resource is
  // known even when the listing says it may be unknown.
  EXPECT_EQ(T("tool.name == 'export_contacts' && subject.id == 'alice'"), kT);
  EXPECT_EQ(T("resource.kind == 'dataset'"), kT);
  EXPECT_EQ(T("context.region == 'eu'"), kE);
  request_.resource = {};
  const ConditionOutcome kind = Eval("resource.kind == 'dataset'");
  EXPECT_EQ(kind.truth, kU);
  EXPECT_EQ(kind.detail, "resource.kind");
  EXPECT_THAT(Paths("resource.id == 'x'"), ElementsAre("resource.id"));
  EXPECT_THAT(Paths("has(resource.kind)"), ElementsAre("resource.kind"));
  EXPECT_THAT(Paths("resource.attributes.sensitivity > 2"),
              ElementsAre("resource.attributes.sensitivity"));
  EXPECT_THAT(Paths("has(resource.attributes.owner)"),
              ElementsAre("resource.attributes.owner"));
  // Without the flags, the same conditions read the request as before.
  request_.arguments_unknown = false;
  request_.resource_unknown = false;
  EXPECT_EQ(T("tool.arguments.limit <= 100"), kT);
  EXPECT_EQ(Eval("resource.kind == 'dataset'").detail, "resource");
  EXPECT_EQ(T("has(resource.kind)"), kF);
  EXPECT_THAT(Paths("resource.kind == 'x'"), IsEmpty());
}

TEST_F(InterpreterTest, UnknownPathsNameWhatTheResultDependsOn) {
  MakeListing();
  // Selections and constant string keys extend the path and replace the
  // map's own.
  EXPECT_THAT(Paths("tool.arguments.path.startsWith('/tmp/')"),
              ElementsAre("tool.arguments.path"));
  EXPECT_EQ(Eval("tool.arguments.path == 'x'").detail, "tool.arguments.path");
  EXPECT_THAT(Paths("tool.arguments.a.b == 1"),
              ElementsAre("tool.arguments.a.b"));
  EXPECT_THAT(Paths("tool.arguments['path'] == 'x'"),
              ElementsAre("tool.arguments.path"));
  EXPECT_THAT(Paths("tool.arguments.a['b'].c == 1"),
              ElementsAre("tool.arguments.a.b.c"));
  EXPECT_THAT(Paths("tool.arguments['a.b'] == 1"),
              ElementsAre("tool.arguments[\"a.b\"]"));
  EXPECT_THAT(Paths("has(tool.arguments.a.b)"),
              ElementsAre("tool.arguments.a.b"));
  // Keys that are not identifiers are quoted; the path stays valid UTF-8.
  EXPECT_THAT(Paths(R"(tool.arguments['a"b\\c\x01'] == 1)"),
              ElementsAre(R"(tool.arguments["a\"b\\c\x01"])"));
  EXPECT_THAT(Paths("tool.arguments['caf\u00e9'].x == 1"),
              ElementsAre("tool.arguments[\"caf\u00e9\"].x"));
  EXPECT_THAT(Paths(R"(tool.arguments['\xff'] == 1)"),
              ElementsAre(R"(tool.arguments["\xFF"])"));
  // A dynamic key, or a list index, keeps the base path.
  EXPECT_THAT(Paths("tool.arguments[context.key] == 1"),
              ElementsAre("tool.arguments"));
  EXPECT_THAT(Paths("tool.arguments.list[0].name == 1"),
              ElementsAre("tool.arguments.list"));
  EXPECT_THAT(Paths("size(tool.arguments) > 0"), ElementsAre("tool.arguments"));
  // Every path, once, in first-appearance order.
  EXPECT_THAT(Paths("tool.arguments.b == 1 || tool.arguments.a == 1 || "
                    "tool.arguments.b == 2"),
              ElementsAre("tool.arguments.b", "tool.arguments.a"));
  EXPECT_THAT(Paths("context.tags.all(t, tool.arguments[t] == 1)"),
              ElementsAre("tool.arguments"));
  // The whole map is a dependency when something reads it whole.
  EXPECT_THAT(Paths("size(tool.arguments) < 3 && tool.arguments.path == 'x'"),
              ElementsAre("tool.arguments", "tool.arguments.path"));
  EXPECT_THAT(Paths("tool.arguments.path == 'x' && size(tool.arguments) < 3"),
              ElementsAre("tool.arguments.path", "tool.arguments"));
  // What a deciding operand absorbed is not a dependency.
  EXPECT_THAT(Paths("(tool.arguments.a == 1 && !context.flag) || "
                    "tool.arguments.b == 1"),
              ElementsAre("tool.arguments.b"));
  EXPECT_THAT(Paths("context.tags.exists(t, t == 'c' || tool.arguments.x == "
                    "t) && tool.arguments.y == 1"),
              ElementsAre("tool.arguments.y"));
}

TEST_F(InterpreterTest, UnknownPathsOutliveTheScratch) {
  MakeListing();
  const policy::Program& p = Compile("tool.arguments.path == '/etc'");
  ASSERT_EQ(EvaluateCondition(p, request_, &scratch_).truth, kU);
  const std::string_view path = scratch_.unknown_paths().at(0);
  Eval("tool.arguments.other == 1 && context.name + 'x' == 'y'");
  EXPECT_EQ(path, "tool.arguments.path");
}

TEST_F(InterpreterTest, EvaluationDoesNotAllocate) {
  if (!verdict::testing::CountsAllocations()) {
    GTEST_SKIP() << "allocations are not counted";
  }
  const char* kConditions[] = {
      "subject.id == 'alice' && 'crm-reader' in subject.roles",
      "context.environment in ['dev', 'prod'] && context.count > 3",
      "subject.attributes.clearance >= 2 && has(context.nested.inner)",
      "tool.name.matches('^export_') && tool.name.startsWith('ex')",
      "subject.roles.exists(r, r.endsWith('writer')) && size(context.name) > 1",
      "context.tags.all(t, t in context.tags) && now.getHours() > 1",
      "context.missing == 1 || context.flag",
      "[subject.id, tool.name].exists(v, v == 'alice')",
      "subject.id + '@x' == 'alice@x'",
      "context.tags.all(t, [t, t + '!'].exists(u, u.endsWith('!')))",
  };
  for (const char* text : kConditions) {
    const policy::Program& p = Compile(text);
    ASSERT_EQ(EvaluateCondition(p, request_, &scratch_).truth, kT) << text;
    const long before = verdict::testing::Allocations();
    for (int i = 0; i < 10; ++i) EvaluateCondition(p, request_, &scratch_);
    EXPECT_EQ(verdict::testing::Allocations() - before, 0) << text;
  }
  // Unknowns record their paths in the scratch, which keeps its capacity.
  MakeListing();
  const char* kUnknown[] = {
      "tool.arguments.path.startsWith('/tmp/') && size(tool.arguments) < 4",
      "tool.arguments.a.b == 1 || context.tags.all(t, tool.arguments[t] == 1)",
      "has(tool.arguments.x) && resource.attributes.level > 2",
  };
  for (const char* text : kUnknown) {
    const policy::Program& p = Compile(text);
    ASSERT_EQ(EvaluateCondition(p, request_, &scratch_).truth, kU) << text;
    const long before = verdict::testing::Allocations();
    for (int i = 0; i < 10; ++i) EvaluateCondition(p, request_, &scratch_);
    EXPECT_EQ(verdict::testing::Allocations() - before, 0) << text;
  }
}

}  // namespace
}  // namespace verdict::engine
