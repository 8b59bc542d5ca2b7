// The decision log of the real verdictd against a hostile world: killed
// with SIGKILL under load it loses no decision it answered (the next start
// recovers them from the journal and says so); a batch with a huge subject
// cannot blow the log up or rotate its history away; a failed credential is
// recorded with its method and message, never the token; the client's
// request id and W3C trace context are recorded; a second verdictd on the
// same log cannot write it.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/http_get.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::verdict::testing::HttpGet;
using ::verdict::testing::VerdictdProcess;

namespace fs = std::filesystem;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";
constexpr char kTraceparent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fs::path TempDir() {
  fs::path dir =
      fs::temp_directory_path() /
      absl::StrCat(
          "decision_log_integration_test_", ::getpid(), "_",
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::unique_ptr<VerdictdProcess> StartOrDie(
    const std::vector<std::string>& args) {
  auto server = VerdictdProcess::Start(args);
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return nullptr;
  }
  return *std::move(server);
}

// A channel of its own (not shared with other stubs to the same address),
// so each client thread has its own connection.
std::shared_ptr<grpc::Channel> Channel(const std::string& address, int n = 0) {
  grpc::ChannelArguments args;
  args.SetInt("verdict.test.channel", n);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

v1::CheckRequest Request(const std::string& tool) {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name(tool);
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("prod");
  return request;
}

grpc::Status Check(v1::Authorizer::Stub* stub, const v1::CheckRequest& request,
                   v1::CheckResponse* response,
                   absl::Duration timeout = absl::Seconds(10)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(timeout));
  return stub->Check(&context, request, response);
}

template <typename Fn>
bool Eventually(Fn done, absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

double Sample(const std::string& exposition, const std::string& name) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) != 0) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
      return value;
    }
  }
  return -1;
}

std::string Scrape(const VerdictdProcess& server) {
  absl::StatusOr<std::string> body =
      HttpGet(server.metrics_address(), "/metrics");
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *body : "";
}

std::vector<std::string> Lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every record of the live file and its rotations.
std::vector<nlohmann::json> AllRecords(const fs::path& log) {
  std::vector<nlohmann::json> records;
  for (int i = 9; i >= 0; --i) {
    const fs::path file =
        i == 0 ? log : fs::path(absl::StrCat(log.string(), ".", i));
    for (const std::string& line : Lines(file)) {
      records.push_back(nlohmann::json::parse(line, nullptr, false));
    }
  }
  return records;
}

// A normal Check is answered, and fast.
void ExpectPromptAnswer(const VerdictdProcess& server) {
  auto stub = v1::Authorizer::NewStub(Channel(server.address(), 99));
  v1::CheckResponse response;
  ASSERT_TRUE(Check(stub.get(), Request("get_contact"), &response).ok());
  const absl::Time start = absl::Now();
  const grpc::Status status = Check(stub.get(), Request("get_contact"),
                                    &response, absl::Milliseconds(100));
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_EQ(response.decision(), v1::ALLOW);
}

// Clients call Check as fast as they can and keep every decision_id they
// were answered; verdictd is killed with SIGKILL in the middle, three times.
// Every answered decision is in the log afterwards, exactly once, and each
// restart says how many records it recovered.
TEST(DecisionLogKillTest, SigkillUnderLoadLosesNoAnsweredDecision) {
  const fs::path dir = TempDir();
  const fs::path log = dir / "decisions.jsonl";
  const std::vector<std::string> args = {"--policies", kFixtureDir,
                                         "--audit-log", log.string()};
  constexpr int kClients = 4;
  constexpr int kRounds = 3;
  absl::Mutex mu;
  std::set<std::string> answered;
  double recovered_total = 0;
  for (int round = 0; round <= kRounds; ++round) {
    std::unique_ptr<VerdictdProcess> server = StartOrDie(args);
    ASSERT_NE(server, nullptr);
    const double recovered =
        Sample(Scrape(*server), "verdict_audit_recovered_records_total");
    if (recovered > 0) {
      EXPECT_THAT(server->output(), HasSubstr("recovered them from"));
    }
    recovered_total += std::max(recovered, 0.0);
    if (round == kRounds) {
      ExpectPromptAnswer(*server);
      break;
    }
    std::atomic<bool> stop{false};
    std::atomic<int> count{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        auto stub = v1::Authorizer::NewStub(
            Channel(server->address(), round * kClients + c));
        const v1::CheckRequest request =
            Request(c % 2 == 0 ? "get_contact" : "delete_contact");
        std::vector<std::string> mine;
        while (!stop.load()) {
          v1::CheckResponse response;
          if (!Check(stub.get(), request, &response, absl::Seconds(2)).ok()) {
            break;  // killed
          }
          mine.push_back(response.decision_id());
          count.fetch_add(1);
        }
        absl::MutexLock lock(&mu);
        answered.insert(mine.begin(), mine.end());
      });
    }
    // Killed once it is busy, at a different point each round.
    ASSERT_TRUE(Eventually([&] { return count.load() >= 1500 + 700 * round; }));
    server->Signal(SIGKILL);
    stop.store(true);
    for (std::thread& client : clients) client.join();
    EXPECT_EQ(server->Stop(), 128 + SIGKILL);
  }
  std::set<std::string> logged;
  size_t records = 0;
  for (const nlohmann::json& record : AllRecords(log)) {
    ASSERT_FALSE(record.is_discarded()) << "a torn or corrupt line";
    logged.insert(record.value("decision_id", ""));
    ++records;
  }
  EXPECT_EQ(records, logged.size()) << "a record was written twice";
  size_t missing = 0;
  for (const std::string& id : answered) missing += logged.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "of " << answered.size() << " answered decisions";
  std::cerr << "answered " << answered.size() << " decisions over " << kRounds
            << " kills; " << recovered_total
            << " were recovered from the journal at restarts\n";
  fs::remove_all(dir);
}

// The 932 KiB CheckBatch: a 900 KB asserted subject and 1,024
// items. Each record names the subject in at most 1 KiB, so the burst takes
// a few MiB at most and, with 4 MiB files, rotates nothing away.
TEST(DecisionLogBoundsTest, HugeBatchCannotRotateHistoryAway) {
  const fs::path dir = TempDir();
  const fs::path log = dir / "decisions.jsonl";
  const fs::path config = dir / "verdictd.yaml";
  std::ofstream(config) << "audit: {path: " << log.string()
                        << ", max_bytes: 4194304, keep_files: 2}\n";
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--config", config.string(), "--policies", kFixtureDir});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Authorizer::NewStub(Channel(server->address()));
  v1::CheckResponse first;
  ASSERT_TRUE(Check(stub.get(), Request("get_contact"), &first).ok());

  v1::CheckBatchRequest batch;
  batch.mutable_subject()->set_id(std::string(900000, 's'));
  batch.mutable_subject()->add_roles("crm-reader");
  batch.set_request_id("burst-1");
  for (int i = 0; i < 1024; ++i) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name(absl::StrCat("get_", i));
    item->set_action("tools/list");
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    v1::CheckBatchResponse response;
    (void)stub->CheckBatch(&context, batch, &response);  // any answer will do
  }
  ExpectPromptAnswer(*server);
  ASSERT_TRUE(Eventually([&] {
    const std::string metrics = Scrape(*server);
    return Sample(metrics, "verdict_audit_records_total") +
               Sample(metrics, "verdict_audit_dropped_total") >=
           2;
  }));
  server.reset();  // writes what is left

  EXPECT_FALSE(fs::exists(log.string() + ".1")) << "the burst rotated the log";
  EXPECT_LT(fs::file_size(log), 4u << 20);
  bool first_kept = false;
  int burst = 0;
  for (const nlohmann::json& record : AllRecords(log)) {
    ASSERT_FALSE(record.is_discarded());
    first_kept |= record["decision_id"] == first.decision_id();
    if (record.value("request_id", "") != "burst-1") continue;
    ++burst;
    EXPECT_LE(record["subject"]["id"].get<std::string>().size(), 1024u);
    EXPECT_EQ(record.value("truncated", false), true);
  }
  EXPECT_TRUE(first_kept) << "the record before the burst is gone";
  std::cerr << burst << " records of the burst, log " << fs::file_size(log)
            << " bytes\n";
  fs::remove_all(dir);
}

// A bearer token that does not verify: the record says it was a JWT and
// why, carries the request id and trace context, and never the token.
TEST(DecisionLogContentTest, FailedCredentialAndCorrelationAreRecorded) {
  const fs::path dir = TempDir();
  const fs::path log = dir / "decisions.jsonl";
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", kFixtureDir, "--audit-log", log.string()});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Authorizer::NewStub(Channel(server->address()));
  constexpr char kToken[] =
      "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudC16cTl4In0.c2lnbmF0dXJlLXpxOXg";
  v1::CheckRequest request = Request("get_contact");
  request.mutable_credentials()->set_bearer_token(kToken);
  request.set_request_id("req-7f3a");
  request.set_traceparent(kTraceparent);
  request.set_tracestate("rojo=00f067aa0ba902b7");
  v1::CheckResponse denied;
  ASSERT_TRUE(Check(stub.get(), request, &denied).ok());
  EXPECT_EQ(denied.decision(), v1::DENY);

  v1::CheckRequest bad_trace = Request("get_contact");
  bad_trace.set_request_id(std::string(5000, 'r'));
  bad_trace.set_traceparent("00-zz-not-a-trace");
  bad_trace.set_tracestate("x=y");
  v1::CheckResponse allowed;
  ASSERT_TRUE(Check(stub.get(), bad_trace, &allowed).ok());
  EXPECT_EQ(allowed.decision(), v1::ALLOW) << "correlation never decides";

  ASSERT_TRUE(Eventually([&] { return Lines(log).size() >= 2; }));
  const std::vector<std::string> lines = Lines(log);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    EXPECT_THAT(line, Not(HasSubstr("c2lnbmF0dXJlLXpxOXg")));
    EXPECT_THAT(line, Not(HasSubstr("eyJzdWIiOiJhZ2VudC16cTl4In0")));
  }
  const nlohmann::json failed = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(failed["decision_id"], denied.decision_id());
  EXPECT_EQ(failed["decision"], "deny");
  EXPECT_EQ(failed["subject"]["auth"], "jwt");
  EXPECT_THAT(failed["subject"]["error"].get<std::string>(),
              HasSubstr("bearer_token"));
  EXPECT_EQ(failed["request_id"], "req-7f3a");
  EXPECT_EQ(failed["trace"]["traceparent"], kTraceparent);
  EXPECT_EQ(failed["trace"]["tracestate"], "rojo=00f067aa0ba902b7");

  const nlohmann::json cut = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(cut["request_id"].get<std::string>(), std::string(128, 'r'));
  EXPECT_EQ(cut["truncated"], true);
  EXPECT_FALSE(cut.contains("trace"));
  EXPECT_EQ(cut["subject"]["auth"], "asserted");
  fs::remove_all(dir);
}

// Two verdictd on one decision log would overwrite each other's journal:
// the second cannot take it, and with on_failure: deny it denies.
TEST(DecisionLogContentTest, ASecondVerdictdOnTheSameLogDenies) {
  const fs::path dir = TempDir();
  const fs::path log = dir / "decisions.jsonl";
  const fs::path config = dir / "verdictd.yaml";
  std::ofstream(config) << "audit: {path: " << log.string()
                        << ", on_failure: deny}\n";
  const std::vector<std::string> args = {"--config", config.string(),
                                         "--policies", kFixtureDir};
  std::unique_ptr<VerdictdProcess> first = StartOrDie(args);
  ASSERT_NE(first, nullptr);
  std::unique_ptr<VerdictdProcess> second = StartOrDie(args);
  ASSERT_NE(second, nullptr);
  EXPECT_THAT(second->output(), HasSubstr("another verdictd"));
  auto stub = v1::Authorizer::NewStub(Channel(second->address()));
  v1::CheckResponse response;
  ASSERT_TRUE(Check(stub.get(), Request("get_contact"), &response).ok());
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_GE(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "audit_unavailable");
  ExpectPromptAnswer(*first);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace verdict
