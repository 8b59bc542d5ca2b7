// CompileDirectory and CompileSources: recursive directory walk with
// *_test.yaml skipped and relative paths in diagnostics, empty and missing
// directories, multi-document files, rule order, revision stability, and the
// compiled Rule (folded policy subjects/roles, obligations, positions,
// principal and resource matching).

#include "server/policy/compiler.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy/policy_set.h"

namespace verdict::policy {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

// A fresh directory under the system temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (fs::temp_directory_path() / "verdict_policy_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  void Write(const std::string& relative, const std::string& contents) const {
    const fs::path full = fs::path(path_) / relative;
    fs::create_directories(full.parent_path());
    std::ofstream(full, std::ios::binary) << contents;
  }

 private:
  std::string path_;
};

std::string Policy(const std::string& name, const std::string& rule_id,
                   const std::string& effect = "allow") {
  return "policy: " + name + "\nrules:\n  - id: " + rule_id +
         "\n    effect: " + effect + "\n";
}

std::vector<std::string> RuleNames(const PolicySet& set) {
  std::vector<std::string> names;
  for (const Rule& rule : set.rules()) {
    names.push_back(rule.policy + "/" + rule.id);
  }
  return names;
}

std::unique_ptr<const PolicySet> MustCompile(
    const std::vector<SourceFile>& files) {
  std::vector<Diagnostic> diagnostics;
  auto set = CompileSources(files, &diagnostics);
  EXPECT_TRUE(set.ok()) << set.status();
  for (const Diagnostic& d : diagnostics) ADD_FAILURE() << d.ToString();
  return set.ok() ? *std::move(set) : nullptr;
}

TEST(CompilerTest, DirectoryIsWalkedRecursivelyInPathOrder) {
  TempDir dir;
  dir.Write("b.yaml", Policy("b", "r"));
  dir.Write("a/z.yml", Policy("az", "r"));
  dir.Write("a/deeper/x.yaml", Policy("adx", "r"));
  dir.Write("a/crm_test.yaml", "suite: not a policy\n");
  dir.Write("c_test.yml", "suite: not a policy\n");
  dir.Write("README.md", "not yaml");
  dir.Write("notes.yaml.bak", "not: yaml");
  dir.Write(".hidden/x.yaml", "garbage: [");
  std::vector<Diagnostic> diagnostics;
  auto set = CompileDirectory(dir.path(), &diagnostics);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(diagnostics.empty());
  EXPECT_THAT(RuleNames(**set), ElementsAre("adx/r", "az/r", "b/r"));
  EXPECT_EQ((*set)->policy_count(), 3);
  EXPECT_EQ((*set)->rules()[0].position.file, "a/deeper/x.yaml");
  EXPECT_EQ((*set)->rules()[1].position.file, "a/z.yml");
}

TEST(CompilerTest, DiagnosticsUseRelativePaths) {
  TempDir dir;
  dir.Write("ok.yaml", Policy("ok", "r"));
  dir.Write("team/crm/bad.yaml", "policy: p\nrules:\n  - id: r\n");
  std::vector<Diagnostic> diagnostics;
  auto set = CompileDirectory(dir.path(), &diagnostics);
  ASSERT_FALSE(set.ok());
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].ToString(),
            "team/crm/bad.yaml:3:5: error[missing_key]: missing required key "
            "\"effect\" in rule");
}

TEST(CompilerTest, UnreadableFileIsReportedWithTheOtherErrors) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  dir.Write("a.yaml", "policy: p\nrules: []\n");
  dir.Write("b.yaml", Policy("b", "r"));
  fs::permissions(fs::path(dir.path()) / "b.yaml", fs::perms::none);
  std::vector<Diagnostic> diagnostics;
  auto set = CompileDirectory(dir.path(), &diagnostics);
  EXPECT_FALSE(set.ok());
  ASSERT_EQ(diagnostics.size(), 2u);
  EXPECT_EQ(diagnostics[0].code, "empty_list");
  EXPECT_EQ(diagnostics[1].file, "b.yaml");
  EXPECT_EQ(diagnostics[1].code, "io");
}

TEST(CompilerTest, EmptyDirectoryCompilesToAnEmptySet) {
  TempDir dir;
  dir.Write("suite_test.yaml", "suite: x\n");
  std::vector<Diagnostic> diagnostics;
  auto set = CompileDirectory(dir.path(), &diagnostics);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE((*set)->rules().empty());
  EXPECT_EQ((*set)->policy_count(), 0);
  CandidateList candidates = {7};
  (*set)->Candidates("tools/call", "crm", "x", &candidates);
  EXPECT_TRUE(candidates.empty());
}

TEST(CompilerTest, MissingDirectoryIsAnError) {
  TempDir dir;
  std::vector<Diagnostic> diagnostics;
  auto set = CompileDirectory(dir.path() + "/nope", &diagnostics);
  EXPECT_FALSE(set.ok());
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].code, "io");
  EXPECT_EQ(diagnostics[0].line, 0);
}

TEST(CompilerTest, RuleOrderIsFilesByPathThenDocumentsThenRules) {
  const std::string two_docs =
      "policy: first\nrules:\n  - id: r1\n    effect: allow\n  - id: r2\n"
      "    effect: deny\n---\n---\npolicy: second\nrules:\n  - id: r1\n"
      "    effect: allow\n";
  auto set = MustCompile({{"z.yaml", Policy("last", "r")},
                          {"m.yaml", two_docs},
                          {"a.yaml", Policy("early", "r")}});
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(RuleNames(*set), ElementsAre("early/r", "first/r1", "first/r2",
                                           "second/r1", "last/r"));
  for (size_t i = 0; i < set->rules().size(); ++i) {
    EXPECT_EQ(set->rules()[i].index, i);
  }
  EXPECT_EQ(set->policy_count(), 4);
  EXPECT_EQ(set->rules()[3].position.file, "m.yaml");
  EXPECT_EQ(set->rules()[3].position.line, 11);
  EXPECT_EQ(set->rules()[3].position.column, 5);
}

TEST(CompilerTest, RevisionIsStableAndFollowsContent) {
  const std::vector<SourceFile> files = {{"a.yaml", Policy("a", "r")},
                                         {"b.yaml", Policy("b", "r")}};
  const std::string revision = MustCompile(files)->revision();
  EXPECT_EQ(revision.size(), 16u);
  EXPECT_EQ(revision.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(MustCompile(files)->revision(), revision);
  // Order of the input does not matter; contents and paths do.
  EXPECT_EQ(MustCompile({files[1], files[0]})->revision(), revision);
  EXPECT_NE(MustCompile({{"a.yaml", Policy("a", "r") + "# edit\n"}, files[1]})
                ->revision(),
            revision);
  EXPECT_NE(MustCompile({{"c.yaml", files[0].contents}, files[1]})->revision(),
            revision);
  // Moving bytes between path and contents changes the digest too.
  EXPECT_NE(MustCompile({{"a", "##b"}})->revision(),
            MustCompile({{"a#", "#b"}})->revision());
}

TEST(CompilerTest, RevisionOfADirectoryMatchesItsSources) {
  TempDir dir;
  dir.Write("a.yaml", Policy("a", "r"));
  dir.Write("sub/b.yaml", Policy("b", "r"));
  std::vector<Diagnostic> diagnostics;
  auto set = CompileDirectory(dir.path(), &diagnostics);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)->revision(), MustCompile({{"a.yaml", Policy("a", "r")},
                                             {"sub/b.yaml", Policy("b", "r")}})
                                    ->revision());
}

TEST(CompilerTest, CompiledRuleCarriesEverything) {
  auto set = MustCompile({{"crm.yaml", R"yaml(policy: crm
subjects: ["spiffe://corp/agent/crm/*"]
roles: [crm-reader, crm-writer]
rules:
  - id: export
    effect: allow
    subjects: ["*/r1", "*/w1"]
    roles: [crm-writer]
    servers: [crm]
    tools: ["export_*"]
    actions: ["tools/call"]
    resources: ["dataset:crm/*"]
    when: context.environment == "prod"
    reason: exports need a writer
    obligations: {max_rows: 1000, mask: [ssn], audit: true}
  - id: plain
    effect: deny
)yaml"}});
  ASSERT_NE(set, nullptr);
  ASSERT_EQ(set->rules().size(), 2u);
  const Rule& rule = set->rules()[0];
  EXPECT_EQ(rule.policy, "crm");
  EXPECT_EQ(rule.id, "export");
  EXPECT_EQ(rule.effect, Effect::kAllow);
  EXPECT_EQ(rule.reason, "exports need a writer");
  EXPECT_TRUE(rule.condition.has_value());
  EXPECT_EQ(rule.obligations.fields().at("max_rows").number_value(), 1000);
  EXPECT_EQ(rule.obligations.fields()
                .at("mask")
                .list_value()
                .values(0)
                .string_value(),
            "ssn");
  EXPECT_TRUE(rule.obligations.fields().at("audit").bool_value());
  ASSERT_EQ(rule.policy_subjects.size(), 1u);
  EXPECT_EQ(rule.policy_subjects[0].pattern(), "spiffe://corp/agent/crm/*");
  EXPECT_THAT(rule.policy_roles, ElementsAre("crm-reader", "crm-writer"));
  EXPECT_THAT(rule.roles, ElementsAre("crm-writer"));
  EXPECT_EQ(rule.position.file, "crm.yaml");
  EXPECT_EQ(rule.position.line, 5);

  const Rule& plain = set->rules()[1];
  EXPECT_EQ(plain.reason, "");
  EXPECT_FALSE(plain.condition.has_value());
  EXPECT_TRUE(plain.obligations.fields().empty());
  EXPECT_TRUE(plain.servers.empty());
  EXPECT_EQ(plain.policy_subjects.size(), 1u);  // policy level still applies

  EXPECT_TRUE(rule.MatchesTarget("tools/call", "crm", "export_contacts"));
  EXPECT_FALSE(rule.MatchesTarget("tools/list", "crm", "export_contacts"));
  EXPECT_FALSE(rule.MatchesTarget("tools/call", "crm2", "export_contacts"));
  EXPECT_FALSE(rule.MatchesTarget("tools/call", "crm", "search"));
  EXPECT_TRUE(plain.MatchesTarget("anything", "", ""));
}

TEST(CompilerTest, ScopesAndTheirChallenge) {
  auto set = MustCompile({{"crm.yaml", R"yaml(policy: crm
rules:
  - id: export
    effect: allow
    scopes: [crm:export, "crm:read", "https://api.example/x!#$%&'()*+,-./;<=>?@[]^_`{|}~"]
  - id: plain
    effect: allow
)yaml"}});
  ASSERT_NE(set, nullptr);
  const Rule& rule = set->rules()[0];
  EXPECT_THAT(
      rule.scopes,
      ElementsAre("crm:export", "crm:read",
                  "https://api.example/x!#$%&'()*+,-./;<=>?@[]^_`{|}~"));
  EXPECT_EQ(rule.scope_challenge,
            "crm:export crm:read "
            "https://api.example/x!#$%&'()*+,-./;<=>?@[]^_`{|}~");
  EXPECT_TRUE(set->core(0).has_scopes);
  const Rule& plain = set->rules()[1];
  EXPECT_TRUE(plain.scopes.empty());
  EXPECT_EQ(plain.scope_challenge, "");
  EXPECT_FALSE(set->core(1).has_scopes);

  model::StringList scopes;
  model::Principal subject;
  EXPECT_FALSE(rule.HasScopes(subject)) << "no scopes at all";
  EXPECT_TRUE(plain.HasScopes(subject));
  subject.scopes = &scopes;
  scopes.Add("crm:read");
  scopes.Add("crm:export");
  EXPECT_FALSE(rule.HasScopes(subject)) << "one is missing";
  scopes.Add("https://api.example/x!#$%&'()*+,-./;<=>?@[]^_`{|}~");
  scopes.Add("more");
  EXPECT_TRUE(rule.HasScopes(subject));
}

TEST(CompilerTest, PrincipalNeedsPolicyAndRuleSubjectsAndRoles) {
  auto set = MustCompile({{"p.yaml", R"yaml(policy: p
subjects: ["spiffe://corp/agent/crm/*"]
roles: [crm-reader, crm-writer]
rules:
  - id: r
    effect: allow
    subjects: ["*/w1"]
    roles: [crm-writer]
  - id: open
    effect: allow
)yaml"}});
  ASSERT_NE(set, nullptr);
  const Rule& rule = set->rules()[0];
  const Rule& open = set->rules()[1];
  google::protobuf::RepeatedPtrField<std::string> writer;
  writer.Add("other");
  writer.Add("crm-writer");
  google::protobuf::RepeatedPtrField<std::string> reader;
  reader.Add("crm-reader");

  model::Principal subject;
  subject.id = "spiffe://corp/agent/crm/w1";
  subject.roles = &writer;
  EXPECT_TRUE(rule.MatchesPrincipal(subject));
  subject.roles = &reader;  // policy roles pass, rule roles do not
  EXPECT_FALSE(rule.MatchesPrincipal(subject));
  EXPECT_TRUE(open.MatchesPrincipal(subject));
  subject.roles = nullptr;
  EXPECT_FALSE(open.MatchesPrincipal(subject));
  subject.roles = &writer;
  subject.id = "spiffe://corp/agent/crm/r1";  // rule subjects do not match
  EXPECT_FALSE(rule.MatchesPrincipal(subject));
  EXPECT_TRUE(open.MatchesPrincipal(subject));
  subject.id = "spiffe://corp/agent/hr/w1";  // policy subjects do not match
  EXPECT_FALSE(rule.MatchesPrincipal(subject));
  EXPECT_FALSE(open.MatchesPrincipal(subject));
}

TEST(CompilerTest, ResourcesMatchKindColonIdAndNeedAResource) {
  auto set = MustCompile({{"p.yaml", R"yaml(policy: p
rules:
  - id: r
    effect: deny
    resources: ["dataset:crm/*", "file:/etc/passwd"]
  - id: any
    effect: deny
)yaml"}});
  ASSERT_NE(set, nullptr);
  const Rule& rule = set->rules()[0];
  model::Resource resource;
  EXPECT_FALSE(rule.MatchesResource(resource));
  EXPECT_TRUE(set->rules()[1].MatchesResource(resource));
  resource.present = true;
  resource.kind = "dataset";
  resource.id = "crm/contacts";
  EXPECT_TRUE(rule.MatchesResource(resource));
  resource.id = "hr/people";
  EXPECT_FALSE(rule.MatchesResource(resource));
  resource.kind = "file";
  resource.id = "/etc/passwd";
  EXPECT_TRUE(rule.MatchesResource(resource));
  resource.kind = "file:";
  resource.id = "etc/passwd";
  EXPECT_FALSE(rule.MatchesResource(resource));
}

TEST(CompilerTest, SourcePositionsOutliveTheInputs) {
  std::unique_ptr<const PolicySet> set;
  {
    std::vector<SourceFile> files;
    for (int i = 0; i < 50; ++i) {
      files.push_back({"f" + std::to_string(i) + ".yaml",
                       Policy("p" + std::to_string(i), "r")});
    }
    set = MustCompile(files);
  }
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->rules()[0].position.file, "f0.yaml");
  EXPECT_EQ(set->rules()[49].position.file, "f9.yaml");
}

}  // namespace
}  // namespace verdict::policy
