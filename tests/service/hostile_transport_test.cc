// Hostile clients against a real verdictd on loopback (docs/security.md,
// "Transport" and "Memory"): each test does the bad thing over a raw HTTP/2
// socket or the real gRPC client, asserts the bound (verdictd's VmRSS, the
// time until the server ends it, the status the client gets) and that a
// normal Check is answered within 100 ms during and after the attack.

#include <sys/resource.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/raw_http2.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::verdict::testing::FrameType;
using ::verdict::testing::GrpcMessage;
using ::verdict::testing::RawHttp2Connection;
using ::verdict::testing::ResidentBytes;
using ::verdict::testing::VerdictdProcess;

constexpr char kPolicies[] = "tests/testdata/service/policies";
constexpr char kCheck[] = "/verdict.v1.Authorizer/Check";
constexpr int64_t kMiB = 1 << 20;

v1::CheckRequest NormalRequest() {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("get_contact");
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("prod");
  return request;
}

// Starts verdictd on the test policies with `limits` as its `limits:` map.
std::unique_ptr<VerdictdProcess> StartWithLimits(const std::string& name,
                                                 const std::string& limits) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "hostile_", name, ".yaml");
  std::ofstream(path) << "policies: {dir: " << kPolicies
                      << ", watch: false}\nlimits: {" << limits << "}\n";
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--config", path});
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return nullptr;
  }
  return *std::move(server);
}

// A normal client: its own connection, set up before any attack, so a cap
// on connections does not refuse it.
class Prober {
 public:
  explicit Prober(const std::string& address)
      : channel_(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(v1::Authorizer::NewStub(channel_)) {
    EXPECT_TRUE(channel_->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::seconds(10)));
  }

  // A Check with a 100 ms deadline; true when it was answered ALLOW in time.
  // A miss is tried twice more, so one scheduling stall of this loaded
  // machine does not fail a test, three in a row do.
  bool CheckWithin100ms() {
    for (int attempt = 0; attempt < 3; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(100));
      v1::CheckResponse response;
      const grpc::Status status =
          stub_->Check(&context, NormalRequest(), &response);
      if (status.ok() && response.decision() == v1::ALLOW) return true;
      last_error_ =
          absl::StrCat(status.error_code(), " ", status.error_message());
    }
    return false;
  }
  const std::string& last_error() const { return last_error_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Authorizer::Stub> stub_;
  std::string last_error_;
};

// Probes every 50 ms on a thread while an attack runs.
class BackgroundProbes {
 public:
  explicit BackgroundProbes(const std::string& address)
      : prober_(address), thread_([this] { Run(); }) {}
  ~BackgroundProbes() { Stop(); }

  // Stops probing; true when every probe was answered within 100 ms.
  bool Stop() {
    if (thread_.joinable()) {
      done_.Notify();
      thread_.join();
    }
    return failed_ == 0 && probes_ > 0;
  }
  std::string Summary() const {
    return absl::StrCat(probes_, " probes, ", failed_, " missed 100 ms (",
                        prober_.last_error(), ")");
  }

 private:
  void Run() {
    while (!done_.WaitForNotificationWithTimeout(absl::Milliseconds(50))) {
      ++probes_;
      if (!prober_.CheckWithin100ms()) ++failed_;
    }
  }

  Prober prober_;
  absl::Notification done_;
  int probes_ = 0;
  int failed_ = 0;
  std::thread thread_;
};

// What an attack measured, for bench/README.md and the report.
void Figure(const std::string& what, int64_t value) {
  ::testing::Test::RecordProperty(what, std::to_string(value));
  std::cerr << "figure " << what << " = " << value << "\n";
}

// Whether verdictd runs on jemalloc, which returns freed memory; sanitizer
// builds run on the sanitizer's allocator, which keeps it.
bool ReturnsFreedMemory(int pid) {
  std::ifstream maps(absl::StrCat("/proc/", pid, "/maps"));
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("libjemalloc") != std::string::npos) return true;
  }
  return false;
}

// Polls verdictd's VmRSS until it is at most `bound` (true) or `deadline`.
// RSS has no event to wait on.
bool RssFallsTo(int pid, int64_t bound, absl::Duration deadline) {
  const absl::Time end = absl::Now() + deadline;
  while (ResidentBytes(pid) > bound) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return true;
}

std::unique_ptr<RawHttp2Connection> Connected(const std::string& address) {
  absl::StatusOr<std::unique_ptr<RawHttp2Connection>> connection =
      RawHttp2Connection::Connect(address);
  if (!connection.ok()) {
    ADD_FAILURE() << connection.status();
    return nullptr;
  }
  EXPECT_TRUE((*connection)->SendPreface().ok());
  EXPECT_TRUE((*connection)->SendSettings().ok());
  EXPECT_TRUE(
      (*connection)->AwaitSettings(absl::Now() + absl::Seconds(10)).ok());
  return *std::move(connection);
}

// gzip of `inflated` zero bytes: about a thousandth of that.
std::string GzipBomb(int64_t inflated) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  const std::string zeros(kMiB, '\0');
  std::string out;
  char buffer[65536];
  for (int64_t left = inflated; left >= 0; left -= kMiB) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(std::min<int64_t>(left, kMiB));
    const int flush = left <= kMiB ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof(buffer);
      deflate(&z, flush);
      out.append(buffer, sizeof(buffer) - z.avail_out);
    } while (z.avail_out == 0);
    if (flush == Z_FINISH) break;
  }
  deflateEnd(&z);
  return out;
}

// Issue item 1: a stream that declares a huge message and streams it while
// respecting flow control is cut off near the transport's memory quota; the
// server stays answerable and its memory comes back.
TEST(HostileTransportTest, DeclaredHugeMessageIsCutOffAtTheMemoryQuota) {
  std::unique_ptr<VerdictdProcess> server = StartWithLimits(
      "huge", absl::StrCat("transport_memory_bytes: ", 64 * kMiB));
  ASSERT_NE(server, nullptr);
  const int64_t start_rss = ResidentBytes(server->pid());
  BackgroundProbes probes(server->address());
  std::unique_ptr<RawHttp2Connection> attacker = Connected(server->address());
  ASSERT_NE(attacker, nullptr);
  const uint32_t stream = attacker->NextStreamId();
  ASSERT_TRUE(attacker->SendHeaders(stream, kCheck).ok());
  const int64_t declared = 512 * kMiB;
  ASSERT_TRUE(
      attacker
          ->SendData(stream,
                     GrpcMessage("", false, static_cast<uint32_t>(declared)))
          .ok());
  int64_t peak_rss = 0;
  int64_t accepted = 0;
  const absl::Time end = absl::Now() + absl::Seconds(20);
  while (accepted < declared && absl::Now() < end && !attacker->closed() &&
         !attacker->stream(stream).ended) {
    accepted += attacker->SendFlowControlled(stream, 4 * kMiB, end);
    peak_rss = std::max(peak_rss, ResidentBytes(server->pid()));
  }
  Figure("huge_accepted_mib", accepted / kMiB);
  Figure("huge_rss_growth_mib", (peak_rss - start_rss) / kMiB);
  EXPECT_TRUE(attacker->closed() || attacker->stream(stream).ended)
      << accepted / kMiB << " MiB accepted of " << declared / kMiB;
  EXPECT_LT(accepted, 128 * kMiB);
  EXPECT_LT(peak_rss - start_rss, 96 * kMiB)
      << "start " << start_rss / kMiB << " MiB";
  EXPECT_TRUE(probes.Stop()) << probes.Summary();
  attacker.reset();
  if (ReturnsFreedMemory(server->pid())) {
    EXPECT_TRUE(
        RssFallsTo(server->pid(), start_rss + 24 * kMiB, absl::Seconds(20)))
        << ResidentBytes(server->pid()) / kMiB << " MiB, started at "
        << start_rss / kMiB;
  }
  EXPECT_TRUE(Prober(server->address()).CheckWithin100ms());
}

// Issue item 2: compression is refused at the headers, so a gzip bomb is
// never inflated, and two clients looping bombs do not slow a normal Check.
TEST(HostileTransportTest, GzipBombIsRefusedBeforeItIsInflated) {
  std::unique_ptr<VerdictdProcess> server = StartWithLimits("gzip", "");
  ASSERT_NE(server, nullptr);
  const int64_t start_rss = ResidentBytes(server->pid());
  const std::string bomb = GzipBomb(128 * kMiB);
  ASSERT_LT(bomb.size(), 256 * 1024);
  {
    std::unique_ptr<RawHttp2Connection> attacker = Connected(server->address());
    ASSERT_NE(attacker, nullptr);
    attacker->set_auto_window_update(true);
    const uint32_t stream = attacker->NextStreamId();
    ASSERT_TRUE(
        attacker->SendHeaders(stream, kCheck, {{"grpc-encoding", "gzip"}})
            .ok());
    // The server may answer before the body is all sent.
    const std::string message = GrpcMessage(bomb, true);
    attacker->SendFlowControlled(stream, message, true,
                                 absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(
        attacker->ReadUntilEnded(stream, absl::Now() + absl::Seconds(10)));
    EXPECT_EQ(attacker->stream(stream).Header("grpc-status"), "12");
    EXPECT_THAT(attacker->stream(stream).Header("grpc-message"),
                HasSubstr("gzip"));
    const uint32_t unnamed = attacker->NextStreamId();
    ASSERT_TRUE(attacker->SendHeaders(unnamed, kCheck).ok());
    attacker->SendFlowControlled(unnamed, message, true,
                                 absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(
        attacker->ReadUntilEnded(unnamed, absl::Now() + absl::Seconds(10)));
    // Never inflated: the compressed bytes do not parse as a request, which
    // is the client's error.
    EXPECT_EQ(attacker->stream(unnamed).Header("grpc-status"), "3");
  }
  {
    // What a real gRPC client that compresses gets.
    auto stub = v1::Authorizer::NewStub(grpc::CreateChannel(
        server->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    v1::CheckResponse response;
    const grpc::Status status =
        stub->Check(&context, NormalRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << status.error_message();
  }
  BackgroundProbes probes(server->address());
  std::atomic<int> bombs{0};
  std::vector<std::thread> loops;
  const absl::Time end = absl::Now() + absl::Seconds(3);
  for (int i = 0; i < 2; ++i) {
    loops.emplace_back([&] {
      std::unique_ptr<RawHttp2Connection> attacker =
          Connected(server->address());
      if (attacker == nullptr) return;
      attacker->set_auto_window_update(true);
      while (absl::Now() < end && !attacker->closed()) {
        const uint32_t stream = attacker->NextStreamId();
        if (!attacker->SendHeaders(stream, kCheck, {{"grpc-encoding", "gzip"}})
                 .ok()) {
          break;
        }
        // The server may refuse before the body is all sent.
        attacker->SendFlowControlled(stream, GrpcMessage(bomb, true), true,
                                     end);
        attacker->ReadUntilEnded(stream, absl::Now() + absl::Seconds(5));
        ++bombs;
      }
    });
  }
  int64_t peak_rss = 0;
  while (absl::Now() < end) {
    peak_rss = std::max(peak_rss, ResidentBytes(server->pid()));
    absl::SleepFor(absl::Milliseconds(50));
  }
  for (std::thread& loop : loops) loop.join();
  EXPECT_TRUE(probes.Stop()) << probes.Summary();
  Figure("gzip_bombs", bombs.load());
  Figure("gzip_rss_growth_mib", (peak_rss - start_rss) / kMiB);
  EXPECT_GT(bombs.load(), 10);
  EXPECT_LT(peak_rss - start_rss, 32 * kMiB)
      << bombs.load() << " bombs, start " << start_rss / kMiB << " MiB";
  EXPECT_TRUE(Prober(server->address()).CheckWithin100ms());
}

// Issue item 4: connections that never finish setting up, and ones that go
// quiet, are closed by the server.
TEST(HostileTransportTest, ConnectionsThatNeverStartOrGoQuietAreClosed) {
  std::unique_ptr<VerdictdProcess> server = StartWithLimits(
      "quiet", "handshake_timeout: 1s, max_connection_idle: 2s");
  ASSERT_NE(server, nullptr);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<RawHttp2Connection>> silent =
      RawHttp2Connection::Connect(server->address());
  ASSERT_TRUE(silent.ok()) << silent.status();
  absl::StatusOr<std::unique_ptr<RawHttp2Connection>> preface_only =
      RawHttp2Connection::Connect(server->address());
  ASSERT_TRUE(preface_only.ok()) << preface_only.status();
  ASSERT_TRUE((*preface_only)->SendPreface().ok());
  std::unique_ptr<RawHttp2Connection> quiet = Connected(server->address());
  ASSERT_NE(quiet, nullptr);
  BackgroundProbes probes(server->address());
  EXPECT_TRUE((*silent)->WaitForClose(start + absl::Seconds(10)));
  EXPECT_TRUE((*preface_only)->WaitForClose(start + absl::Seconds(10)));
  const absl::Duration setup_closed = absl::Now() - start;
  EXPECT_LT(setup_closed, absl::Seconds(6));
  EXPECT_TRUE(quiet->WaitForClose(start + absl::Seconds(15)));
  EXPECT_TRUE(quiet->goaway_code().has_value());
  const absl::Duration quiet_closed = absl::Now() - start;
  EXPECT_GE(quiet_closed, absl::Seconds(1));
  EXPECT_LT(quiet_closed, absl::Seconds(10));
  EXPECT_TRUE(probes.Stop()) << probes.Summary();
}

// Issue item 4: thousands of streams that send only their headers are held
// at most until the connection's age and grace, within a bounded memory. (A
// client that opens more than max_concurrent_streams loses the connection at
// once: gRPC treats it as a connection error.)
TEST(HostileTransportTest, HeaderOnlyStreamsEndWithTheConnection) {
  std::unique_ptr<VerdictdProcess> server =
      StartWithLimits("headers",
                      "max_concurrent_streams: 2000, max_connection_age: 2s, "
                      "max_connection_age_grace: 1s");
  ASSERT_NE(server, nullptr);
  const int64_t start_rss = ResidentBytes(server->pid());
  BackgroundProbes probes(server->address());
  std::unique_ptr<RawHttp2Connection> attacker = Connected(server->address());
  ASSERT_NE(attacker, nullptr);
  const absl::Time start = absl::Now();
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(attacker->SendHeaders(attacker->NextStreamId(), kCheck).ok());
  }
  // Held: nothing ends them before the connection's age.
  EXPECT_FALSE(attacker->WaitForClose(start + absl::Seconds(1)));
  const int64_t held_rss = ResidentBytes(server->pid());
  EXPECT_TRUE(attacker->WaitForClose(start + absl::Seconds(15)));
  const absl::Duration held = absl::Now() - start;
  Figure("header_only_held_ms", absl::ToInt64Milliseconds(held));
  Figure("header_only_rss_growth_mib", (held_rss - start_rss) / kMiB);
  EXPECT_TRUE(attacker->goaway_code().has_value());
  EXPECT_LT(held, absl::Seconds(8));
  EXPECT_LT(held_rss - start_rss, 64 * kMiB);
  EXPECT_TRUE(probes.Stop()) << probes.Summary();
  EXPECT_TRUE(Prober(server->address()).CheckWithin100ms());
}

// Issue item 4: responses that are never read (the client's window is zero)
// are dropped with their connection at its age and grace.
TEST(HostileTransportTest, UnreadResponsesEndWithTheConnection) {
  std::unique_ptr<VerdictdProcess> server = StartWithLimits(
      "unread", "max_connection_age: 2s, max_connection_age_grace: 1s");
  ASSERT_NE(server, nullptr);
  const int64_t start_rss = ResidentBytes(server->pid());
  BackgroundProbes probes(server->address());
  absl::StatusOr<std::unique_ptr<RawHttp2Connection>> attacker =
      RawHttp2Connection::Connect(server->address());
  ASSERT_TRUE(attacker.ok()) << attacker.status();
  ASSERT_TRUE((*attacker)->SendPreface().ok());
  ASSERT_TRUE((*attacker)
                  ->SendSettings({{testing::kSettingInitialWindowSize, 0}})
                  .ok());
  const absl::Time start = absl::Now();
  const std::string message = GrpcMessage(NormalRequest().SerializeAsString());
  for (int i = 0; i < 3000 && !(*attacker)->closed(); ++i) {
    const uint32_t stream = (*attacker)->NextStreamId();
    if (!(*attacker)->SendHeaders(stream, kCheck).ok() ||
        !(*attacker)->SendData(stream, message, true).ok()) {
      break;
    }
  }
  const int64_t held_rss = ResidentBytes(server->pid());
  EXPECT_TRUE((*attacker)->WaitForClose(start + absl::Seconds(15)));
  Figure("unread_held_ms", absl::ToInt64Milliseconds(absl::Now() - start));
  Figure("unread_rss_growth_mib", (held_rss - start_rss) / kMiB);
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
  EXPECT_LT(held_rss - start_rss, 96 * kMiB);
  EXPECT_TRUE(probes.Stop()) << probes.Summary();
  EXPECT_TRUE(Prober(server->address()).CheckWithin100ms());
}

// Issue item 4: past limits.max_connections a new connection is closed
// before a byte is read; the ones already open, and calls on them, go on,
// and once connections close new ones are accepted again.
TEST(HostileTransportTest, ConnectionsPastTheCapAreClosed) {
  std::unique_ptr<VerdictdProcess> server =
      StartWithLimits("cap", "max_connections: 16");
  ASSERT_NE(server, nullptr);
  BackgroundProbes probes(server->address());  // one connection
  std::vector<std::unique_ptr<RawHttp2Connection>> attackers;
  for (int i = 0; i < 40; ++i) {
    absl::StatusOr<std::unique_ptr<RawHttp2Connection>> connection =
        RawHttp2Connection::Connect(server->address());
    ASSERT_TRUE(connection.ok()) << connection.status();
    // A refused connection may already be shut when this is sent.
    (*connection)->SendPreface().IgnoreError();
    (*connection)->SendSettings().IgnoreError();
    attackers.push_back(*std::move(connection));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  int closed = 0;
  for (auto& attacker : attackers) {
    // An admitted connection only ever gets SETTINGS frames here.
    if (attacker->WaitForClose(deadline)) ++closed;
  }
  Figure("cap_closed_of_40", closed);
  EXPECT_EQ(closed, 40 - 15);
  EXPECT_TRUE(probes.Stop()) << probes.Summary();
  attackers.clear();
  // The freed places are found when the next connection arrives.
  EXPECT_TRUE(Prober(server->address()).CheckWithin100ms());
}

// gRPC 1.51 stops accepting for good once accept() fails with EMFILE. With
// an open-file limit below limits.max_connections verdictd lowers the cap
// to fit, so a flood of connections is refused and the listener lives on.
TEST(HostileTransportTest, FileLimitLowersTheCapAndTheListenerSurvives) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low{.rlim_cur = 400, .rlim_max = 400};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::unique_ptr<VerdictdProcess> server = StartWithLimits("files", "");
  setrlimit(RLIMIT_NOFILE, &saved);  // as root; else 400 is enough here
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->output(),
              HasSubstr("max_connections 1000 lowered to 272"));
  std::vector<std::unique_ptr<RawHttp2Connection>> attackers;
  for (int i = 0; i < 320; ++i) {
    absl::StatusOr<std::unique_ptr<RawHttp2Connection>> connection =
        RawHttp2Connection::Connect(server->address());
    ASSERT_TRUE(connection.ok()) << connection.status();
    (*connection)->SendPreface().IgnoreError();
    attackers.push_back(*std::move(connection));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  int closed = 0;
  for (auto& attacker : attackers) {
    if (attacker->WaitForClose(deadline)) ++closed;
  }
  EXPECT_EQ(closed, 320 - 272);
  attackers.clear();
  EXPECT_TRUE(Prober(server->address()).CheckWithin100ms());
  EXPECT_THAT(server->output(), Not(HasSubstr("Too many open files")));
}

// Issue item 5: after a burst of thousands of calls in flight, verdictd's
// memory goes back near where it started (jemalloc purges on its own
// thread; with glibc's allocator it stayed up).
TEST(HostileTransportTest, MemoryComesBackAfterABurst) {
  std::unique_ptr<VerdictdProcess> server = StartWithLimits("burst", "");
  ASSERT_NE(server, nullptr);
  if (!ReturnsFreedMemory(server->pid())) {
    GTEST_SKIP() << "verdictd is not on jemalloc (a sanitizer build)";
  }
  ASSERT_TRUE(Prober(server->address()).CheckWithin100ms());
  const int64_t start_rss = ResidentBytes(server->pid());
  constexpr int kConnections = 6;
  constexpr int kCallsEach = 2000;
  std::vector<std::unique_ptr<v1::Authorizer::Stub>> stubs;
  for (int i = 0; i < kConnections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection each
    stubs.push_back(v1::Authorizer::NewStub(grpc::CreateCustomChannel(
        server->address(), grpc::InsecureChannelCredentials(), args)));
  }
  struct Call {
    grpc::ClientContext context;
    v1::CheckResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CheckResponse>> reader;
  };
  int64_t peak_rss = 0;
  int ok_calls = 0;
  {
    std::vector<std::unique_ptr<Call>> calls;
    grpc::CompletionQueue queue;
    const v1::CheckRequest request = NormalRequest();
    for (int i = 0; i < kConnections * kCallsEach; ++i) {
      auto call = std::make_unique<Call>();
      call->context.set_deadline(std::chrono::system_clock::now() +
                                 std::chrono::seconds(30));
      call->reader =
          stubs[i % kConnections]->AsyncCheck(&call->context, request, &queue);
      call->reader->Finish(&call->response, &call->status, call.get());
      calls.push_back(std::move(call));
      if (i % 1000 == 0) {
        peak_rss = std::max(peak_rss, ResidentBytes(server->pid()));
      }
    }
    void* tag = nullptr;
    bool ok = false;
    for (size_t done = 0; done < calls.size() && queue.Next(&tag, &ok);
         ++done) {
      if (static_cast<Call*>(tag)->status.ok()) ++ok_calls;
      if (done % 1000 == 0) {
        peak_rss = std::max(peak_rss, ResidentBytes(server->pid()));
      }
    }
    queue.Shutdown();
    while (queue.Next(&tag, &ok)) {
    }
  }
  stubs.clear();
  EXPECT_EQ(ok_calls, kConnections * kCallsEach);
  Figure("burst_start_rss_mib", start_rss / kMiB);
  Figure("burst_peak_rss_mib", peak_rss / kMiB);
  const absl::Time after = absl::Now();
  EXPECT_GT(peak_rss - start_rss, 32 * kMiB);  // the burst did grow it
  EXPECT_TRUE(
      RssFallsTo(server->pid(), start_rss + 24 * kMiB, absl::Seconds(20)))
      << ResidentBytes(server->pid()) / kMiB << " MiB, started at "
      << start_rss / kMiB << ", peak " << peak_rss / kMiB;
  Figure("burst_rss_back_ms", absl::ToInt64Milliseconds(absl::Now() - after));
  Figure("burst_end_rss_mib", ResidentBytes(server->pid()) / kMiB);
  EXPECT_TRUE(Prober(server->address()).CheckWithin100ms());
}

}  // namespace
}  // namespace verdict
