// Tests of CompileCondition: every construct of the condition language
// compiles; every error kind is reported with its code, line and column;
// hostile input (deep nesting, huge text, random bytes) fails cleanly.

#include "server/policy/condition.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict::policy {
namespace {

using ::testing::HasSubstr;

struct Compiled {
  bool ok = false;
  std::vector<ConditionError> errors;
  std::optional<bool> constant;
  bool uses_now = false;
};

Compiled Compile(std::string_view text) {
  Compiled c;
  absl::StatusOr<Program> p = CompileCondition(text, &c.errors);
  c.ok = p.ok();
  if (p.ok()) {
    c.constant = p->constant_value();
    c.uses_now = p->uses_now();
  }
  return c;
}

std::string Describe(const std::vector<ConditionError>& errors) {
  std::string out;
  for (const ConditionError& e : errors) {
    out += std::to_string(e.line) + ":" + std::to_string(e.column) + " " +
           e.code + " " + e.message + "\n";
  }
  return out;
}

TEST(ConditionTest, EveryConstructCompiles) {
  const char* kValid[] = {
      "true",
      "false || true",
      "1 == 1",
      "0x1F == 31",
      "123u == 123",
      "1.5 < 2.0 && .5 < 1e3",
      "'a' == \"a\"",
      "r'\\d' == '\\\\d'",
      "'\\n\\t\\r\\\\\\\"\\'\\x41\\u00e9\\U0001F600' != ''",
      "null == null",
      "[1, 2, 3] == [1, 2, 3]",
      "{'a': 1, 2: 'b', true: [1]} == {'a': 1}",
      "subject.id == 'alice'",
      "subject['id'] == 'alice'",
      "'admin' in subject.roles",
      "'read' in subject.scopes",
      "subject.attributes.clearance > 2",
      "subject.attributes['clearance'] >= 2",
      "subject.trust_domain == 'corp' && subject.auth == 'jwt'",
      "actor.id == 'bot' && 'x' in actor.roles",
      "delegation.depth < 2 && size(delegation.chain) < 3",
      "tool.server == 'crm' && tool.name.startsWith('get_')",
      "tool.arguments.limit <= 100 && has(tool.annotations.readOnly)",
      "action == 'tools/call'",
      "resource.kind == 'dataset' && resource.id.endsWith('/x')",
      "resource.attributes.owner == subject.id",
      "context.environment in ['dev', 'prod']",
      "context['env'] in {'dev': 1}",
      "grant.id != '' && grant.task.contains('export')",
      "grant.environment == context.env && grant.scope.rows < 10",
      "grant.expires_at > now",
      "now.getHours() >= 9 && now.getMinutes() < 30 && "
      "now.getDayOfWeek() != 0",
      "timestamp('2025-01-31T12:00:00Z') < now",
      "has(grant.task) && has(context.a.b) && has(actor.id)",
      "size(subject.id) > 0 && subject.id.size() < 64",
      "size(context) > 0 && size([1]) == 1",
      "subject.id.matches('^a.*$') && matches(subject.id, 'b')",
      "subject.roles.exists(r, r.startsWith('crm'))",
      "subject.roles.all(r, r != 'banned')",
      "subject.roles.exists_one(r, r == 'owner')",
      "context.tags.exists(t, t == 'x') && context.m.all(k, k != '')",
      "[subject.id, 'x'].exists(v, v == 'x')",
      "[[1], [2]].all(l, l.exists(v, v > 0))",
      "int('3') == 3 && double(1) == 1.0 && string(1) == '1'",
      "int(now) > 0 && string(true) == 'true'",
      "1 + 2 * 3 - 4 / 2 % 3 == 5",
      "-1 < 1 && !false && -(1.5) < 0.0",
      "-9223372036854775808 < 0",
      "context.a ? context.b == 1 : context.c == 2",
      "true ? false : true ? true : false",
      "subject.id + '@' + subject.trust_domain == 'a@b'",
      "subject.roles + ['x'] == ['x']",
      "context.x == 1 // trailing comment",
      "  subject.id\n  == 'alice'\n",
      "[1, 2,] == [1, 2]",
  };
  for (const char* text : kValid) {
    const Compiled c = Compile(text);
    EXPECT_TRUE(c.ok) << text << "\n" << Describe(c.errors);
  }
}

TEST(ConditionTest, ConstantsFoldAndNowIsTracked) {
  EXPECT_EQ(Compile("true").constant, true);
  EXPECT_EQ(Compile("false").constant, false);
  EXPECT_EQ(Compile("1 > 2").constant, false);
  EXPECT_EQ(Compile("'a' < 'b' && 1.0 == 1").constant, true);
  EXPECT_EQ(Compile("false && subject.id == 'x'").constant, false);
  EXPECT_EQ(Compile("subject.id == 'x'").constant, std::nullopt);
  EXPECT_FALSE(Compile("subject.id == 'x'").uses_now);
  EXPECT_TRUE(Compile("now.getHours() > 9").uses_now);
  EXPECT_TRUE(Compile("grant.expires_at > now").uses_now);
}

struct ErrorCase {
  const char* text;
  const char* code;
  int line;
  int column;
  const char* message;  // a substring of the message
};

class ConditionErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConditionErrorTest, ReportsCodeAndPosition) {
  const ErrorCase& want = GetParam();
  const Compiled c = Compile(want.text);
  ASSERT_FALSE(c.ok) << want.text;
  ASSERT_FALSE(c.errors.empty());
  const ConditionError& e = c.errors.front();
  EXPECT_EQ(e.code, want.code) << Describe(c.errors);
  EXPECT_EQ(e.line, want.line) << Describe(c.errors);
  EXPECT_EQ(e.column, want.column) << Describe(c.errors);
  EXPECT_THAT(e.message, HasSubstr(want.message)) << Describe(c.errors);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ConditionErrorTest,
    ::testing::Values(
        // syntax
        ErrorCase{"(subject.id == 'a'", "syntax", 1, 19,
                  "expected ')' but found end of input"},
        ErrorCase{"subject.id == ", "syntax", 1, 15,
                  "expected an expression but found end of input"},
        ErrorCase{"subject.id = 'a'", "syntax", 1, 12,
                  "unexpected character '='"},
        ErrorCase{"a b", "syntax", 1, 3, "expected end of input but found 'b'"},
        ErrorCase{"subject.", "syntax", 1, 9, "expected a field name"},
        ErrorCase{"true ? 1", "syntax", 1, 9, "expected ':'"},
        ErrorCase{"", "syntax", 1, 1, "expected an expression"},
        ErrorCase{"99999999999999999999 > 1", "syntax", 1, 1,
                  "integer literal out of range"},
        ErrorCase{"has(subject)", "syntax", 1, 1, "has() needs one field"},
        // bad escape and unterminated string
        ErrorCase{"subject.id == 'a\\qb'", "syntax", 1, 17,
                  "invalid escape sequence '\\q'"},
        ErrorCase{"subject.id == '\\x4'", "syntax", 1, 16,
                  "invalid escape sequence '\\x'"},
        ErrorCase{"subject.id == 'abc", "syntax", 1, 15,
                  "unterminated string literal"},
        ErrorCase{"subject.id == \"abc\n\" ", "syntax", 1, 15,
                  "unterminated string literal"},
        // undeclared
        ErrorCase{"foo == 1", "undeclared", 1, 1, "undeclared reference 'foo'"},
        ErrorCase{"subject.id == 'a' && bar(1)", "undeclared", 1, 22,
                  "undeclared function 'bar'"},
        ErrorCase{"subject.id.frobnicate()", "undeclared", 1, 12,
                  "undeclared function 'frobnicate'"},
        // no_such_field
        ErrorCase{"subject.idd == 'a'", "no_such_field", 1, 9,
                  "no field 'idd' on subject"},
        ErrorCase{"has(grant.tsk)", "no_such_field", 1, 11,
                  "no field 'tsk' on grant"},
        ErrorCase{"actor.name == 'a'", "no_such_field", 1, 7,
                  "no field 'name' on actor"},
        // type
        ErrorCase{"subject.id > 3", "type", 1, 12,
                  "operator '>' cannot compare string and int"},
        ErrorCase{"!\"x\"", "type", 1, 1,
                  "operator '!' cannot apply to string"},
        ErrorCase{"size(1) == 1", "type", 1, 1, "size() does not apply to int"},
        ErrorCase{"tool.name + 1 == 'a'", "type", 1, 11,
                  "operator '+' cannot apply to string and int"},
        ErrorCase{"subject.roles.startsWith('a')", "type", 1, 15,
                  "startsWith() does not apply to list(string)"},
        ErrorCase{"subject.id", "type", 1, 1, "condition must be a bool"},
        ErrorCase{"1 + 2", "type", 1, 1, "condition must be a bool, found int"},
        ErrorCase{"subject == 1", "type", 1, 1, "'subject' is not a value"},
        ErrorCase{"1 in 'abc'", "type", 1, 3, "needs a list or map"},
        ErrorCase{"subject.id.matches(context.re)", "type", 1, 20,
                  "string literal pattern"},
        ErrorCase{"timestamp('yesterday') < now", "type", 1, 11,
                  "invalid RFC 3339 timestamp"},
        ErrorCase{"{'a': subject.id} == {}", "type", 1, 7,
                  "map literals must be constant"},
        // regex
        ErrorCase{"subject.id.matches('a(b')", "regex", 1, 20,
                  "invalid regular expression"},
        // limit
        ErrorCase{"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
                  "(((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))"
                  "))))))))))))))))))))))))))))))",
                  "limit", 1, 65, "nests deeper than 64"},
        // multi-line: positions are line and byte column within the line
        ErrorCase{"subject.id == 'a'\n  && context.env == 'x'\n  && "
                  "subject.nme == 'b'",
                  "no_such_field", 3, 14, "no field 'nme' on subject"},
        ErrorCase{"subject.id == 'a' &&\n\n    unknown_var", "undeclared", 3, 5,
                  "undeclared reference 'unknown_var'"}));

TEST(ConditionTest, ReportsEveryCheckError) {
  const Compiled c =
      Compile("subject.idd == 'a' || foo || tool.name > 1 || has(grant.x)");
  ASSERT_FALSE(c.ok);
  ASSERT_EQ(c.errors.size(), 4u) << Describe(c.errors);
  EXPECT_EQ(c.errors[0].code, "no_such_field");
  EXPECT_EQ(c.errors[0].column, 9);
  EXPECT_EQ(c.errors[1].code, "undeclared");
  EXPECT_EQ(c.errors[1].column, 23);
  EXPECT_EQ(c.errors[2].code, "type");
  EXPECT_EQ(c.errors[2].column, 40);
  EXPECT_EQ(c.errors[3].code, "no_such_field");
  EXPECT_EQ(c.errors[3].column, 57);
}

TEST(ConditionTest, ReportsSeveralLexicalErrors) {
  const Compiled c = Compile("'a\\q' == '\\z' &&\n  subject.id == '\\x1'");
  ASSERT_EQ(c.errors.size(), 3u) << Describe(c.errors);
  EXPECT_EQ(c.errors[0].column, 3);
  EXPECT_EQ(c.errors[1].column, 11);
  EXPECT_EQ(c.errors[2].line, 2);
  EXPECT_EQ(c.errors[2].column, 18);
  // Garbage yields a bounded number of errors, not one per byte.
  const Compiled garbage = Compile(std::string(kMaxConditionBytes, '#'));
  EXPECT_FALSE(garbage.ok);
  EXPECT_LE(garbage.errors.size(), 20u);
}

TEST(ConditionTest, AppendsToExistingErrors) {
  std::vector<ConditionError> errors(1);
  EXPECT_FALSE(CompileCondition("foo", &errors).ok());
  EXPECT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[1].code, "undeclared");
}

TEST(ConditionTest, DeepNestingIsALimitNotACrash) {
  for (const std::string& text :
       {std::string(100000, '('), std::string(10000, '!') + "true",
        std::string(10000, '-') + "1 > 0", std::string(8000, '[') + "1",
        "subject.id" + std::string(5000, '.'),
        [] {
          std::string s = "1";
          for (int i = 0; i < 2000; ++i) s += " + 1";
          return s + " > 0";
        }(),
        [] {
          std::string s = "true";
          for (int i = 0; i < 100; ++i) s = "(" + s + " ? true : false)";
          return s;
        }()}) {
    const Compiled c = Compile(text);
    ASSERT_FALSE(c.ok);
    ASSERT_FALSE(c.errors.empty());
    EXPECT_TRUE(c.errors[0].code == "limit" || c.errors[0].code == "syntax")
        << c.errors[0].code << " " << c.errors[0].message;
  }
  EXPECT_EQ(Compile(std::string(100000, '(')).errors[0].code, "limit");
  EXPECT_EQ(Compile(std::string(10000, '!') + "true").errors[0].code, "limit");
}

TEST(ConditionTest, LongFlatChainsStayWithinDepth) {
  std::string text = "context.x == 0";
  for (int i = 1; i < 300; ++i) {
    text += " || context.x == " + std::to_string(i);
  }
  EXPECT_TRUE(Compile(text).ok);
}

TEST(ConditionTest, OversizedTextIsALimit) {
  const std::string huge(1 << 20, 'a');
  const Compiled c = Compile(huge);
  ASSERT_FALSE(c.ok);
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].code, "limit");
  EXPECT_EQ(c.errors[0].line, 1);
  EXPECT_EQ(c.errors[0].column, 1);
  EXPECT_FALSE(Compile(std::string(kMaxConditionBytes + 1, ' ')).ok);
}

TEST(ConditionTest, TooManyNodesIsALimit) {
  std::string text = "[";
  for (int i = 0; i < 5000; ++i) text += "1,";
  text += "1] == []";
  const Compiled c = Compile(text);
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.errors[0].code, "limit");
}

// Random bytes and random token soup must never crash and must either
// compile or report at least one positioned error.
TEST(ConditionTest, RandomInputNeverCrashes) {
  std::mt19937 rng(20251126);
  const std::vector<std::string> kPieces = {
      "subject", ".",   "id",   "roles",   "(",   ")",       "[",   "]",
      "{",       "}",   ",",    ":",       "?",   "!",       "-",   "+",
      "*",       "/",   "%",    "==",      "<",   ">=",      "&&",  "||",
      "in",      "'s'", "\"t",  "1",       "0x",  "2.5e",    "has", "size",
      "exists",  "r",   "x",    "context", "now", "matches", "'('", "\\",
      "\n",      " ",   "null", "true"};
  int compiled = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    const int n = static_cast<int>(rng() % 40);
    for (int j = 0; j < n; ++j) {
      if (i % 2 == 0) {
        text.push_back(static_cast<char>(rng() % 256));
      } else {
        text += kPieces[rng() % kPieces.size()];
      }
    }
    const Compiled c = Compile(text);
    if (c.ok) {
      ++compiled;
      continue;
    }
    ASSERT_FALSE(c.errors.empty()) << text;
    for (const ConditionError& e : c.errors) {
      EXPECT_GE(e.line, 1);
      EXPECT_GE(e.column, 1);
      EXPECT_FALSE(e.code.empty());
    }
  }
  EXPECT_LT(compiled, 3000);
}

}  // namespace
}  // namespace verdict::policy
