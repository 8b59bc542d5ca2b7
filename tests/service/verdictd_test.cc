// Integration tests: a real verdictd on loopback, asked through the generated
// stubs (and raw bytes where the stubs cannot say it). Each test names the
// behaviour of spec sections 3, 5, 6 and 12 it shows.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "tests/testing/raw_unary.h"
#include "tests/testing/shared_verdictd.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RawUnary;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdPath;
using ::verdict::testing::VerdictdProcess;

namespace fs = std::filesystem;

const char kFixtureDir[] = "tests/testdata/service/policies";
const char kBrokenDir[] = "tests/testdata/service/broken";

std::unique_ptr<VerdictdProcess> StartOrDie(
    const std::vector<std::string>& args) {
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start(args);
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return nullptr;
  }
  return *std::move(server);
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
}

// A CRM reader asking for `tool` in `environment`.
v1::CheckRequest Request(const std::string& tool,
                         const std::string& environment = "prod") {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name(tool);
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value(environment);
  return request;
}

// The SETTINGS_MAX_CONCURRENT_STREAMS that the server announces in its first
// HTTP/2 SETTINGS frame on a new connection; -1 if it announces none.
int64_t AnnouncedMaxConcurrentStreams(const std::string& address) {
  const size_t colon = address.rfind(':');
  const int port = std::stoi(address.substr(colon + 1));
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<uint16_t>(port));
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof(server)),
            0);
  // The client preface, then an empty SETTINGS frame.
  const std::string preface(
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
      "\0\0\0\x04\0\0\0\0\0",
      24 + 9);
  EXPECT_EQ(write(fd, preface.data(), preface.size()),
            static_cast<ssize_t>(preface.size()));
  std::string received;
  char buffer[4096];
  int64_t announced = -1;
  while (true) {
    if (received.size() >= 9) {
      const auto byte = [&](size_t i) {
        return static_cast<uint32_t>(static_cast<unsigned char>(received[i]));
      };
      const size_t length = (byte(0) << 16) | (byte(1) << 8) | byte(2);
      if (received.size() >= 9 + length) {
        EXPECT_EQ(byte(3), 4u) << "the server's first frame is SETTINGS";
        for (size_t at = 9; at + 6 <= 9 + length; at += 6) {
          const uint32_t id = (byte(at) << 8) | byte(at + 1);
          const uint32_t value = (byte(at + 2) << 24) | (byte(at + 3) << 16) |
                                 (byte(at + 4) << 8) | byte(at + 5);
          if (id == 3) announced = value;  // SETTINGS_MAX_CONCURRENT_STREAMS
        }
        break;
      }
    }
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) {
      ADD_FAILURE() << "no SETTINGS frame from " << address;
      break;
    }
    received.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return announced;
}

// One decision served over a fresh connection: the server is still up.
void ExpectStillServing(const std::string& address) {
  auto stub = v1::Authorizer::NewStub(Channel(address));
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::CheckResponse response;
  ASSERT_TRUE(
      stub->Check(&context, Request("search_contacts"), &response).ok());
  EXPECT_EQ(response.decision(), v1::ALLOW);
}

class VerdictdTest : public ::verdict::testing::SharedVerdictdTest {
 protected:
  void SetUp() override {
    SharedVerdictdTest::SetUp();
    if (HasFatalFailure()) return;
    authorizer_ = v1::Authorizer::NewStub(Channel(server_->address()));
    admin_ = v1::Admin::NewStub(Channel(server_->address()));
  }

  v1::CheckResponse Check(const v1::CheckRequest& request) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    const grpc::Status status =
        authorizer_->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::unique_ptr<v1::Authorizer::Stub> authorizer_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

TEST_F(VerdictdTest, AllowsByRuleWithIdentityIdAndRevision) {
  const v1::CheckResponse response = Check(Request("get_contact"));
  EXPECT_EQ(response.decision(), v1::ALLOW);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "allowed_by_rule");
  EXPECT_EQ(response.reasons(0).policy(), "crm-agents");
  EXPECT_EQ(response.reasons(0).rule(), "read-contacts");
  EXPECT_THAT(response.decision_id(), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_FALSE(response.policy_revision().empty());
  EXPECT_EQ(response.identity().subject(),
            "spiffe://corp.example/agent/crm/r1");
  EXPECT_EQ(response.identity().method(), "asserted");
  // The default decisions.cache_ttl is 0s: nothing may be reused.
  EXPECT_EQ(response.cache_ttl().seconds(), 0);
  EXPECT_TRUE(response.trace().empty());
}

TEST_F(VerdictdTest, DecisionIdsAreUnique) {
  const v1::CheckResponse a = Check(Request("get_contact"));
  const v1::CheckResponse b = Check(Request("get_contact"));
  EXPECT_NE(a.decision_id(), b.decision_id());
}

TEST_F(VerdictdTest, DenyRuleOverridesAllowAndNamesPolicyAndRule) {
  v1::CheckRequest request = Request("delete_contact");
  request.mutable_subject()->add_roles("crm-writer");
  const v1::CheckResponse response = Check(request);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "denied_by_rule");
  EXPECT_EQ(response.reasons(0).policy(), "crm-agents");
  EXPECT_EQ(response.reasons(0).rule(), "no-delete");
  EXPECT_EQ(response.reasons(0).message(), "agents never delete contacts");
  EXPECT_FALSE(response.has_obligations());
}

TEST_F(VerdictdTest, DefaultDenyWhenNoAllowRuleApplies) {
  const v1::CheckResponse response = Check(Request("get_contact", "staging"));
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_GE(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "no_matching_rule");
}

TEST_F(VerdictdTest, UnknownActionIsDefaultDeny) {
  v1::CheckRequest request = Request("get_contact");
  request.set_action("sampling/createMessage");
  const v1::CheckResponse response = Check(request);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_GE(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "no_matching_rule");
}

TEST_F(VerdictdTest, ObligationsMergeInRuleOrderFirstRuleWins) {
  const v1::CheckResponse response = Check(Request("search_contacts"));
  ASSERT_EQ(response.decision(), v1::ALLOW);
  ASSERT_EQ(response.reasons_size(), 2);
  EXPECT_EQ(response.reasons(0).rule(), "read-contacts");
  EXPECT_EQ(response.reasons(1).rule(), "row-cap");
  const auto& fields = response.obligations().fields();
  ASSERT_TRUE(fields.contains("max_rows"));
  EXPECT_EQ(fields.at("max_rows").number_value(), 100);
  ASSERT_TRUE(fields.contains("audit"));
  EXPECT_TRUE(fields.at("audit").bool_value());
  ASSERT_TRUE(fields.contains("redact"));
  ASSERT_EQ(fields.at("redact").list_value().values_size(), 1);
  EXPECT_EQ(fields.at("redact").list_value().values(0).string_value(), "email");
}

TEST_F(VerdictdTest, ExplainTracesEveryCandidateRule) {
  v1::CheckRequest request = Request("search_contacts", "dev");
  request.set_explain(true);
  const v1::CheckResponse response = Check(request);
  EXPECT_EQ(response.decision(), v1::ALLOW);
  std::vector<std::string> steps;
  for (const v1::TraceStep& step : response.trace()) {
    steps.push_back(absl::StrCat(step.policy(), "/", step.rule(), " ",
                                 step.effect(), " ", step.outcome()));
  }
  EXPECT_THAT(steps, ::testing::UnorderedElementsAre(
                         "crm-agents/read-contacts allow matched",
                         "crm-limits/row-cap allow condition_false"));
}

TEST_F(VerdictdTest, CheckBatchAnswersItemByItemInOrder) {
  v1::CheckBatchRequest request;
  request.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  request.mutable_subject()->add_roles("crm-reader");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("prod");
  for (const char* tool :
       {"delete_contact", "get_contact", "update_contact", "search_contacts"}) {
    v1::CheckBatchItem* item = request.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name(tool);
    item->set_action("tools/call");
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::CheckBatchResponse response;
  ASSERT_TRUE(authorizer_->CheckBatch(&context, request, &response).ok());
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_EQ(response.results(0).decision(), v1::DENY);
  EXPECT_EQ(response.results(0).reasons(0).rule(), "no-delete");
  EXPECT_EQ(response.results(1).decision(), v1::ALLOW);
  EXPECT_EQ(response.results(2).decision(), v1::DENY);
  EXPECT_EQ(response.results(2).reasons(0).code(), "no_matching_rule");
  EXPECT_EQ(response.results(3).decision(), v1::ALLOW);
  EXPECT_NE(response.results(0).decision_id(),
            response.results(1).decision_id());
  EXPECT_EQ(response.policy_revision(), response.results(1).policy_revision());
  EXPECT_EQ(response.identity().method(), "asserted");
}

TEST_F(VerdictdTest, CheckBatchOverTheItemCapIsInvalidArgument) {
  v1::CheckBatchRequest request;
  request.mutable_subject()->set_id("agent");
  for (int i = 0; i < 1025; ++i) {
    v1::CheckBatchItem* item = request.add_items();
    item->mutable_tool()->set_name("get_contact");
    item->set_action("tools/call");
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::CheckBatchResponse response;
  EXPECT_EQ(authorizer_->CheckBatch(&context, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// This verdictd has no issuer configured (tests/service/authn_integration_test
// covers verification).
TEST_F(VerdictdTest, AnyCredentialIsUnauthenticatedNotIgnored) {
  v1::CheckRequest with_token = Request("get_contact");
  with_token.mutable_credentials()->set_bearer_token(
      "eyJhbGciOiJub25lIn0.e30.");
  v1::CheckRequest with_actor = Request("get_contact");
  with_actor.mutable_credentials()->add_actor_tokens("token");
  v1::CheckRequest with_grant = Request("get_contact");
  with_grant.mutable_credentials()->set_grant_token("grant");
  for (const v1::CheckRequest& request : {with_token, with_actor, with_grant}) {
    const v1::CheckResponse response = Check(request);
    EXPECT_EQ(response.decision(), v1::DENY);
    ASSERT_EQ(response.reasons_size(), 1);
    EXPECT_EQ(response.reasons(0).code(), "unauthenticated");
    EXPECT_THAT(response.reasons(0).message(),
                ContainsRegex("no issuer configured|grants are not enabled"));
    EXPECT_FALSE(response.has_identity());
  }
}

TEST_F(VerdictdTest, MalformedRequestsDenyNamingTheField) {
  struct Case {
    v1::CheckRequest request;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back({Request(""), "tool.name"});
  cases.push_back({Request("get_contact"), "action"});
  cases.back().request.clear_action();
  cases.push_back({Request("get_contact"), "subject.id"});
  cases.back().request.mutable_subject()->set_id(std::string(3000, 's'));
  for (const Case& c : cases) {
    const v1::CheckResponse response = Check(c.request);
    EXPECT_EQ(response.decision(), v1::DENY) << c.field;
    ASSERT_EQ(response.reasons_size(), 1) << c.field;
    EXPECT_EQ(response.reasons(0).code(), "invalid_request");
    EXPECT_THAT(response.reasons(0).message(), HasSubstr(c.field));
    EXPECT_EQ(response.challenge().http_status(), 400);
  }
  // Nobody named and no credential: a 401, however trusted the caller.
  v1::CheckRequest anonymous = Request("get_contact");
  anonymous.mutable_subject()->clear_id();
  const v1::CheckResponse response = Check(anonymous);
  EXPECT_EQ(response.reasons(0).code(), "unauthenticated");
  EXPECT_EQ(response.category(), v1::REASON_CATEGORY_AUTHENTICATION);
  EXPECT_EQ(response.challenge().www_authenticate(), "Bearer");
}

TEST_F(VerdictdTest, ContextDeeperThanTheLimitDeniesAndServerServes) {
  // 20 levels: within protobuf's parse limit, over max_context_depth (16).
  v1::CheckRequest request = Request("get_contact");
  google::protobuf::Struct* level = request.mutable_context();
  for (int i = 0; i < 20; ++i) {
    level = (*level->mutable_fields())["next"].mutable_struct_value();
  }
  const v1::CheckResponse response = Check(request);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "invalid_request");
  EXPECT_THAT(response.reasons(0).message(), HasSubstr("context"));
}

TEST_F(VerdictdTest, ContextNested200DeepIsRejectedAndServerServes) {
  v1::CheckRequest request = Request("get_contact");
  google::protobuf::Struct* level = request.mutable_context();
  for (int i = 0; i < 200; ++i) {
    level = (*level->mutable_fields())["next"].mutable_struct_value();
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::CheckResponse response;
  const grpc::Status status = authorizer_->Check(&context, request, &response);
  if (status.ok()) {
    EXPECT_EQ(response.decision(), v1::DENY);
    ASSERT_GE(response.reasons_size(), 1);
    EXPECT_EQ(response.reasons(0).code(), "invalid_request");
  }
  ExpectStillServing(server_->address());
}

TEST_F(VerdictdTest, TenMegabyteContextIsResourceExhaustedAndServerServes) {
  v1::CheckRequest request = Request("get_contact");
  (*request.mutable_context()->mutable_fields())["blob"].set_string_value(
      std::string(10 << 20, 'x'));
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::CheckResponse response;
  const grpc::Status status = authorizer_->Check(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  ExpectStillServing(server_->address());
}

TEST_F(VerdictdTest, InvalidUtf8IsAnErrorOrDenyAndServerServes) {
  v1::CheckRequest request = Request("get_contact");
  request.mutable_subject()->set_id("AAAA");
  std::string bytes = request.SerializeAsString();
  const size_t at = bytes.find("AAAA");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 4, "\xff\xfe\xc0\x80");
  std::string response_bytes;
  const grpc::Status status =
      RawUnary(server_->address(), "/verdict.v1.Authorizer/Check", bytes,
               &response_bytes);
  if (status.ok()) {
    v1::CheckResponse response;
    ASSERT_TRUE(response.ParseFromString(response_bytes));
    EXPECT_EQ(response.decision(), v1::DENY);
  }
  ExpectStillServing(server_->address());
  // A client's bad bytes are answered, not logged: no log flooding.
  EXPECT_THAT(server_->output(), Not(HasSubstr("UTF-8")));
}

TEST_F(VerdictdTest, CallsInFlightPerConnectionAreCappedAt4096) {
  EXPECT_EQ(AnnouncedMaxConcurrentStreams(server_->address()), 4096);
}

TEST_F(VerdictdTest, HealthIsServing) {
  std::string response;
  // An empty HealthCheckRequest asks about the whole server.
  const grpc::Status status = RawUnary(
      server_->address(), "/grpc.health.v1.Health/Check", "", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // HealthCheckResponse{status: SERVING (1)}.
  EXPECT_EQ(response, std::string("\x08\x01", 2));
}

TEST_F(VerdictdTest, HealthNamesTheServicesAndRefusesUnknownOnes) {
  auto health = grpc::health::v1::Health::NewStub(Channel(server_->address()));
  for (const char* name : {"verdict.v1.Authorizer", "verdict.v1.Admin"}) {
    grpc::ClientContext context;
    SetDeadline(&context);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << name;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << name;
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(health->Check(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(VerdictdHealthTest, WatchSeesServingThenNotServingAtShutdown) {
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", kFixtureDir});
  ASSERT_NE(server, nullptr);
  auto health = grpc::health::v1::Health::NewStub(Channel(server->address()));

  // A watch that the client abandons must not keep anything alive.
  {
    grpc::ClientContext abandoned;
    SetDeadline(&abandoned);
    auto stream = health->Watch(&abandoned, {});
    grpc::health::v1::HealthCheckResponse first;
    ASSERT_TRUE(stream->Read(&first));
    abandoned.TryCancel();
  }

  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("verdict.v1.Authorizer");
  auto stream = health->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  server->Signal(SIGTERM);
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
  stream.reset();
  health.reset();  // gRPC 1.51's shutdown waits for open channels to close
  EXPECT_EQ(server->Stop(), 0) << server->output();
}

TEST_F(VerdictdTest, ReflectionListsTheAuthorizer) {
  grpc::GenericStub stub(Channel(server_->address()));
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  SetDeadline(&context);
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  // ServerReflectionRequest{list_services (field 7): "*"}.
  grpc::Slice slice(std::string("\x3a\x01*", 3));
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  step(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  step(3);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  step(4);
  ASSERT_TRUE(ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(bytes, HasSubstr("verdict.v1.Authorizer"));
  EXPECT_THAT(bytes, HasSubstr("verdict.v1.Admin"));
}

TEST_F(VerdictdTest, AdminStatusReportsRevisionAndCounts) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::StatusResponse status;
  ASSERT_TRUE(admin_->Status(&context, v1::StatusRequest(), &status).ok());
  EXPECT_EQ(status.policy_revision(),
            Check(Request("get_contact")).policy_revision());
  EXPECT_EQ(status.rule_count(), 6);
  EXPECT_EQ(status.policy_count(), 2);
  EXPECT_TRUE(status.last_reload_ok());
  EXPECT_TRUE(status.last_reload_errors().empty());
  EXPECT_GT(status.last_reload_time().seconds(), 0);
  EXPECT_EQ(status.policy_dir(), kFixtureDir);
}

// A copy of the fixture policies in a fresh temporary directory.
std::string CopyFixture() {
  std::string pattern = absl::StrCat(::testing::TempDir(), "verdict-XXXXXX");
  const char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  fs::copy(kFixtureDir, pattern, fs::copy_options::recursive);
  return pattern;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

TEST(VerdictdReloadTest, AdminReloadSwapsOnSuccessKeepsLastGoodOnFailure) {
  const std::string dir = CopyFixture();
  std::unique_ptr<VerdictdProcess> server = StartOrDie({"--policies", dir});
  ASSERT_NE(server, nullptr);
  auto admin = v1::Admin::NewStub(Channel(server->address()));
  auto authorizer = v1::Authorizer::NewStub(Channel(server->address()));
  auto status = [&] {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::StatusResponse response;
    EXPECT_TRUE(admin->Status(&context, v1::StatusRequest(), &response).ok());
    return response;
  };
  auto reload = [&] {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::ReloadResponse response;
    EXPECT_TRUE(admin->Reload(&context, v1::ReloadRequest(), &response).ok());
    return response;
  };
  auto decide = [&](const std::string& tool) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    EXPECT_TRUE(authorizer->Check(&context, Request(tool), &response).ok());
    return response;
  };
  const std::string first = status().policy_revision();
  EXPECT_EQ(decide("update_contact").decision(), v1::DENY);

  WriteFile(dir + "/update.yaml", R"(policy: crm-updates
roles: [crm-reader]
rules:
  - id: update
    effect: allow
    servers: [crm]
    tools: [update_contact]
)");
  const v1::ReloadResponse reloaded = reload();
  EXPECT_TRUE(reloaded.ok());
  EXPECT_TRUE(reloaded.errors().empty());
  EXPECT_NE(reloaded.policy_revision(), first);
  EXPECT_EQ(status().rule_count(), 7);
  EXPECT_EQ(decide("update_contact").decision(), v1::ALLOW);

  WriteFile(dir + "/update.yaml", "policy: crm-updates\nrules: [\n");
  const v1::ReloadResponse failed = reload();
  EXPECT_FALSE(failed.ok());
  ASSERT_FALSE(failed.errors().empty());
  EXPECT_THAT(failed.errors(0), ContainsRegex("update\\.yaml:[0-9]+:[0-9]+"));
  EXPECT_EQ(failed.policy_revision(), reloaded.policy_revision());
  const v1::StatusResponse after = status();
  EXPECT_FALSE(after.last_reload_ok());
  EXPECT_EQ(after.policy_revision(), reloaded.policy_revision());
  EXPECT_FALSE(after.last_reload_errors().empty());
  EXPECT_EQ(decide("update_contact").decision(), v1::ALLOW);

  // SIGHUP reloads too: the fixed file is picked up without an RPC.
  WriteFile(dir + "/update.yaml", R"(policy: crm-updates
roles: [crm-reader]
rules:
  - id: update
    effect: deny
    servers: [crm]
    tools: [update_contact]
)");
  server->Signal(SIGHUP);
  ASSERT_TRUE(server->WaitForOutput("policies reloaded")) << server->output();
  EXPECT_EQ(decide("update_contact").decision(), v1::DENY);
  EXPECT_TRUE(status().last_reload_ok());

  // An open client connection would hold the shutdown for its grace period.
  admin.reset();
  authorizer.reset();
  EXPECT_EQ(server->Stop(), 0) << server->output();
  fs::remove_all(dir);
}

// The daemon's own reload path (SIGHUP) reaches a WatchPolicy stream, and
// SIGTERM ends it with OK.
TEST(VerdictdReloadTest, WatchPolicySeesSighupAndEndsWithOkAtStop) {
  const std::string dir = CopyFixture();
  std::unique_ptr<VerdictdProcess> server = StartOrDie({"--policies", dir});
  ASSERT_NE(server, nullptr);
  auto authorizer = v1::Authorizer::NewStub(Channel(server->address()));
  // Freed before the stop: its call holds the channel open.
  auto context = std::make_unique<grpc::ClientContext>();
  SetDeadline(context.get());
  auto stream =
      authorizer->WatchPolicy(context.get(), v1::WatchPolicyRequest());
  v1::PolicyRevision first;
  ASSERT_TRUE(stream->Read(&first));
  EXPECT_FALSE(first.policy_revision().empty());

  WriteFile(dir + "/update.yaml", R"(policy: crm-updates
roles: [crm-reader]
rules:
  - id: update
    effect: allow
    servers: [crm]
    tools: [update_contact]
)");
  server->Signal(SIGHUP);
  v1::PolicyRevision next;
  ASSERT_TRUE(stream->Read(&next)) << server->output();
  EXPECT_NE(next.policy_revision(), first.policy_revision());
  EXPECT_GE(next.published_at().seconds(), first.published_at().seconds());

  server->Signal(SIGTERM);
  EXPECT_FALSE(stream->Read(&next));
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  stream.reset();
  context.reset();
  authorizer.reset();  // gRPC 1.51's shutdown waits for open channels
  EXPECT_EQ(server->Stop(), 0) << server->output();
  fs::remove_all(dir);
}

TEST(VerdictdStartTest, PortInUseFailsStartup) {
  std::unique_ptr<VerdictdProcess> first =
      StartOrDie({"--policies", kFixtureDir});
  ASSERT_NE(first, nullptr);
  absl::StatusOr<ProcessResult> second =
      RunProcess(VerdictdPath(),
                 {"--listen", first->address(), "--policies", kFixtureDir});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->exit_code, 1);
  EXPECT_THAT(second->err, HasSubstr("cannot listen on " + first->address()));
}

TEST(VerdictdStartTest, DashedFlagsAreAccepted) {
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", kFixtureDir, "--metrics-listen", "127.0.0.1:0",
                  "--audit-log", "/dev/null"});
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->output(), HasSubstr("decision log at /dev/null"));
  EXPECT_THAT(server->metrics_address(), ::testing::StartsWith("127.0.0.1:"));
}

TEST(VerdictdStartTest, BrokenPolicyFailsStartupWithPosition) {
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictdPath(), {"--listen", "127.0.0.1:0", "--policies", kBrokenDir});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->err, ContainsRegex("bad\\.yaml:[0-9]+:[0-9]+"));
}

TEST(VerdictdStartTest, MissingPolicyDirectoryFailsStartup) {
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictdPath(),
      {"--listen", "127.0.0.1:0", "--policies", "tests/testdata/no-such-dir"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NE(result->exit_code, 0);
  EXPECT_THAT(result->err, HasSubstr("no-such-dir"));
}

TEST(VerdictdStartTest, ConfigUnknownKeyFailsWithPosition) {
  const std::string path = absl::StrCat(::testing::TempDir(), "unknown.yaml");
  WriteFile(path, "listen: 127.0.0.1:0\nlimits:\n  max_depth: 3\n");
  absl::StatusOr<ProcessResult> result =
      RunProcess(VerdictdPath(), {"--config", path, "--policies", kFixtureDir});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_THAT(result->err, HasSubstr("unknown.yaml:3:3"));
  EXPECT_THAT(result->err, HasSubstr("max_depth"));
}

// Key material that cannot be loaded stops the start, naming the file;
// serving without it would fail open (or fail every call).
TEST(VerdictdStartTest, UnreadableKeysAndCertificatesFailStartup) {
  const std::string jwt = absl::StrCat(::testing::TempDir(), "jwt.yaml");
  WriteFile(jwt, R"(authentication:
  jwt:
    - issuer: https://idp.example
      jwks_file: keys/missing.jwks.json
      audiences: [mcp]
)");
  const std::string tls = absl::StrCat(::testing::TempDir(), "tls.yaml");
  WriteFile(tls, R"(tls:
  cert_file: tls/missing-server.pem
  key_file: tls/server.key
  require_client_cert: false
)");
  const std::string callers =
      absl::StrCat(::testing::TempDir(), "callers.yaml");
  WriteFile(callers, R"(callers:
  - id: "spiffe://corp.example/mcp/*"
    may: [check]
)");
  for (const auto& [path, file] :
       {std::pair{jwt, "missing.jwks.json"},
        std::pair{tls, "missing-server.pem"}, std::pair{callers, "tls"}}) {
    absl::StatusOr<ProcessResult> result =
        RunProcess(VerdictdPath(), {"--config", path, "--listen", "127.0.0.1:0",
                                    "--policies", kFixtureDir});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_NE(result->exit_code, 0) << path;
    EXPECT_THAT(result->err, HasSubstr(file));
    EXPECT_THAT(result->err, Not(HasSubstr("serving on")));
  }
}

TEST(VerdictdStartTest, ConfigFileLimitsApplyAndSigtermExitsZero) {
  const std::string path = absl::StrCat(::testing::TempDir(), "limits.yaml");
  WriteFile(path, absl::StrCat("policies: {dir: ", kFixtureDir,
                               "}\nlimits: {max_context_depth: 2, "
                               "max_concurrent_streams: 7}\n"
                               "decisions: {cache_ttl: 30s}\n"));
  std::unique_ptr<VerdictdProcess> server = StartOrDie({"--config", path});
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->output(), HasSubstr("loopback callers only"));
  EXPECT_EQ(AnnouncedMaxConcurrentStreams(server->address()), 7);
  auto authorizer = v1::Authorizer::NewStub(Channel(server->address()));
  v1::CheckRequest request = Request("get_contact");
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    ASSERT_TRUE(authorizer->Check(&context, request, &response).ok());
    EXPECT_EQ(response.decision(), v1::ALLOW);
    EXPECT_EQ(response.cache_ttl().seconds(), 30);
  }
  (*request.mutable_context()->mutable_fields())["a"]
      .mutable_struct_value()
      ->mutable_fields()
      ->insert({"b", google::protobuf::Value()});
  (*(*request.mutable_context()->mutable_fields())["a"]
        .mutable_struct_value()
        ->mutable_fields())["b"]
      .mutable_list_value()
      ->add_values();
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CheckResponse response;
    ASSERT_TRUE(authorizer->Check(&context, request, &response).ok());
    EXPECT_EQ(response.decision(), v1::DENY);
    ASSERT_EQ(response.reasons_size(), 1);
    EXPECT_EQ(response.reasons(0).code(), "invalid_request");
    EXPECT_EQ(response.cache_ttl().seconds(), 0);
  }
  authorizer.reset();
  EXPECT_EQ(server->Stop(), 0) << server->output();
  EXPECT_THAT(server->output(), HasSubstr("shutting down"));
}

}  // namespace
}  // namespace verdict
