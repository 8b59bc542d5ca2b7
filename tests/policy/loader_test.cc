// Loader and compiler diagnostics: every error kind with its exact
// file:line:col, errors collected and sorted, condition errors mapped from
// the condition text to the file for each scalar style, and the golden
// broken file under tests/testdata/policy/.

#include "server/policy/loader.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/quote.h"
#include "server/common/utf8.h"
#include "server/policy/compiler.h"
#include "server/policy/condition.h"

namespace verdict::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<Diagnostic> Diagnose(const std::vector<SourceFile>& files) {
  std::vector<Diagnostic> diagnostics;
  absl::StatusOr<std::unique_ptr<const PolicySet>> set =
      CompileSources(files, &diagnostics);
  EXPECT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  return diagnostics;
}

// "file:line:col: error[code]: message" for every diagnostic of one file.
std::vector<std::string> Errors(const std::string& text) {
  std::vector<std::string> out;
  for (const Diagnostic& d : Diagnose({{"p.yaml", text}})) {
    out.push_back(d.ToString());
  }
  return out;
}

std::string Head(const std::string& error) {
  return error.substr(0, error.find("]:") + 1);
}

std::vector<std::string> Heads(const std::string& text) {
  std::vector<std::string> heads;
  for (const std::string& e : Errors(text)) heads.push_back(Head(e));
  return heads;
}

TEST(LoaderTest, SpecExampleLoads) {
  const std::string text = R"yaml(policy: crm-agents
description: CRM agents read contacts; exports need a task and clearance.
subjects: ["spiffe://corp.example/agent/crm/*"]
roles: [crm-reader, crm-writer]
rules:
  - id: read-contacts
    effect: allow
    servers: [crm]
    tools: ["search_contacts", "get_*"]
    actions: ["tools/call", "tools/list"]
  - id: exports-need-clearance
    effect: deny
    servers: [crm]
    tools: ["export_*"]
    resources: ["dataset:crm/*"]
    reason: export of data above the agent's clearance
  - id: export-with-task
    effect: allow
    roles: [crm-writer]
    servers: [crm]
    tools: ["export_*"]
    obligations: {max_rows: 1000}
)yaml";
  std::vector<Diagnostic> diagnostics;
  std::vector<AstPolicy> policies =
      LoadPolicyFile("p.yaml", text, &diagnostics);
  EXPECT_TRUE(diagnostics.empty());
  ASSERT_EQ(policies.size(), 1u);
  const AstPolicy& policy = policies[0];
  EXPECT_EQ(policy.name.text, "crm-agents");
  EXPECT_EQ(policy.name.position.line, 1);
  EXPECT_EQ(policy.name.position.column, 9);
  ASSERT_TRUE(policy.subjects.has_value());
  EXPECT_EQ((*policy.subjects)[0].text, "spiffe://corp.example/agent/crm/*");
  ASSERT_EQ(policy.rules.size(), 3u);
  EXPECT_EQ(policy.rules[0].id.text, "read-contacts");
  EXPECT_EQ(policy.rules[0].effect, Effect::kAllow);
  EXPECT_EQ(policy.rules[0].position.line, 6);
  EXPECT_EQ(policy.rules[0].position.column, 5);
  ASSERT_TRUE(policy.rules[0].tools.has_value());
  EXPECT_EQ((*policy.rules[0].tools)[1].text, "get_*");
  EXPECT_EQ((*policy.rules[0].tools)[1].position.line, 9);
  EXPECT_EQ((*policy.rules[0].tools)[1].position.column, 32);
  EXPECT_FALSE(policy.rules[0].resources.has_value());
  EXPECT_EQ(policy.rules[1].effect, Effect::kDeny);
  EXPECT_EQ(policy.rules[1].reason.text,
            "export of data above the agent's clearance");
  EXPECT_EQ(policy.rules[2].obligations.fields().at("max_rows").number_value(),
            1000);
}

TEST(LoaderTest, UnknownKeysNameTheKeyAndTheAllowedOnes) {
  EXPECT_THAT(Errors("policy: p\nowner: me\nrules:\n  - id: r\n    effect: "
                     "allow\n    colour: blue\n"),
              ElementsAre("p.yaml:2:1: error[unknown_key]: unknown key "
                          "\"owner\" in policy document; allowed: policy, "
                          "description, "
                          "subjects, roles, rules",
                          "p.yaml:6:5: error[unknown_key]: unknown key "
                          "\"colour\" in rule; allowed: id, effect, "
                          "description, servers, tools, actions, resources, "
                          "subjects, roles, when, reason, obligations, "
                          "scopes, limit"));
}

TEST(LoaderTest, MissingRequiredKeys) {
  EXPECT_THAT(Errors("description: d\n"),
              ElementsAre("p.yaml:1:1: error[missing_key]: missing required "
                          "key \"policy\" in policy document",
                          "p.yaml:1:1: error[missing_key]: missing required "
                          "key \"rules\" in policy document"));
  EXPECT_THAT(Errors("policy: p\nrules:\n  - tools: [x]\n"),
              ElementsAre("p.yaml:3:5: error[missing_key]: missing required "
                          "key \"id\" in rule",
                          "p.yaml:3:5: error[missing_key]: missing required "
                          "key \"effect\" in rule"));
}

TEST(LoaderTest, WrongYamlTypes) {
  EXPECT_THAT(Errors("- a\n- b\n"),
              ElementsAre("p.yaml:1:1: error[bad_type]: a policy document "
                          "must be a map, got a list"));
  EXPECT_THAT(Heads("policy: [p]\nrules: {a: b}\n"),
              ElementsAre("p.yaml:1:9: error[bad_type]",
                          "p.yaml:2:8: error[bad_type]"));
  EXPECT_THAT(
      Errors("policy: p\nrules:\n  - id: r\n    effect: allow\n    servers: "
             "crm\n    tools: [[a]]\n    when: [x]\n    obligations: 3\n  - "
             "7\n"),
      ElementsAre(
          "p.yaml:5:14: error[bad_type]: \"servers\" must be a list of "
          "strings, got a scalar",
          "p.yaml:6:13: error[bad_type]: entries of \"tools\" must be "
          "strings, got a list",
          "p.yaml:7:11: error[bad_type]: \"when\" must be a string, got a "
          "list",
          "p.yaml:8:18: error[bad_type]: \"obligations\" must be a map, got a "
          "scalar",
          "p.yaml:9:5: error[bad_type]: a rule must be a map, got a scalar"));
  // A key without a value is reported at the key.
  EXPECT_THAT(Errors("policy:\nrules:\n  - id: r\n    effect: allow\n"),
              ElementsAre("p.yaml:1:1: error[bad_type]: \"policy\" must be a "
                          "string, got null"));
}

TEST(LoaderTest, EmptyGlobsAndEmptyLists) {
  EXPECT_THAT(
      Errors("policy: p\nroles: []\nrules:\n  - id: r\n    effect: allow\n "
             "   tools: [a, \"\"]\n    servers: []\n    resources: ['']\n"),
      ElementsAre("p.yaml:2:8: error[empty_list]: \"roles\" is an empty list, "
                  "which matches nothing; omit the key to match any",
                  "p.yaml:6:16: error[empty_glob]: empty glob in \"tools\"",
                  "p.yaml:7:14: error[empty_list]: \"servers\" is an empty "
                  "list, which matches nothing; omit the key to match any",
                  "p.yaml:8:17: error[empty_glob]: empty glob in "
                  "\"resources\""));
  EXPECT_THAT(Errors("policy: p\nrules: []\n"),
              ElementsAre("p.yaml:2:8: error[empty_list]: \"rules\" is an "
                          "empty list; a policy needs at least one rule"));
}

TEST(LoaderTest, DuplicateMappingKeys) {
  EXPECT_THAT(
      Errors("policy: p\nrules:\n  - id: r\n    effect: allow\n    "
             "obligations: {a: {b: 1, b: 2}}\n    effect: deny\npolicy: q\n"),
      ElementsAre("p.yaml:5:29: error[duplicate_key]: in \"obligations\": "
                  "duplicate key \"b\"",
                  "p.yaml:6:5: error[duplicate_key]: duplicate key \"effect\" "
                  "in rule (first at line 4)",
                  "p.yaml:7:1: error[duplicate_key]: duplicate key \"policy\" "
                  "in policy document (first at line 1)"));
}

TEST(LoaderTest, DuplicatePoliciesAcrossFilesAndDuplicateRules) {
  const std::string a =
      "policy: p\nrules:\n  - id: r\n    effect: allow\n  - id: r\n    "
      "effect: deny\n";
  const std::string b = "\n\npolicy: p\nrules:\n  - id: r\n    effect: deny\n";
  std::vector<std::string> errors;
  for (const Diagnostic& d : Diagnose({{"b.yaml", b}, {"a.yaml", a}})) {
    errors.push_back(d.ToString());
  }
  EXPECT_THAT(errors,
              ElementsAre("a.yaml:5:9: error[duplicate_rule]: rule \"r\" is "
                          "already defined in policy \"p\" at line 3",
                          "b.yaml:3:9: error[duplicate_policy]: policy \"p\" "
                          "is already defined at a.yaml:1:9"));
}

TEST(LoaderTest, BadEffectAndObligationsOnDeny) {
  EXPECT_THAT(
      Errors("policy: p\nrules:\n  - id: r\n    effect: permit\n    "
             "obligations: {x: 1}\n  - id: s\n    effect: deny\n    "
             "obligations: {x: 1}\n"),
      ElementsAre("p.yaml:4:13: error[bad_effect]: effect must be \"allow\" "
                  "or \"deny\", got \"permit\"",
                  "p.yaml:8:5: error[obligations_on_deny]: obligations are "
                  "only allowed on allow rules"));
}

TEST(LoaderTest, ScopesAreDistinctOAuthScopeTokensOnAllowRules) {
  EXPECT_THAT(
      Errors("policy: p\nrules:\n  - id: r\n    effect: deny\n"
             "    scopes: [crm:export]\n"),
      ElementsAre("p.yaml:5:5: error[scopes_on_deny]: scopes are only "
                  "allowed on allow rules: they name what a token needs for "
                  "the rule to allow"));
  EXPECT_THAT(
      Errors("policy: p\nrules:\n  - id: r\n    effect: allow\n"
             "    scopes: [a, \"b c\", 'd\"', 'e\\', a, \"\", \"\\u00e9\"]\n"),
      ElementsAre(
          "p.yaml:5:17: error[bad_scope]: scope \"b c\" is not an OAuth "
          "scope token (printable ASCII without spaces, '\"' or '\\')",
          "p.yaml:5:24: error[bad_scope]: scope \"d\\x22\" is not an OAuth "
          "scope token (printable ASCII without spaces, '\"' or '\\')",
          "p.yaml:5:30: error[bad_scope]: scope \"e\\x5C\" is not an OAuth "
          "scope token (printable ASCII without spaces, '\"' or '\\')",
          "p.yaml:5:36: error[bad_scope]: scope \"a\" is listed twice",
          "p.yaml:5:39: error[bad_scope]: scope \"\" is not an OAuth scope "
          "token (printable ASCII without spaces, '\"' or '\\')",
          "p.yaml:5:43: error[bad_scope]: scope \"\xC3\xA9\" is not an OAuth "
          "scope token (printable ASCII without spaces, '\"' or '\\')"));
  EXPECT_THAT(Heads("policy: p\nrules:\n  - id: r\n    effect: allow\n"
                    "    scopes: []\n  - id: s\n    effect: allow\n"
                    "    scopes: crm:export\n  - id: t\n    effect: allow\n"
                    "    scopes: [[a]]\n"),
              ElementsAre("p.yaml:5:13: error[empty_list]",
                          "p.yaml:8:13: error[bad_type]",
                          "p.yaml:11:14: error[bad_type]"));
}

TEST(LoaderTest, RuleWithTooManyTargetCombinationsIsRefused) {
  std::string list = "[";
  for (int i = 0; i < 41; ++i) list += (i ? ", n" : "n") + std::to_string(i);
  list += "]";
  EXPECT_THAT(
      Errors("policy: p\nrules:\n  - id: r\n    effect: allow\n"
             "    actions: " +
             list + "\n    servers: " + list + "\n    tools: " + list + "\n"),
      ElementsAre("p.yaml:3:5: error[limit]: rule lists 68921 action "
                  "x server x tool combinations; the limit is 65536: "
                  "split the rule"));
}

TEST(LoaderTest, YamlSyntaxErrorsCarryTheirMark) {
  const std::vector<Diagnostic> d =
      Diagnose({{"p.yaml", "policy: p\nrules: [a\nx: 1\n"}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].code, "yaml");
  EXPECT_EQ(d[0].line, 3);
  EXPECT_EQ(d[0].column, 2);
  EXPECT_EQ(d[0].snippet, "x");
  EXPECT_EQ(d[0].ToString(),
            "p.yaml:3:2: error[yaml]: end of sequence flow not found");
}

// yaml-cpp 0.7's LoadAll never returns (and keeps allocating) when a document
// starts with a ',' outside a flow collection; found by
// fuzz/policy_compiler_fuzzer. Each of these must be a prompt yaml error.
TEST(LoaderTest, CommaWhereADocumentStartsIsAnErrorNotAHang) {
  EXPECT_THAT(Errors(","),
              ElementsAre("p.yaml:1:1: error[yaml]: unexpected ',' outside a "
                          "flow collection"));
  EXPECT_THAT(Heads("policy: p\nrules: []\n---\n,\n"),
              ElementsAre("p.yaml:4:1: error[yaml]"));
  EXPECT_THAT(Heads("[a]\n,"), ElementsAre("p.yaml:2:1: error[yaml]"));
  EXPECT_THAT(Heads("'x' ,"), ElementsAre("p.yaml:1:5: error[yaml]"));
  EXPECT_THAT(Heads("&a ,"), ElementsAre("p.yaml:1:4: error[yaml]"));
  EXPECT_THAT(Heads("  policy: p\n,"), ElementsAre("p.yaml:2:1: error[yaml]"));
  EXPECT_THAT(Heads("policy: p\r\nrules: []\r\n---\r\n,\r\n"),
              ElementsAre("p.yaml:4:1: error[yaml]"));
}

// Files whose documents all start with a top-level key skip the extra walk
// that guards against the loop above; the rest take it and still load.
TEST(LoaderTest, DocumentsOfEveryShapeStillLoad) {
  for (const std::string text :
       {"policy: a\nrules: [{id: r, effect: allow}]\n",
        "# c\n---\npolicy: a\nrules: [{id: r, effect: allow}]\n...\n"
        "---\npolicy: b\nrules: [{id: r, effect: deny}]\n",
        "{policy: a, rules: [{id: r, effect: allow}]}\n",
        "%YAML 1.2\n--- {policy: a, rules: [{id: r, effect: allow}]}\n",
        "  policy: a\n  rules: [{id: r, effect: allow}]\n"}) {
    std::vector<Diagnostic> diagnostics;
    EXPECT_TRUE(CompileSources({{"p.yaml", text}}, &diagnostics).ok()) << text;
    EXPECT_TRUE(diagnostics.empty()) << text;
  }
}

TEST(LoaderTest, InvalidUtf8IsAnEncodingError) {
  EXPECT_THAT(Errors("policy: p\nrules:\n  - id: caf\xC3\n    effect: allow\n"),
              ElementsAre("p.yaml:3:12: error[encoding]: invalid UTF-8 (byte "
                          "0xC3)"));
  EXPECT_THAT(Heads("\xFF"), ElementsAre("p.yaml:1:1: error[encoding]"));
  // Overlong encodings and surrogates are invalid too.
  EXPECT_THAT(Heads("a: \xC0\xAF"), ElementsAre("p.yaml:1:4: error[encoding]"));
  EXPECT_THAT(Heads("a: \xED\xA0\x80"),
              ElementsAre("p.yaml:1:4: error[encoding]"));
  EXPECT_EQ(FindInvalidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"),
            std::string_view::npos);
}

// Where CompileCondition places its first error inside `condition`.
std::pair<int, int> ConditionErrorAt(const std::string& condition) {
  std::vector<ConditionError> errors;
  EXPECT_FALSE(CompileCondition(condition, &errors).ok()) << condition;
  if (errors.empty()) return {0, 0};
  return {errors[0].line, errors[0].column};
}

std::string RuleWithWhen(const std::string& when_line) {
  return "policy: p\nrules:\n  - id: r\n    effect: allow\n" + when_line;
}

TEST(LoaderTest, ConditionErrorsInPlainScalarsMapExactly) {
  const std::string condition = "context.x == @";
  const auto [line, column] = ConditionErrorAt(condition);
  ASSERT_EQ(line, 1);
  const std::vector<Diagnostic> d =
      Diagnose({{"p.yaml", RuleWithWhen("    when: " + condition + "\n")}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].code, "condition");
  EXPECT_EQ(d[0].line, 5);
  EXPECT_EQ(d[0].column, 10 + column);  // the scalar starts at column 11
  EXPECT_EQ(d[0].snippet, "@");
}

TEST(LoaderTest, ConditionErrorsInQuotedScalarsSkipQuotesAndEscapes) {
  // Decoded: context.x == "a\tb" && @  (the escapes take extra raw bytes).
  const auto [line, column] = ConditionErrorAt("context.x == \"a\tb\" && @");
  ASSERT_EQ(line, 1);
  std::vector<Diagnostic> d = Diagnose(
      {{"p.yaml",
        RuleWithWhen("    when: \"context.x == \\\"a\\tb\\\" && @\"\n")}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].line, 5);
  // Scalar at column 11, its text at 12; three escapes add one byte each.
  EXPECT_EQ(d[0].column, 11 + column + 3);

  const auto [line2, column2] = ConditionErrorAt("context.x == 'it''s' && @");
  ASSERT_EQ(line2, 1);
  d = Diagnose({{"p.yaml",
                 RuleWithWhen("    when: 'context.x == ''it''''s'' && @'\n")}});
  ASSERT_EQ(d.size(), 1u);
  // The decoded text has four quotes before the error, each doubled in the
  // file.
  EXPECT_EQ(d[0].column, 11 + column2 + 4);
}

TEST(LoaderTest, ConditionErrorsInLiteralBlocksMapLineByLine) {
  const std::string condition = "context.a &&\n  bogus.x\n";
  const auto [line, column] = ConditionErrorAt(condition);
  ASSERT_EQ(line, 2);
  const std::vector<Diagnostic> d = Diagnose(
      {{"p.yaml",
        RuleWithWhen("    when: |\n      context.a &&\n        bogus.x\n")}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].line, 7);
  EXPECT_EQ(d[0].column, 6 + column);  // block indentation is 6
  EXPECT_EQ(d[0].snippet, "bogus.x");
}

TEST(LoaderTest, ConditionErrorsInFoldedBlocksPointAtTheScalar) {
  const std::vector<Diagnostic> d = Diagnose(
      {{"p.yaml",
        RuleWithWhen("    when: >\n      context.a &&\n        bogus.x\n")}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].code, "condition");
  EXPECT_EQ(d[0].line, 5);
  EXPECT_EQ(d[0].column, 11);
}

TEST(LoaderTest, ByteOrderMarkAndCrLfKeepPositionsExact) {
  const auto [line, column] = ConditionErrorAt("context.x == @");
  ASSERT_EQ(line, 1);
  std::vector<Diagnostic> d =
      Diagnose({{"p.yaml",
                 "\xEF\xBB\xBF" + RuleWithWhen("    when: context.x == @\n")}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].line, 5);
  EXPECT_EQ(d[0].column, 10 + column);

  const auto [block_line, block_column] =
      ConditionErrorAt("context.a &&\n  bogus.x\n");
  ASSERT_EQ(block_line, 2);
  d = Diagnose({{"p.yaml",
                 "policy: p\r\nrules:\r\n  - id: r\r\n    effect: allow\r\n"
                 "    when: |\r\n      context.a &&\r\n        bogus.x\r\n"}});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].line, 7);
  EXPECT_EQ(d[0].column, 6 + block_column);
  EXPECT_EQ(d[0].snippet, "bogus.x");
}

TEST(LoaderTest, ManyErrorsAreCollectedAndSortedByFileAndPosition) {
  const std::string bad =
      "policy: p\nrules:\n  - id: r\n    effect: nope\n    tools: []\n";
  std::vector<Diagnostic> d =
      Diagnose({{"z.yaml", bad},
                {"a/b.yaml", "policy: q\nx: 1\nrules: 3\n"},
                {"m.yaml", "\xFF"}});
  std::vector<std::string> heads;
  for (const Diagnostic& diagnostic : d) {
    heads.push_back(Head(diagnostic.ToString()));
  }
  EXPECT_THAT(heads, ElementsAre("a/b.yaml:2:1: error[unknown_key]",
                                 "a/b.yaml:3:8: error[bad_type]",
                                 "m.yaml:1:1: error[encoding]",
                                 "z.yaml:4:13: error[bad_effect]",
                                 "z.yaml:5:12: error[empty_list]"));
}

TEST(LoaderTest, MultiDocumentFilesSkipEmptyDocuments) {
  std::vector<Diagnostic> diagnostics;
  const std::vector<AstPolicy> policies = LoadPolicyFile(
      "p.yaml",
      "---\n# only a comment\n---\npolicy: a\nrules: [{id: r, effect: "
      "allow}]\n---\n---\npolicy: b\nrules: [{id: r, effect: deny}]\n...\n",
      &diagnostics);
  EXPECT_TRUE(diagnostics.empty());
  ASSERT_EQ(policies.size(), 2u);
  EXPECT_EQ(policies[0].name.text, "a");
  EXPECT_EQ(policies[1].name.text, "b");
  EXPECT_EQ(policies[1].name.position.line, 8);
}

// Unlike an empty document, an explicit null is a document that is not a
// policy.
TEST(LoaderTest, AnExplicitNullDocumentIsNotAPolicy) {
  EXPECT_THAT(Errors("policy: a\nrules: [{id: r, effect: allow}]\n--- ~\n"),
              ElementsAre("p.yaml:3:5: error[bad_type]: a policy document "
                          "must be a map, got null"));
}

TEST(LoaderTest, MutatedPoliciesNeverCrashAndAlwaysExplainFailure) {
  const std::string seed_text = R"yaml(policy: crm
subjects: ["spiffe://corp/agent/*"]
rules:
  - id: read
    effect: allow
    tools: ["get_*", 'search']
    when: |
      context.environment in ["dev", "prod"] &&
        size(tool.arguments) < 3
    obligations: {max_rows: 10, mask: [a, {b: c}]}
  - id: deny
    effect: deny
    resources: ["dataset:*"]
    when: "resource.attributes.level > 2"
---
policy: other
rules: [{id: x, effect: allow}]
)yaml";
  const std::string alphabet = "\n :-[]{}'\"|>*?&!#%@\\az09\t\xC3\xFF";
  std::mt19937 rng(7);
  for (int round = 0; round < 3000; ++round) {
    std::string text = seed_text;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + at, c);
          break;
        default:
          text.erase(at, 1 + rng() % 8);
          break;
      }
      if (text.empty()) text = "x";
    }
    std::vector<Diagnostic> diagnostics;
    auto set = CompileSources({{"m.yaml", text}}, &diagnostics);
    if (set.ok()) {
      EXPECT_TRUE(diagnostics.empty());
      continue;
    }
    ASSERT_FALSE(diagnostics.empty()) << text;
    const int lines =
        1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    for (const Diagnostic& d : diagnostics) {
      EXPECT_EQ(d.file, "m.yaml");
      EXPECT_GE(d.line, 0);
      EXPECT_LE(d.line, lines) << d.ToString() << "\n" << text;
      EXPECT_FALSE(d.code.empty());
    }
  }
}

// A file that is not a policy (a credentials file copied or linked in by
// mistake) is quoted one bounded, escaped token at a time, never by line.
TEST(LoaderTest, DiagnosticsQuoteAtMostTheOffendingToken) {
  const std::string secret(60, 'S');
  const std::string line = "    effect: " + secret + "-the-rest-of-the-line";
  const std::vector<Diagnostic> d =
      Diagnose({{"p.yaml", "policy: p\nrules:\n  - id: r\n" + line + "\n" +
                               "    \"k\\u0007" + secret + "\": 1\n"}});
  ASSERT_EQ(d.size(), 2u);
  for (const Diagnostic& diagnostic : d) {
    const std::string shown = diagnostic.ToString() + diagnostic.snippet;
    EXPECT_THAT(shown, Not(HasSubstr(secret.substr(0, kMaxQuotedBytes + 1))))
        << shown;
    EXPECT_THAT(shown, Not(HasSubstr("the-rest-of-the-line")));
    EXPECT_EQ(shown.find('\a'), std::string::npos) << shown;
    EXPECT_LE(diagnostic.snippet.size(), 4 * kMaxQuotedBytes + 3);
  }
  EXPECT_THAT(
      d[0].ToString(),
      HasSubstr("got \"" + secret.substr(0, kMaxQuotedBytes) + "...\""));
  EXPECT_THAT(d[1].ToString(), HasSubstr("unknown key \"k\\x07SSS"));
}

TEST(LoaderTest, QuoteTokenBoundsEscapesAndKeepsUtf8Whole) {
  EXPECT_EQ(QuoteToken("permit"), "\"permit\"");
  EXPECT_EQ(QuoteToken("a\"b\\c\n"), "\"a\\x22b\\x5Cc\\x0A\"");
  EXPECT_EQ(QuoteToken("it's", '\''), "'it\\x27s'");
  // 31 ASCII bytes then a 2-byte character: the cut does not split it.
  const std::string text = std::string(31, 'a') + "\xC3\xA9" + "tail";
  EXPECT_EQ(EscapeToken(text), std::string(31, 'a') + "...");
  EXPECT_EQ(EscapeToken(std::string(32, 'b')), std::string(32, 'b'));
}

TEST(LoaderTest, TokenAtShowsTheRunOfNonBlanksAtAColumn) {
  const std::string text =
      "a: 1\n  key: value with  spaces\r\n  t: [\"x\", \"\"]\n  e: []\n";
  EXPECT_EQ(TokenAt(text, 2, 3), "key");
  EXPECT_EQ(TokenAt(text, 2, 5), "key");  // inside the token
  EXPECT_EQ(TokenAt(text, 2, 1), "key");  // on a blank: the next token
  EXPECT_EQ(TokenAt(text, 2, 15), "with");
  EXPECT_EQ(TokenAt(text, 3, 6), "[\"x\"");
  EXPECT_EQ(TokenAt(text, 3, 12), "\"\"");
  EXPECT_EQ(TokenAt(text, 4, 6), "[]");
  EXPECT_EQ(TokenAt(text, 2, 99), "");
  EXPECT_EQ(TokenAt(text, 9, 1), "");
}

TEST(LoaderTest, GoldenBrokenFile) {
  const std::string dir = VERDICT_TESTDATA_DIR "/policy/";
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.is_open()) << path;
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  };
  const std::vector<Diagnostic> diagnostics =
      Diagnose({{"broken.yaml", read(dir + "broken.yaml")}});
  std::string actual;
  for (const Diagnostic& d : diagnostics) {
    actual += d.ToString() + "\n    " + d.snippet + "\n";
  }
  EXPECT_EQ(actual, read(dir + "broken.expected"));
}

}  // namespace
}  // namespace verdict::policy
