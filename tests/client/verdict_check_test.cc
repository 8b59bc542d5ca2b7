// `verdict check` end to end: the built CLI against a live verdictd, checking
// the exit codes, text and JSON output (conditional listings included) and
// K=V parsing of spec section 9.

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/shared_verdictd.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdProcess;
using ::verdict::testing::VerdictPath;

class VerdictCheckTest : public ::verdict::testing::SharedVerdictdTest {
 protected:
  // Runs `verdict check --server <live> args...`.
  ProcessResult Check(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"check", "--server", server_->address()};
    full.insert(full.end(), args.begin(), args.end());
    absl::StatusOr<ProcessResult> result = RunProcess(VerdictPath(), full);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : ProcessResult();
  }
};

TEST_F(VerdictCheckTest, AllowExitsZeroAndPrintsTheRule) {
  const ProcessResult result =
      Check({"--subject", "agent", "--role", "crm-reader", "--tool-server",
             "crm", "--tool", "get_contact", "--context", "environment=prod"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, ::testing::StartsWith("ALLOW\n"));
  EXPECT_THAT(result.out,
              HasSubstr("allowed_by_rule  crm-agents/read-contacts"));
  EXPECT_THAT(result.err, IsEmpty());
}

TEST_F(VerdictCheckTest, DenyExitsOneAndPrintsTheReason) {
  const ProcessResult result =
      Check({"--subject", "agent", "--role", "crm-reader", "--tool-server",
             "crm", "--tool", "delete_contact"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.out, ::testing::StartsWith("DENY\n"));
  EXPECT_THAT(result.out, HasSubstr("denied_by_rule  crm-agents/no-delete  "
                                    "agents never delete contacts"));
}

TEST_F(VerdictCheckTest, ContextValuesAreYaml) {
  // `[dev, prod]` is a list, not the string "[dev, prod]": the condition
  // `context.environment in [...]` then fails and the reader is denied.
  const ProcessResult as_list =
      Check({"--subject", "agent", "--role", "crm-reader", "--tool-server",
             "crm", "--tool", "get_contact", "--context",
             "environment=[dev, prod]", "--json"});
  EXPECT_EQ(as_list.exit_code, 1) << as_list.err;
  const ProcessResult quoted =
      Check({"--subject", "agent", "--role", "crm-reader", "--tool-server",
             "crm", "--tool", "get_contact", "--context", "environment='dev'"});
  EXPECT_EQ(quoted.exit_code, 0) << quoted.out << quoted.err;
}

TEST_F(VerdictCheckTest, JsonOutputParsesAsACheckResponse) {
  const ProcessResult result = Check(
      {"--subject", "agent", "--role", "crm-reader", "--tool-server", "crm",
       "--tool", "search_contacts", "--context", "environment=prod", "--arg",
       "limit=3", "--annotation", "readOnlyHint=true", "--explain", "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  v1::CheckResponse response;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(result.out, &response).ok())
      << result.out;
  EXPECT_EQ(response.decision(), v1::ALLOW);
  EXPECT_EQ(response.decision_id().size(), 32u);
  EXPECT_FALSE(response.trace().empty());
  EXPECT_EQ(response.obligations().fields().at("max_rows").number_value(), 100);
}

TEST_F(VerdictCheckTest, DenyIsPrintedInJson) {
  const ProcessResult result =
      Check({"--subject", "agent", "--tool", "anything", "--json"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"decision\": \"DENY\""));
}

TEST_F(VerdictCheckTest, ExplainPrintsTheTrace) {
  const ProcessResult result =
      Check({"--subject", "agent", "--role", "crm-reader", "--tool-server",
             "crm", "--tool", "search_contacts", "--context", "environment=dev",
             "--explain"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("trace:"));
  EXPECT_THAT(result.out,
              HasSubstr("crm-limits/row-cap  allow  condition_false"));
}

TEST_F(VerdictCheckTest, CredentialFlagIsSentAndDenied) {
  const ProcessResult result = Check(
      {"--subject", "agent", "--tool", "get_contact", "--token", "x.y.z"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("unauthenticated"));
}

TEST_F(VerdictCheckTest, ResourceAndItsAttributesReachTheRules) {
  const std::vector<std::string> reader = {
      "--subject",     "agent", "--role", "crm-reader",
      "--tool-server", "crm",   "--tool", "export_contacts"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = reader;
    args.insert(args.end(), extra.begin(), extra.end());
    return Check(args);
  };
  const ProcessResult low = with({"--resource", "dataset:crm/contacts",
                                  "--resource-attr", "sensitivity=1"});
  EXPECT_EQ(low.exit_code, 0) << low.out << low.err;
  EXPECT_THAT(low.out, HasSubstr("crm-agents/export-low-sensitivity"));
  const ProcessResult high = with({"--resource", "dataset:crm/contacts",
                                   "--resource-attr", "sensitivity=3"});
  EXPECT_EQ(high.exit_code, 1) << high.out << high.err;
  const ProcessResult secret = with({"--resource", "dataset:secret/keys",
                                     "--resource-attr", "sensitivity=0"});
  EXPECT_EQ(secret.exit_code, 1) << secret.out << secret.err;
  EXPECT_THAT(secret.out, HasSubstr("crm-agents/no-secret-datasets"));
}

TEST_F(VerdictCheckTest, BadFlagsExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {"--tool", "x", "--no-such-flag"},
      {"--subject", "agent"},  // --tool is required
      {"--tool", "x", "--context", "no-equals-sign"},
      {"--tool", "x", "--resource", "no-colon"},
      {"--tool", "x", "--token", "a", "--grant", "b"},
      {"--tool", "x", "--context", "k={unclosed"},
      {"--tool", "x", "--resource-attr", "a=1"},  // needs --resource
      {"--tool", "x", "unexpected-positional"},
  };
  for (const std::vector<std::string>& args : cases) {
    const ProcessResult result = Check(args);
    EXPECT_EQ(result.exit_code, 2) << args.back();
    EXPECT_THAT(result.err, HasSubstr("verdict check: ")) << args.back();
    EXPECT_THAT(result.out, IsEmpty());
  }
}

// A tool whose call depends on its path argument.
constexpr char kFsPolicy[] = R"(policy: fs
rules:
  - id: workspace
    effect: allow
    servers: [fs]
    tools: [read_file]
    actions: [tools/call]
    when: tool.arguments.path.startsWith("/workspace/")
)";

// Listing that tool is conditional on the path: printed as CONDITIONAL with
// the paths, and exit 1 like a deny, since it is not an allow.
TEST(VerdictCheckConditionalTest, ConditionalListingPrintsItsPaths) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "check_conditional";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "fs.yaml") << kFsPolicy;
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--policies", dir.string()});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<std::string> listing = {
      "check", "--server", (*server)->address(), "--subject",
      "agent", "--tool",   "read_file",          "--tool-server",
      "fs",    "--action", "tools/list"};

  absl::StatusOr<ProcessResult> text = RunProcess(VerdictPath(), listing);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->exit_code, 1) << text->out << text->err;
  EXPECT_THAT(text->out, ::testing::StartsWith("CONDITIONAL\n"));
  EXPECT_THAT(text->out, HasSubstr("  conditional  fs/workspace"));
  EXPECT_THAT(text->out, HasSubstr("\ndepends_on: tool.arguments.path\n"));

  std::vector<std::string> as_json = listing;
  as_json.push_back("--json");
  absl::StatusOr<ProcessResult> json = RunProcess(VerdictPath(), as_json);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->exit_code, 1) << json->out << json->err;
  v1::CheckResponse response;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json->out, &response).ok())
      << json->out;
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_TRUE(response.conditional());
  EXPECT_THAT(response.depends_on(),
              ::testing::ElementsAre("tool.arguments.path"));

  // The call itself is decided: allowed in the workspace.
  std::vector<std::string> call = listing;
  call.resize(call.size() - 2);
  call.insert(call.end(), {"--arg", "path=/workspace/a"});
  absl::StatusOr<ProcessResult> allowed = RunProcess(VerdictPath(), call);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(allowed->exit_code, 0) << allowed->out << allowed->err;
  EXPECT_THAT(allowed->out, ::testing::StartsWith("ALLOW\n"));
  EXPECT_THAT(allowed->out, Not(HasSubstr("depends_on")));
  fs::remove_all(dir);
}

TEST(VerdictCliTest, UnreachableServerExitsTwo) {
  // Port 1 on loopback: nothing listens there without privileges.
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictPath(), {"check", "--server", "127.0.0.1:1", "--tool", "x"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_THAT(result->err, HasSubstr("UNAVAILABLE"));
}

TEST(VerdictCliTest, HelpAndUnknownCommands) {
  absl::StatusOr<ProcessResult> help = RunProcess(VerdictPath(), {"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help->exit_code, 0);
  EXPECT_THAT(help->out, HasSubstr("check"));

  absl::StatusOr<ProcessResult> check_help =
      RunProcess(VerdictPath(), {"check", "--help"});
  ASSERT_TRUE(check_help.ok());
  EXPECT_EQ(check_help->exit_code, 0);
  EXPECT_THAT(check_help->out, HasSubstr("--resource KIND:ID"));
  EXPECT_THAT(check_help->out, HasSubstr("--context K=V..."));

  absl::StatusOr<ProcessResult> unknown =
      RunProcess(VerdictPath(), {"frobnicate"});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->exit_code, 2);
  EXPECT_THAT(unknown->err, HasSubstr("unknown command frobnicate"));

  absl::StatusOr<ProcessResult> none = RunProcess(VerdictPath(), {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->exit_code, 2);
}

}  // namespace
}  // namespace verdict
