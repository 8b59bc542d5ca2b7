// Authorizer.WatchPolicy against the real Server (server.h, what verdictd
// serves) on loopback, over a PolicyStore of a copy of the service fixture:
// the first message is the serving revision; every reload that changes it,
// however it was asked for, reaches every watcher; a reload to the same
// revision or a broken edit sends nothing; shutdown ends the stream with OK
// at once; the watchers are exactly the callers that may Check; the cap on
// open watches answers RESOURCE_EXHAUSTED; bytes that are not a request are
// INVALID_ARGUMENT.

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "server/decision/policy_store.h"
#include "server/decision/proto_time.h"
#include "server/metrics/metrics.h"
#include "server/service/server.h"
#include "tests/testing/raw_unary.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict::service {
namespace {

using ::testing::HasSubstr;
using ::verdict::testing::RawUnary;

namespace fs = std::filesystem;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";

constexpr char kUpdatePolicy[] = R"(policy: crm-updates
roles: [crm-reader]
rules:
  - id: update
    effect: allow
    servers: [crm]
    tools: [update_contact]
)";

constexpr char kDenyUpdatePolicy[] = R"(policy: crm-updates
roles: [crm-reader]
rules:
  - id: update
    effect: deny
    servers: [crm]
    tools: [update_contact]
)";

// No call of these tests comes near it.
std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

// One WatchPolicy stream, cancelled when destroyed before it ended.
class Watch {
 public:
  explicit Watch(v1::Authorizer::Stub* stub) {
    context_.set_deadline(Deadline());
    reader_ = stub->WatchPolicy(&context_, v1::WatchPolicyRequest());
  }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  ~Watch() {
    if (!finished_) context_.TryCancel();
  }

  // The next message, or nullopt once the stream has ended.
  std::optional<v1::PolicyRevision> Next() {
    v1::PolicyRevision revision;
    if (!reader_->Read(&revision)) return std::nullopt;
    return revision;
  }
  // How the stream ended; after Next() said it has.
  grpc::Status Finish() {
    finished_ = true;
    return reader_->Finish();
  }
  void Cancel() { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;  // before reader_, which uses it
  std::unique_ptr<grpc::ClientReader<v1::PolicyRevision>> reader_;
  bool finished_ = false;
};

class WatchPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = absl::StrCat(::testing::TempDir(), "watch-XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::copy(kFixtureDir, dir_, fs::copy_options::recursive);
    store_ = std::make_unique<decision::PolicyStore>(dir_.string(), &metrics_);
    loaded_after_ = absl::Now();
    ASSERT_TRUE(store_->Reload().ok);
    loaded_by_ = absl::Now();
  }

  void TearDown() override {
    Stop();
    fs::remove_all(dir_);
  }

  void Start(ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    options.decider.metrics = &metrics_;
    absl::StatusOr<std::unique_ptr<Server>> started =
        Server::Start(options, store_.get());
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    authorizer_ = v1::Authorizer::NewStub(channel_);
    admin_ = v1::Admin::NewStub(channel_);
  }

  // gRPC 1.51's shutdown waits for connected clients: they go first.
  void Stop() {
    authorizer_.reset();
    admin_.reset();
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
  }

  v1::ReloadResponse AdminReload() {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    v1::ReloadResponse response;
    EXPECT_TRUE(admin_->Reload(&context, v1::ReloadRequest(), &response).ok());
    return response;
  }

  double Watchers() {
    for (const prometheus::MetricFamily& family :
         metrics_.registry()->Collect()) {
      if (family.name == "verdict_policy_watchers") {
        return family.metric.at(0).gauge.value;
      }
    }
    ADD_FAILURE() << "no verdict_policy_watchers";
    return -1;
  }

  fs::path dir_;
  metrics::Metrics metrics_;
  std::unique_ptr<decision::PolicyStore> store_;
  absl::Time loaded_after_;  // the fixture's first revision serves between
  absl::Time loaded_by_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Authorizer::Stub> authorizer_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

TEST_F(WatchPolicyTest, FirstMessageIsTheServingRevision) {
  Start();
  Watch watch(authorizer_.get());
  const std::optional<v1::PolicyRevision> first = watch.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->policy_revision(), store_->Status().revision);
  // When it started serving, not when the stream opened.
  const absl::Time published = decision::FromProto(first->published_at());
  EXPECT_GE(published, loaded_after_);
  EXPECT_LE(published, loaded_by_);
  EXPECT_EQ(Watchers(), 1);
}

TEST_F(WatchPolicyTest, AdminReloadSendsTheNewRevision) {
  Start();
  Watch watch(authorizer_.get());
  const std::optional<v1::PolicyRevision> first = watch.Next();
  ASSERT_TRUE(first.has_value());

  WriteFile(dir_ / "update.yaml", kUpdatePolicy);
  const absl::Time before = absl::Now();
  const v1::ReloadResponse reloaded = AdminReload();
  const absl::Time after = absl::Now();
  ASSERT_TRUE(reloaded.ok());
  ASSERT_NE(reloaded.policy_revision(), first->policy_revision());

  const std::optional<v1::PolicyRevision> next = watch.Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->policy_revision(), reloaded.policy_revision());
  const absl::Time published = decision::FromProto(next->published_at());
  EXPECT_GE(published, before);
  EXPECT_LE(published, after);
}

// What follows the first revision is the next one that differs, so nothing
// was sent for the reloads in between.
TEST_F(WatchPolicyTest, SameRevisionAndBrokenEditsSendNothing) {
  Start();
  Watch watch(authorizer_.get());
  const std::optional<v1::PolicyRevision> first = watch.Next();
  ASSERT_TRUE(first.has_value());

  // The same files, rewritten: the same digest.
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_)) {
    std::ifstream in(entry.path());
    const std::string contents((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    WriteFile(entry.path(), contents);
  }
  const v1::ReloadResponse same = AdminReload();
  EXPECT_TRUE(same.ok());
  EXPECT_EQ(same.policy_revision(), first->policy_revision());

  WriteFile(dir_ / "update.yaml", "policy: crm-updates\nrules: [\n");
  const v1::ReloadResponse broken = AdminReload();
  EXPECT_FALSE(broken.ok());
  EXPECT_EQ(broken.policy_revision(), first->policy_revision());

  WriteFile(dir_ / "update.yaml", kUpdatePolicy);
  const v1::ReloadResponse fixed = AdminReload();
  ASSERT_TRUE(fixed.ok());
  const std::optional<v1::PolicyRevision> next = watch.Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->policy_revision(), fixed.policy_revision());
}

// SIGHUP and the directory watcher go through the Reloader; the store is
// what every path publishes through.
TEST_F(WatchPolicyTest, EveryWatcherGetsEveryReload) {
  Start();
  Watch one(authorizer_.get());
  Watch two(authorizer_.get());
  ASSERT_TRUE(one.Next().has_value());
  ASSERT_TRUE(two.Next().has_value());

  WriteFile(dir_ / "update.yaml", kUpdatePolicy);
  absl::Notification reloaded;
  std::string revision;
  server_->reloader().Request([&](const decision::ReloadOutcome& outcome) {
    revision = outcome.revision;
    reloaded.Notify();
  });
  ASSERT_TRUE(reloaded.WaitForNotificationWithTimeout(absl::Seconds(10)));
  for (Watch* watch : {&one, &two}) {
    const std::optional<v1::PolicyRevision> next = watch->Next();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->policy_revision(), revision);
  }

  WriteFile(dir_ / "update.yaml", kDenyUpdatePolicy);
  const decision::ReloadOutcome direct = store_->Reload();
  ASSERT_TRUE(direct.ok);
  ASSERT_NE(direct.revision, revision);
  for (Watch* watch : {&one, &two}) {
    const std::optional<v1::PolicyRevision> next = watch->Next();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->policy_revision(), direct.revision);
  }
  EXPECT_EQ(Watchers(), 2);
}

TEST_F(WatchPolicyTest, ShutdownEndsTheStreamWithOkAtOnce) {
  Start();
  auto watch = std::make_unique<Watch>(authorizer_.get());
  ASSERT_TRUE(watch->Next().has_value());

  const absl::Time start = absl::Now();
  std::thread stopper([this] { server_->Shutdown(absl::Seconds(20)); });
  EXPECT_FALSE(watch->Next().has_value());
  const grpc::Status status = watch->Finish();
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(took, absl::Seconds(1));

  // Without clients the shutdown does not wait for its grace either.
  watch.reset();
  authorizer_.reset();
  admin_.reset();
  channel_.reset();
  stopper.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(WatchPolicyTest, CallersThatMayNotCheckAreRefused) {
  ServerOptions options;
  options.callers = {CallerRule{.loopback = true, .may = {.admin = true}}};
  Start(options);
  Watch watch(authorizer_.get());
  EXPECT_FALSE(watch.Next().has_value());
  const grpc::Status status = watch.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("Authorizer"));

  // The same caller's Check is denied as untrusted.
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::CheckRequest request;
  request.mutable_subject()->set_id("agent");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("search_contacts");
  request.set_action("tools/call");
  v1::CheckResponse response;
  ASSERT_TRUE(authorizer_->Check(&context, request, &response).ok());
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_FALSE(response.reasons().empty());
  EXPECT_EQ(response.reasons(0).code(), "caller_not_trusted");
}

TEST_F(WatchPolicyTest, CallersThatMayOnlyCheckMayWatch) {
  ServerOptions options;
  options.callers = {CallerRule{.loopback = true, .may = {.check = true}}};
  Start(options);
  Watch watch(authorizer_.get());
  const std::optional<v1::PolicyRevision> first = watch.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->policy_revision(), store_->Status().revision);
}

TEST_F(WatchPolicyTest, WatchesPastTheCapAreResourceExhausted) {
  ServerOptions options;
  options.max_policy_watches = 2;
  Start(options);
  Watch one(authorizer_.get());
  Watch two(authorizer_.get());
  ASSERT_TRUE(one.Next().has_value());
  ASSERT_TRUE(two.Next().has_value());

  Watch three(authorizer_.get());
  EXPECT_FALSE(three.Next().has_value());
  const grpc::Status refused = three.Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("at most 2"));
  EXPECT_EQ(Watchers(), 2);

  // A watch that ends makes room, once the server has heard of it.
  one.Cancel();
  EXPECT_FALSE(one.Next().has_value());
  EXPECT_EQ(one.Finish().error_code(), grpc::StatusCode::CANCELLED);
  bool admitted = false;
  for (const absl::Time give_up = absl::Now() + absl::Seconds(5);
       !admitted && absl::Now() < give_up;) {
    Watch again(authorizer_.get());
    admitted = again.Next().has_value();
    if (!admitted) {
      EXPECT_EQ(again.Finish().error_code(),
                grpc::StatusCode::RESOURCE_EXHAUSTED);
    }
  }
  EXPECT_TRUE(admitted);
}

// Clients that leave at any point, while revisions are published: every
// stream is let go of, and a new watcher still gets the latest revision.
TEST_F(WatchPolicyTest, StreamsThatComeAndGoDuringReloadsAreLetGo) {
  Start();
  std::atomic<int> running = 4;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([this, c, &running] {
      for (int i = 0; i < 50; ++i) {
        Watch watch(authorizer_.get());
        // Some leave at once, some after a revision or two.
        for (int read = 0; read < (i + c) % 3; ++read) {
          if (!watch.Next().has_value()) break;
        }
      }
      --running;
    });
  }
  // New revisions until every client is done, which the reads wait for.
  std::string last;
  for (int i = 0; running > 0; ++i) {
    WriteFile(dir_ / "update.yaml",
              i % 2 == 0 ? kUpdatePolicy : kDenyUpdatePolicy);
    const decision::ReloadOutcome outcome = store_->Reload();
    EXPECT_TRUE(outcome.ok);
    last = outcome.revision;
  }
  for (std::thread& client : clients) client.join();

  for (const absl::Time give_up = absl::Now() + absl::Seconds(5);
       Watchers() != 0 && absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(Watchers(), 0);
  Watch watch(authorizer_.get());
  const std::optional<v1::PolicyRevision> latest = watch.Next();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->policy_revision(), last);
}

TEST_F(WatchPolicyTest, UnparsableRequestIsAnInvalidArgument) {
  Start();
  // A length-delimited field that runs past the end of the message.
  const std::string truncated("\x1a\x7f\x0a\x03crm", 7);
  const grpc::Status status = RawUnary(
      server_->address(), "/verdict.v1.Authorizer/WatchPolicy", truncated);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              HasSubstr("is not a valid verdict.v1.WatchPolicyRequest"));
}

TEST_F(WatchPolicyTest, MaxPolicyWatchesMustBePositive) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.max_policy_watches = 0;
  EXPECT_FALSE(Server::Start(options, store_.get()).ok());
}

}  // namespace
}  // namespace verdict::service
