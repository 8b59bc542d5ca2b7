// Hostile and malformed decision requests against a real verdictd: each is
// answered with a clear deny or error, the answer stays small whatever the
// request repeats, and a normal Check is still answered at once afterwards.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/raw_unary.h"
#include "tests/testing/shared_verdictd.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::verdict::testing::RawUnary;
using ::verdict::testing::ResidentBytes;
using ::verdict::testing::SharedVerdictdTest;
using ::verdict::testing::VerdictdProcess;

namespace fs = std::filesystem;

v1::CheckRequest ReaderSearch() {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("agent-1");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("search_contacts");
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("dev");
  return request;
}

grpc::Status CheckWithin(v1::Authorizer::Stub* stub,
                         const v1::CheckRequest& request,
                         std::chrono::milliseconds deadline,
                         v1::CheckResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  return stub->Check(&context, request, response);
}

// A normal Check is answered, and allowed, within 100 ms. A loaded test
// machine may deschedule either process for a while, so three tries.
void ExpectPromptAllow(v1::Authorizer::Stub* stub) {
  grpc::Status status;
  v1::CheckResponse response;
  for (int attempt = 0; attempt < 3; ++attempt) {
    response.Clear();
    status = CheckWithin(stub, ReaderSearch(), std::chrono::milliseconds(100),
                         &response);
    if (status.ok()) break;
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision(), v1::ALLOW);
}

class HostileRequestTest : public SharedVerdictdTest {
 protected:
  void SetUp() override {
    SharedVerdictdTest::SetUp();
    if (HasFatalFailure()) return;
    stub_ = v1::Authorizer::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  v1::CheckResponse Check(const v1::CheckRequest& request) {
    v1::CheckResponse response;
    const grpc::Status status =
        CheckWithin(stub_.get(), request, std::chrono::seconds(10), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::unique_ptr<v1::Authorizer::Stub> stub_;
};

TEST_F(HostileRequestTest, AValueWithNoKindIsAnInvalidRequestNamingItsPath) {
  v1::CheckRequest request = ReaderSearch();
  google::protobuf::ListValue* steps =
      (*(*request.mutable_context()->mutable_fields())["task"]
            .mutable_struct_value()
            ->mutable_fields())["steps"]
          .mutable_list_value();
  steps->add_values()->set_number_value(1);
  steps->add_values();  // no kind
  const v1::CheckResponse response = Check(request);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "invalid_request");
  EXPECT_EQ(response.reasons(0).message(),
            "context.task.steps[1] has no value kind");

  v1::CheckRequest in_arguments = ReaderSearch();
  (*in_arguments.mutable_tool()->mutable_arguments()->mutable_fields())["q"];
  EXPECT_EQ(Check(in_arguments).reasons(0).message(),
            "tool.arguments.q has no value kind");
  ExpectPromptAllow(stub_.get());
}

TEST_F(HostileRequestTest, IdsNamesAndRolesHaveCappedLengths) {
  struct Case {
    std::string name;
    void (*mutate)(v1::CheckRequest*);
    std::string message;
  };
  const Case cases[] = {
      {"subject id",
       [](v1::CheckRequest* r) {
         r->mutable_subject()->set_id(std::string(2049, 'a'));
       },
       "subject.id is longer than 2048 bytes"},
      {"tool name",
       [](v1::CheckRequest* r) {
         r->mutable_tool()->set_name(std::string(257, 't'));
       },
       "tool.name is longer than 256 bytes"},
      {"server",
       [](v1::CheckRequest* r) {
         r->mutable_tool()->set_server(std::string(257, 's'));
       },
       "tool.server is longer than 256 bytes"},
      {"action",
       [](v1::CheckRequest* r) { r->set_action(std::string(257, 'x')); },
       "action is longer than 256 bytes"},
      {"role",
       [](v1::CheckRequest* r) {
         r->mutable_subject()->add_roles(std::string(257, 'r'));
       },
       "a role in subject.roles is longer than 256 bytes"},
      {"role count",
       [](v1::CheckRequest* r) {
         for (int i = 0; i < 257; ++i) r->mutable_subject()->add_roles("r");
       },
       "subject.roles has more than 256 roles"},
      {"resource id",
       [](v1::CheckRequest* r) {
         r->mutable_resource()->set_kind("dataset");
         r->mutable_resource()->set_id(std::string(2049, 'd'));
       },
       "resource.id is longer than 2048 bytes"},
  };
  for (const Case& c : cases) {
    v1::CheckRequest request = ReaderSearch();
    c.mutate(&request);
    const v1::CheckResponse response = Check(request);
    EXPECT_EQ(response.decision(), v1::DENY) << c.name;
    ASSERT_EQ(response.reasons_size(), 1) << c.name;
    EXPECT_EQ(response.reasons(0).code(), "invalid_request") << c.name;
    EXPECT_EQ(response.reasons(0).message(), c.message) << c.name;
  }
  // At the limit is fine.
  v1::CheckRequest longest = ReaderSearch();
  longest.mutable_subject()->set_id(std::string(2048, 'a'));
  EXPECT_EQ(Check(longest).decision(), v1::ALLOW);
}

// The amplification attack: a 900 KB asserted subject and 1,024 items in
// one request once produced a 901 MiB answer and 2.8 GB of RSS. The subject
// is refused, each item's answer is a short deny, the whole answer stays
// small, memory stays flat, and normal Checks are answered meanwhile.
TEST_F(HostileRequestTest, ABatchCannotAmplifyAnOversizedSubject) {
  const int64_t rss_before = ResidentBytes(server_->pid());
  ASSERT_GT(rss_before, 0);
  v1::CheckBatchRequest request;
  request.mutable_subject()->set_id(std::string(900 * 1000, 's'));
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("dev");
  for (int i = 0; i < 1024; ++i) {
    v1::CheckBatchItem* item = request.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name("search_contacts");
    item->set_action("tools/list");
  }
  std::atomic<bool> attacking{true};
  std::thread attacker([&] {
    for (int round = 0; round < 8; ++round) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
      v1::CheckBatchResponse response;
      const grpc::Status status =
          stub_->CheckBatch(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(response.results_size(), 1024);
      for (const v1::CheckResponse& result : response.results()) {
        EXPECT_EQ(result.decision(), v1::DENY);
        EXPECT_EQ(result.reasons(0).code(), "invalid_request");
        EXPECT_FALSE(result.has_identity());
      }
      // Refused once for the batch, without echoing the subject.
      EXPECT_EQ(response.refusal().code(), "invalid_request");
      EXPECT_FALSE(response.has_identity());
      EXPECT_LT(response.ByteSizeLong(), 256u << 10);
    }
    attacking = false;
  });
  do {
    ExpectPromptAllow(stub_.get());
  } while (attacking);
  attacker.join();
  ExpectPromptAllow(stub_.get());
  EXPECT_LT(ResidentBytes(server_->pid()), rss_before + (64 << 20));
}

// A batch names its subject once: in the batch's identity, not per item.
TEST_F(HostileRequestTest, ABatchCarriesTheIdentityOnce) {
  v1::CheckBatchRequest request;
  request.mutable_subject()->set_id("agent-1");
  request.mutable_subject()->add_roles("crm-reader");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("dev");
  for (const char* tool : {"search_contacts", "get_contact", "delete_x"}) {
    v1::CheckBatchItem* item = request.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name(tool);
    item->set_action("tools/call");
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::CheckBatchResponse response;
  ASSERT_TRUE(stub_->CheckBatch(&context, request, &response).ok());
  EXPECT_EQ(response.identity().subject(), "agent-1");
  EXPECT_EQ(response.identity().method(), "asserted");
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).decision(), v1::ALLOW);
  EXPECT_EQ(response.results(2).decision(), v1::DENY);
  for (const v1::CheckResponse& result : response.results()) {
    EXPECT_FALSE(result.has_identity());
  }
}

// Bytes that are not a request are the client's error, not the server's.
TEST_F(HostileRequestTest, UnparsableBytesAreAnInvalidArgument) {
  // A length-delimited field 3 (tool) that runs past the end of the message.
  const std::string truncated("\x1a\x7f\x0a\x03crm", 7);
  for (const char* method :
       {"/verdict.v1.Authorizer/Check", "/verdict.v1.Authorizer/CheckBatch"}) {
    const grpc::Status status = RawUnary(server_->address(), method, truncated);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << status.error_message();
    EXPECT_THAT(status.error_message(),
                HasSubstr("is not a valid verdict.v1."));
  }
  ExpectPromptAllow(stub_.get());
}

// MCP tool annotations are optional hints with defaults; a rule that reads
// one decides on the default instead of failing on a missing key.
TEST(ToolAnnotationDefaultsTest, MissingHintsTakeMcpDefaults) {
  const fs::path dir = fs::path(::testing::TempDir()) / "annotation_defaults";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "tools.yaml") << R"(policy: workflows
rules:
  - id: run
    effect: allow
    servers: [workflows]
  - id: no-destructive
    effect: deny
    servers: [workflows]
    when: "!tool.annotations.readOnlyHint && tool.annotations.destructiveHint"
  - id: open-world-note
    effect: allow
    servers: [workflows]
    when: tool.annotations.openWorldHint && !tool.annotations.idempotentHint
)";
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--policies", dir.string()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Authorizer::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));

  auto decide = [&](const std::string& annotations_json) {
    v1::CheckRequest request;
    request.mutable_subject()->set_id("agent-1");
    request.mutable_tool()->set_server("workflows");
    request.mutable_tool()->set_name("deploy");
    request.set_action("tools/call");
    google::protobuf::Struct* annotations =
        request.mutable_tool()->mutable_annotations();
    if (annotations_json == "read-only") {
      (*annotations->mutable_fields())["readOnlyHint"].set_bool_value(true);
    } else if (annotations_json == "not-destructive") {
      (*annotations->mutable_fields())["destructiveHint"].set_bool_value(false);
    } else {
      request.mutable_tool()->clear_annotations();
    }
    v1::CheckResponse response;
    EXPECT_TRUE(
        CheckWithin(stub.get(), request, std::chrono::seconds(10), &response)
            .ok());
    return response;
  };
  // No hints: destructive (MCP's default), denied by the rule, no error.
  const v1::CheckResponse none = decide("none");
  EXPECT_EQ(none.decision(), v1::DENY);
  ASSERT_GE(none.reasons_size(), 1);
  EXPECT_EQ(none.reasons(0).code(), "denied_by_rule");
  EXPECT_EQ(none.reasons(0).rule(), "no-destructive");
  for (const v1::Reason& reason : none.reasons()) {
    EXPECT_NE(reason.code(), "evaluation_error") << reason.message();
  }
  // The hints a server sets win; the others keep their defaults.
  const v1::CheckResponse read_only = decide("read-only");
  EXPECT_EQ(read_only.decision(), v1::ALLOW);
  const v1::CheckResponse not_destructive = decide("not-destructive");
  EXPECT_EQ(not_destructive.decision(), v1::ALLOW);
  ASSERT_GE(not_destructive.reasons_size(), 2);
  EXPECT_THAT(not_destructive.reasons(1).rule(), HasSubstr("open-world-note"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace verdict
