// Operating verdictd (spec sections 6 and 7), against the real binary:
// policies hot-reloaded under load, a loader and watcher that fail closed
// (unreadable entries, symlinks out of the directory, half-written files, a
// deleted directory), Prometheus metrics that count exactly, a decision log
// with a record per decision, and audit.on_failure: deny.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/policy/compiler.h"
#include "tests/testing/http_get.h"
#include "tests/testing/verdictd_process.h"
#include "verdict/v1/admin.grpc.pb.h"
#include "verdict/v1/authorizer.grpc.pb.h"

extern char** environ;

namespace verdict {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::verdict::testing::HttpGet;
using ::verdict::testing::VerdictdProcess;

namespace fs = std::filesystem;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";

fs::path TempDir() {
  fs::path dir =
      fs::temp_directory_path() /
      absl::StrCat(
          "operations_test_", ::getpid(), "_",
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Replaces `path` atomically, as editors and config managers do.
void WriteFile(const fs::path& path, const std::string& text) {
  const fs::path staging =
      path.parent_path() / ("." + path.filename().string());
  std::ofstream(staging) << text;
  fs::rename(staging, path);
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

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
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

absl::StatusOr<v1::CheckResponse> Check(v1::Authorizer::Stub* stub,
                                        const v1::CheckRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::CheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response;
}

v1::StatusResponse Status(v1::Admin::Stub* admin) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::StatusResponse response;
  EXPECT_TRUE(admin->Status(&context, v1::StatusRequest(), &response).ok());
  return response;
}

// Polls `done` every few milliseconds until it holds or `timeout` passes.
template <typename Fn>
bool Eventually(Fn done, absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

std::string Revision(const std::string& file, const std::string& yaml) {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileSources({{file, yaml}}, &diagnostics);
  EXPECT_TRUE(set.ok());
  return set.ok() ? (*set)->revision() : "";
}

// The value of the sample of `name` whose labels include every `labels`
// pair ("decision=\"allow\""), summed over matching samples; 0 when none.
double Sample(const std::string& exposition, const std::string& name,
              const std::vector<std::string>& labels = {}) {
  double total = 0;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : ' ';
    if (next != '{' && next != ' ') continue;
    bool all = true;
    for (const std::string& label : labels) {
      all = all && line.find(label) != std::string::npos;
    }
    double value = 0;
    if (all && absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
      total += value;
    }
  }
  return total;
}

std::string Scrape(const VerdictdProcess& server) {
  absl::StatusOr<std::string> body =
      HttpGet(server.metrics_address(), "/metrics");
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *body : "";
}

constexpr char kAllowT[] = R"yaml(
policy: reload
rules:
  - id: version-a
    effect: allow
    tools: [t]
    when: context.environment == "prod"
)yaml";
constexpr char kDenyT[] = R"yaml(
policy: reload
rules:
  - id: version-b
    effect: allow
    tools: [other]
)yaml";
constexpr char kBroken[] = R"yaml(
policy: reload
rules:
  - id: broken
    effect: maybe
    when: context.environment ==
)yaml";

TEST(HotReloadTest, RewritesUnderLoadFailNoRequestAndNeverMixVersions) {
  const fs::path dir = TempDir();
  const fs::path file = dir / "reload.yaml";
  WriteFile(file, kAllowT);
  const std::string revision_a = Revision("reload.yaml", kAllowT);
  const std::string revision_b = Revision("reload.yaml", kDenyT);
  ASSERT_NE(revision_a, revision_b);

  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", dir.string()});
  ASSERT_NE(server, nullptr);
  auto admin = v1::Admin::NewStub(Channel(server->address()));

  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0}, mismatches{0}, allows{0}, denies{0};
  absl::Mutex mu;
  std::string first_problem;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      auto stub = v1::Authorizer::NewStub(Channel(server->address()));
      const v1::CheckRequest request = Request("t");
      while (!stop.load()) {
        absl::StatusOr<v1::CheckResponse> response = Check(stub.get(), request);
        ++calls;
        if (!response.ok()) {
          ++failures;
          absl::MutexLock lock(&mu);
          if (first_problem.empty())
            first_problem = response.status().ToString();
          continue;
        }
        // Each answer must be exactly what its own revision decides.
        const bool consistent =
            (response->policy_revision() == revision_a &&
             response->decision() == v1::ALLOW &&
             response->reasons(0).rule() == "version-a") ||
            (response->policy_revision() == revision_b &&
             response->decision() == v1::DENY &&
             response->reasons(0).code() == "no_matching_rule");
        if (!consistent) {
          ++mismatches;
          absl::MutexLock lock(&mu);
          if (first_problem.empty()) first_problem = response->DebugString();
        }
        ++(response->decision() == v1::ALLOW ? allows : denies);
      }
    });
  }

  // A, broken, B, A, broken, B, ...: each write is waited for, through
  // Admin.Status, so every one is compiled on its own.
  constexpr int kWrites = 60;
  std::string last_valid = revision_a;
  int reload_failures = 0;
  for (int i = 0; i < kWrites; ++i) {
    const int kind = i % 3;
    const std::string before =
        Status(admin.get()).last_reload_time().DebugString();
    WriteFile(file, kind == 0 ? kAllowT : kind == 1 ? kBroken : kDenyT);
    if (kind == 1) {
      ++reload_failures;
      ASSERT_TRUE(Eventually([&] {
        const v1::StatusResponse status = Status(admin.get());
        return !status.last_reload_ok() &&
               status.last_reload_time().DebugString() != before;
      })) << "write "
          << i << ": the broken version was not rejected";
      const v1::StatusResponse status = Status(admin.get());
      EXPECT_EQ(status.policy_revision(), last_valid)
          << "a broken set replaced the last good one";
      ASSERT_FALSE(status.last_reload_errors().empty());
      EXPECT_THAT(status.last_reload_errors(0),
                  ::testing::ContainsRegex("reload\\.yaml:[0-9]+:[0-9]+"));
    } else {
      last_valid = kind == 0 ? revision_a : revision_b;
      ASSERT_TRUE(Eventually([&] {
        const v1::StatusResponse status = Status(admin.get());
        return status.last_reload_ok() &&
               status.policy_revision() == last_valid;
      })) << "write "
          << i << ": the new version did not start serving";
    }
  }
  stop = true;
  for (std::thread& client : clients) client.join();

  EXPECT_EQ(failures.load(), 0) << first_problem;
  EXPECT_EQ(mismatches.load(), 0) << first_problem;
  EXPECT_GT(allows.load(), 0);
  EXPECT_GT(denies.load(), 0);
  EXPECT_GT(calls.load(), kWrites);
  EXPECT_EQ(Status(admin.get()).policy_revision(), last_valid);
  const std::string metrics = Scrape(*server);
  EXPECT_GE(
      Sample(metrics, "verdict_policy_reloads_total", {"result=\"failure\""}),
      reload_failures);
  EXPECT_EQ(Sample(metrics, "verdict_policy_revision_info",
                   {absl::StrCat("revision=\"", last_valid, "\"")}),
            1);
  admin.reset();  // open channels make the server's shutdown wait
  server.reset();
  fs::remove_all(dir);
}

TEST(HotReloadTest, NewSubdirectoriesAreWatched) {
  const fs::path dir = TempDir();
  WriteFile(dir / "reload.yaml", kDenyT);
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", dir.string()});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Authorizer::NewStub(Channel(server->address()));
  fs::create_directories(dir / "team" / "crm");
  WriteFile(dir / "team" / "crm" / "extra.yaml", R"yaml(
policy: extra
rules:
  - id: t-from-subdirectory
    effect: allow
    tools: [t]
)yaml");
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<v1::CheckResponse> response =
        Check(stub.get(), Request("t"));
    return response.ok() && response->decision() == v1::ALLOW;
  })) << server->output();
  stub.reset();
  server.reset();
  fs::remove_all(dir);
}

// The policy loader and the watcher against a hostile or careless world.

constexpr char kAllowCrm[] = R"yaml(
policy: base
rules:
  - id: allow-crm
    effect: allow
    servers: [crm]
)yaml";
constexpr char kGuard[] = R"yaml(
policy: guard
rules:
  - id: no-delete-x
    effect: deny
    tools: [delete_x, admin_x]
)yaml";

// How long a normal Check may take during and after an attack.
constexpr absl::Duration kPromptCheck = absl::Milliseconds(100);

// Checks `tool` on a warm channel and expects `decision`, answered within
// kPromptCheck.
void ExpectPromptDecision(v1::Authorizer::Stub* stub, const std::string& tool,
                          v1::Decision decision) {
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::CheckResponse> response = Check(stub, Request(tool));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->decision(), decision)
      << tool << ": " << response->DebugString();
  EXPECT_LT(took, kPromptCheck) << tool;
}

v1::ReloadResponse ForceReload(v1::Admin::Stub* admin) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::ReloadResponse response;
  EXPECT_TRUE(admin->Reload(&context, v1::ReloadRequest(), &response).ok());
  return response;
}

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& all) {
  std::string joined;
  for (const std::string& one : all) absl::StrAppend(&joined, one, "\n");
  return joined;
}

// A verdictd serving `dir`, with stubs on warm channels.
struct Served {
  explicit Served(const fs::path& dir,
                  const std::vector<std::string>& wrapper = {},
                  std::vector<std::string> extra_args = {}) {
    extra_args.insert(extra_args.begin(), {"--policies", dir.string()});
    auto started =
        VerdictdProcess::Start(extra_args, absl::Seconds(20), wrapper);
    if (!started.ok()) {
      ADD_FAILURE() << started.status();
      return;
    }
    server = *std::move(started);
    auto channel = Channel(server->address());
    stub = v1::Authorizer::NewStub(channel);
    admin = v1::Admin::NewStub(channel);
    EXPECT_TRUE(Check(stub.get(), Request("warm_up")).ok());
  }
  ~Served() {
    stub.reset();
    admin.reset();  // open channels make the server's shutdown wait
    server.reset();
  }
  std::unique_ptr<VerdictdProcess> server;
  std::unique_ptr<v1::Authorizer::Stub> stub;
  std::unique_ptr<v1::Admin::Stub> admin;
};

// Root reads every directory, so the unreadable subdirectory is shown to a
// verdictd running as nobody (setpriv, from util-linux).
TEST(LoaderFailClosedTest, UnreadableSubdirectoryKeepsTheLastGoodSet) {
  constexpr fs::perms kReadable = static_cast<fs::perms>(0755);
  std::vector<std::string> as_nobody;
  if (geteuid() == 0) {
    if (!fs::exists("/usr/bin/setpriv")) GTEST_SKIP() << "no setpriv";
    as_nobody = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                 "--clear-groups", "--"};
  }
  const fs::path dir = TempDir();
  WriteFile(dir / "base.yaml", kAllowCrm);
  fs::create_directories(dir / "sub");
  WriteFile(dir / "sub" / "guard.yaml", kGuard);
  {
    Served served(dir, as_nobody);
    ASSERT_NE(served.server, nullptr);
    ExpectPromptDecision(served.stub.get(), "delete_x", v1::DENY);
    const std::string revision = Status(served.admin.get()).policy_revision();

    fs::permissions(dir / "sub", fs::perms::none);
    const v1::ReloadResponse reload = ForceReload(served.admin.get());
    EXPECT_FALSE(reload.ok());
    EXPECT_THAT(Joined(reload.errors()),
                ::testing::ContainsRegex("sub: error\\[io\\]: cannot list "
                                         "directory: Permission denied"));
    const v1::StatusResponse status = Status(served.admin.get());
    EXPECT_FALSE(status.last_reload_ok());
    EXPECT_EQ(status.policy_revision(), revision);
    ExpectPromptDecision(served.stub.get(), "delete_x", v1::DENY);
    ExpectPromptDecision(served.stub.get(), "get_contact", v1::ALLOW);

    fs::permissions(dir / "sub", kReadable);
    EXPECT_TRUE(ForceReload(served.admin.get()).ok());
    ExpectPromptDecision(served.stub.get(), "delete_x", v1::DENY);
  }
  // Nor does a server start on a tree it cannot read.
  fs::permissions(dir / "sub", fs::perms::none);
  auto refused = VerdictdProcess::Start({"--policies", dir.string()},
                                        absl::Seconds(20), as_nobody);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("sub: error[io]: cannot list directory"));
  fs::permissions(dir / "sub", fs::perms::owner_all);
  fs::remove_all(dir);
}

TEST(LoaderFailClosedTest, DanglingSymlinksAndLoopsKeepTheLastGoodSet) {
  const fs::path dir = TempDir();
  WriteFile(dir / "base.yaml", kAllowCrm);
  WriteFile(dir / "guard.yaml", kGuard);
  Served served(dir);
  ASSERT_NE(served.server, nullptr);
  const std::string revision = Status(served.admin.get()).policy_revision();
  struct Attack {
    const char* name;
    std::function<void()> make;
    const char* error;
  };
  const std::vector<Attack> attacks = {
      {"dangling symlink",
       [&] {
         fs::remove(dir / "guard.yaml");
         fs::create_symlink("..data/guard.yaml", dir / "guard.yaml");
       },
       "guard.yaml: error[io]: symlink cannot be resolved"},
      {"symlink loop",
       [&] {
         fs::remove(dir / "guard.yaml");
         fs::create_symlink("guard2.yaml", dir / "guard.yaml");
         fs::create_symlink("guard.yaml", dir / "guard2.yaml");
       },
       "guard.yaml: error[io]: symlink cannot be resolved: Too many levels"},
      {"directory loop",
       [&] {
         fs::create_directories(dir / "team");
         fs::create_directory_symlink("..", dir / "team" / "loop");
       },
       "team/loop: error[io]: directory reached twice"},
  };
  for (const Attack& attack : attacks) {
    SCOPED_TRACE(attack.name);
    attack.make();
    // The watcher sees the change and its reload fails, keeping the set.
    ASSERT_TRUE(Eventually([&] {
      const v1::StatusResponse status = Status(served.admin.get());
      return !status.last_reload_ok() &&
             Joined(status.last_reload_errors()).find(attack.error) !=
                 std::string::npos;
    })) << Joined(Status(served.admin.get()).last_reload_errors());
    EXPECT_EQ(Status(served.admin.get()).policy_revision(), revision);
    ExpectPromptDecision(served.stub.get(), "delete_x", v1::DENY);
    // Put things back; the same set compiles again.
    fs::remove(dir / "guard2.yaml");
    fs::remove_all(dir / "team");
    fs::remove(dir / "guard.yaml");
    WriteFile(dir / "guard.yaml", kGuard);
    ASSERT_TRUE(Eventually([&] {
      const v1::StatusResponse status = Status(served.admin.get());
      return status.last_reload_ok() && status.policy_revision() == revision;
    }));
  }
  fs::remove_all(dir);
}

TEST(LoaderFailClosedTest, ASecretIsNeverQuotedNorReadThroughASymlink) {
  const fs::path dir = TempDir();
  const fs::path secret = dir.string() + ".secret";
  std::ofstream(secret) << "api_token: sk-live-SECRET4242\n";
  WriteFile(dir / "base.yaml", kAllowCrm);
  WriteFile(dir / "guard.yaml", kGuard);
  Served served(dir);
  ASSERT_NE(served.server, nullptr);
  const std::string revision = Status(served.admin.get()).policy_revision();

  fs::create_symlink(secret, dir / "creds.yaml");
  v1::ReloadResponse reload = ForceReload(served.admin.get());
  EXPECT_FALSE(reload.ok());
  EXPECT_THAT(Joined(reload.errors()),
              HasSubstr("creds.yaml: error[io]: symlink leads outside the "
                        "policy directory"));
  // A copy inside the directory is read, but quoted a token at a time, each
  // cut at 32 bytes.
  fs::remove(dir / "creds.yaml");
  WriteFile(dir / "creds.yaml",
            "policy: p\nrules:\n  - id: r\n    effect: "
            "0123456789abcdef0123456789abcdefSECRET4343 and more\n"
            "    0123456789abcdef0123456789abcdefSECRET4444: x\n");
  reload = ForceReload(served.admin.get());
  EXPECT_FALSE(reload.ok());
  EXPECT_THAT(Joined(reload.errors()), HasSubstr("error[bad_effect]"));
  EXPECT_THAT(Joined(reload.errors()), HasSubstr("error[unknown_key]"));

  const v1::StatusResponse status = Status(served.admin.get());
  EXPECT_EQ(status.policy_revision(), revision);
  for (const std::string& seen :
       {Joined(status.last_reload_errors()), served.server->output()}) {
    EXPECT_THAT(seen, Not(HasSubstr("SECRET")));
    EXPECT_THAT(seen, Not(HasSubstr("api_token")));
    EXPECT_THAT(seen, Not(HasSubstr("and more")));
  }
  ExpectPromptDecision(served.stub.get(), "delete_x", v1::DENY);
  fs::remove_all(dir);
  fs::remove(secret);
}

constexpr char kGuardY[] = R"yaml(
policy: guard
rules:
  - id: no-delete-y
    effect: deny
    tools: [delete_y]
)yaml";

TEST(HotReloadTest, DirectoryDeletedAndRecreatedIsWatchedAgain) {
  const fs::path dir = TempDir();
  WriteFile(dir / "base.yaml", kAllowCrm);
  WriteFile(dir / "guard.yaml", kGuard);
  Served served(dir);
  ASSERT_NE(served.server, nullptr);
  const std::string revision = Status(served.admin.get()).policy_revision();
  EXPECT_EQ(Status(served.admin.get()).watch_state(),
            v1::StatusResponse::WATCHING);
  EXPECT_EQ(Sample(Scrape(*served.server), "verdict_policy_watch_up"), 1);

  fs::remove_all(dir);
  ASSERT_TRUE(Eventually([&] {
    const v1::StatusResponse status = Status(served.admin.get());
    return status.watch_state() ==
               v1::StatusResponse::WATCH_DIRECTORY_MISSING &&
           !status.last_reload_ok();
  }));
  EXPECT_EQ(Sample(Scrape(*served.server), "verdict_policy_watch_up"), 0);
  EXPECT_THAT(Status(served.admin.get()).watch_error(),
              HasSubstr("was removed"));
  ExpectPromptDecision(served.stub.get(), "delete_x", v1::DENY);
  EXPECT_EQ(Status(served.admin.get()).policy_revision(), revision);

  fs::create_directories(dir);
  WriteFile(dir / "base.yaml", kAllowCrm);
  WriteFile(dir / "guard.yaml", kGuardY);
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::CheckResponse> response =
        Check(served.stub.get(), Request("delete_y"));
    return response.ok() && response->decision() == v1::DENY;
  })) << served.server->output();
  ASSERT_TRUE(Eventually([&] {
    const v1::StatusResponse status = Status(served.admin.get());
    return status.watch_state() == v1::StatusResponse::WATCHING &&
           status.last_reload_ok();
  }));
  const v1::StatusResponse status = Status(served.admin.get());
  EXPECT_TRUE(status.last_reload_errors().empty())
      << Joined(status.last_reload_errors());
  EXPECT_TRUE(status.watch_error().empty());
  EXPECT_EQ(Sample(Scrape(*served.server), "verdict_policy_watch_up"), 1);
  ExpectPromptDecision(served.stub.get(), "delete_y", v1::DENY);
  ExpectPromptDecision(served.stub.get(), "delete_x", v1::ALLOW);

  // Hot reload goes on from the new directory.
  WriteFile(dir / "guard.yaml", kGuard);
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<v1::CheckResponse> response =
        Check(served.stub.get(), Request("delete_x"));
    return response.ok() && response->decision() == v1::DENY;
  }));
  fs::remove_all(dir);
}

TEST(HotReloadTest, DirectorySwappedByRenameIsWatchedAgain) {
  const fs::path dir = TempDir();
  const fs::path next = dir.string() + ".next";
  const fs::path old = dir.string() + ".old";
  fs::remove_all(next);
  fs::remove_all(old);
  WriteFile(dir / "base.yaml", kAllowCrm);
  WriteFile(dir / "guard.yaml", kGuard);
  Served served(dir);
  ASSERT_NE(served.server, nullptr);
  fs::create_directories(next);
  WriteFile(next / "base.yaml", kAllowCrm);
  WriteFile(next / "guard.yaml", kGuardY);
  fs::rename(dir, old);
  fs::rename(next, dir);
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::CheckResponse> response =
        Check(served.stub.get(), Request("delete_y"));
    return response.ok() && response->decision() == v1::DENY;
  })) << served.server->output();
  ASSERT_TRUE(Eventually([&] {
    return Status(served.admin.get()).watch_state() ==
           v1::StatusResponse::WATCHING;
  }));
  // The old tree is no longer ours: editing it changes nothing.
  const std::string revision = Status(served.admin.get()).policy_revision();
  WriteFile(old / "guard.yaml", kGuardY);
  WriteFile(dir / "extra.yaml", R"yaml(
policy: extra
rules:
  - id: no-delete-z
    effect: deny
    tools: [delete_z]
)yaml");
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<v1::CheckResponse> response =
        Check(served.stub.get(), Request("delete_z"));
    return response.ok() && response->decision() == v1::DENY;
  }));
  EXPECT_NE(Status(served.admin.get()).policy_revision(), revision);
  ExpectPromptDecision(served.stub.get(), "delete_y", v1::DENY);
  fs::remove_all(dir);
  fs::remove_all(old);
}

// A writer that rewrites the file in place: the first document (a complete,
// valid policy that allows admin_x), a pause, then the second (which denies
// it). Every revision served during the write is recorded.
class HalfWrittenTest : public ::testing::Test {
 protected:
  static constexpr char kFirstHalf[] =
      "policy: base\nrules:\n  - id: allow-crm\n    effect: allow\n"
      "    servers: [crm]\n---\n";
  static constexpr char kSecondHalf[] =
      "policy: guard\nrules:\n  - id: no-admin-x\n    effect: deny\n"
      "    tools: [admin_x]\n";
  // What the file holds before the write: the same with another rule id.
  static constexpr char kBefore[] =
      "policy: base\nrules:\n  - id: allow-crm\n    effect: allow\n"
      "    servers: [crm]\n---\n"
      "policy: guard\nrules:\n  - id: no-admin-x-before\n    effect: deny\n"
      "    tools: [admin_x]\n";

  // Writes the halves with `pause` between them, through one open file or,
  // with `reopen`, closing it between the halves; meanwhile checks admin_x
  // and Admin.Status. Returns the revisions served during the write.
  std::set<std::string> WriteInPlace(Served* served, const fs::path& file,
                                     absl::Duration pause, bool reopen) {
    std::set<std::string> revisions;
    int fd = open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, kFirstHalf, sizeof(kFirstHalf) - 1),
              static_cast<ssize_t>(sizeof(kFirstHalf) - 1));
    if (reopen) {
      close(fd);
      fd = open(file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      EXPECT_GE(fd, 0);
    }
    const absl::Time until = absl::Now() + pause;
    while (absl::Now() < until) {
      ExpectPromptDecision(served->stub.get(), "admin_x", v1::DENY);
      revisions.insert(Status(served->admin.get()).policy_revision());
      absl::SleepFor(absl::Milliseconds(10));  // paces the probes only
    }
    EXPECT_EQ(write(fd, kSecondHalf, sizeof(kSecondHalf) - 1),
              static_cast<ssize_t>(sizeof(kSecondHalf) - 1));
    close(fd);
    return revisions;
  }
};

TEST_F(HalfWrittenTest, AnInPlaceWriterThatPausesIsNeverServedHalfWritten) {
  const fs::path dir = TempDir();
  WriteFile(dir / "p.yaml", kBefore);
  const std::string before = Revision("p.yaml", kBefore);
  const std::string after =
      Revision("p.yaml", absl::StrCat(kFirstHalf, kSecondHalf));
  Served served(dir);
  ASSERT_NE(served.server, nullptr);
  ASSERT_EQ(Status(served.admin.get()).policy_revision(), before);

  // Three quiet periods of the default 100 ms with the file half written.
  EXPECT_EQ(WriteInPlace(&served, dir / "p.yaml", absl::Milliseconds(300),
                         /*reopen=*/false),
            std::set<std::string>{before});
  // The complete file is compiled once it is closed.
  ASSERT_TRUE(Eventually(
      [&] { return Status(served.admin.get()).policy_revision() == after; }));
  EXPECT_TRUE(Status(served.admin.get()).last_reload_ok());
  ExpectPromptDecision(served.stub.get(), "admin_x", v1::DENY);
  fs::remove_all(dir);
}

// A writer that closes the file between its halves cannot be told from one
// that is done; a quiet period longer than its pauses covers it.
TEST_F(HalfWrittenTest, AQuietPeriodCoversAWriterThatClosesBetweenWrites) {
  const fs::path dir = TempDir();
  const fs::path config = dir.string() + ".yaml";
  std::ofstream(config) << "policies: {quiet_period: 1s}\n";
  WriteFile(dir / "p.yaml", kBefore);
  const std::string before = Revision("p.yaml", kBefore);
  const std::string after =
      Revision("p.yaml", absl::StrCat(kFirstHalf, kSecondHalf));
  Served served(dir, {}, {"--config", config.string()});
  ASSERT_NE(served.server, nullptr);
  EXPECT_EQ(WriteInPlace(&served, dir / "p.yaml", absl::Milliseconds(300),
                         /*reopen=*/true),
            std::set<std::string>{before});
  ASSERT_TRUE(Eventually(
      [&] { return Status(served.admin.get()).policy_revision() == after; }));
  ExpectPromptDecision(served.stub.get(), "admin_x", v1::DENY);
  fs::remove_all(dir);
  fs::remove(config);
}

TEST(MetricsTest, DecisionsTotalGrowsByExactlyTheDecisionsMade) {
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", kFixtureDir});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Authorizer::NewStub(Channel(server->address()));
  const std::string before = Scrape(*server);

  const std::map<std::string, int> asks = {
      {"get_contact", 7},       // allowed_by_rule
      {"delete_contact", 5},    // denied_by_rule
      {"secret_tool_zq9x", 3},  // no_matching_rule
  };
  for (const auto& [tool, times] : asks) {
    for (int i = 0; i < times; ++i) {
      ASSERT_TRUE(Check(stub.get(), Request(tool)).ok());
    }
  }
  const std::string after = Scrape(*server);
  auto delta = [&](const std::string& name,
                   const std::vector<std::string>& labels) {
    return Sample(after, name, labels) - Sample(before, name, labels);
  };
  EXPECT_EQ(delta("verdict_decisions_total",
                  {"decision=\"allow\"", "reason=\"allowed_by_rule\""}),
            7);
  EXPECT_EQ(delta("verdict_decisions_total",
                  {"decision=\"deny\"", "reason=\"denied_by_rule\""}),
            5);
  EXPECT_EQ(delta("verdict_decisions_total",
                  {"decision=\"deny\"", "reason=\"no_matching_rule\""}),
            3);
  EXPECT_EQ(delta("verdict_decisions_total", {}), 15);
  EXPECT_EQ(delta("verdict_decision_duration_seconds_count", {}), 15);
  EXPECT_EQ(delta("verdict_rule_matches_total",
                  {"policy=\"crm-agents\"", "rule=\"read-contacts\""}),
            7);
  EXPECT_EQ(delta("verdict_rule_matches_total",
                  {"policy=\"crm-agents\"", "rule=\"no-delete\""}),
            5);
  EXPECT_EQ(Sample(after, "verdict_policy_rules"), 6);
  EXPECT_EQ(Sample(after, "verdict_build_info"), 1);
  EXPECT_GE(
      Sample(after, "verdict_policy_reloads_total", {"result=\"success\""}), 1);
  EXPECT_GT(
      Sample(after, "verdict_policy_last_reload_success_timestamp_seconds"),
      1.7e9);
  // Labels never carry request data.
  EXPECT_THAT(after, Not(HasSubstr("secret_tool_zq9x")));
  EXPECT_THAT(after, Not(HasSubstr("agent/crm/r1")));
}

std::vector<nlohmann::json> ReadRecords(const fs::path& path) {
  std::vector<nlohmann::json> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    records.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  return records;
}

TEST(DecisionLogTest, EveryDecisionHasOneRecordWithItsId) {
  const fs::path dir = TempDir();
  const fs::path log = dir / "decisions.jsonl";
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", kFixtureDir, "--audit-log", log.string()});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Authorizer::NewStub(Channel(server->address()));

  std::set<std::string> ids;
  for (int i = 0; i < 15; ++i) {
    v1::CheckRequest request =
        Request(i % 3 == 0 ? "delete_contact" : "get_contact");
    absl::StatusOr<v1::CheckResponse> response = Check(stub.get(), request);
    ASSERT_TRUE(response.ok());
    ids.insert(response->decision_id());
  }
  v1::CheckBatchRequest batch;
  batch.mutable_subject()->set_id("spiffe://corp.example/agent/crm/r1");
  batch.mutable_subject()->add_roles("crm-reader");
  for (int i = 0; i < 5; ++i) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name(absl::StrCat("tool_", i));
    item->set_action("tools/list");
  }
  {
    grpc::ClientContext context;
    v1::CheckBatchResponse response;
    ASSERT_TRUE(stub->CheckBatch(&context, batch, &response).ok());
    for (const v1::CheckResponse& result : response.results()) {
      ids.insert(result.decision_id());
    }
  }
  ASSERT_EQ(ids.size(), 20u);

  ASSERT_TRUE(Eventually([&] { return ReadRecords(log).size() >= 20; }))
      << "records written: " << ReadRecords(log).size();
  const std::vector<nlohmann::json> records = ReadRecords(log);
  ASSERT_EQ(records.size(), 20u);
  std::set<std::string> logged;
  for (const nlohmann::json& record : records) {
    ASSERT_FALSE(record.is_discarded());
    logged.insert(record.value("decision_id", ""));
    EXPECT_TRUE(record.contains("time"));
    EXPECT_TRUE(record.contains("caller"));
    EXPECT_EQ(record["subject"]["id"], "spiffe://corp.example/agent/crm/r1");
    EXPECT_TRUE(record.contains("policy_revision"));
    EXPECT_TRUE(record.contains("latency_us"));
    EXPECT_TRUE(record["reasons"].is_array());
    EXPECT_FALSE(record.contains("credentials"));
  }
  EXPECT_EQ(logged, ids);
  const nlohmann::json& deny = records[0];
  EXPECT_EQ(deny["decision"], "deny");
  EXPECT_EQ(deny["reasons"][0]["rule"], "no-delete");
  EXPECT_EQ(deny["tool"]["name"], "delete_contact");
  // The context is summarised by a digest, never copied.
  EXPECT_EQ(deny["context_digest"].get<std::string>().size(), 16u);
  EXPECT_EQ(Sample(Scrape(*server), "verdict_audit_records_total"), 20);
  stub.reset();
  server.reset();
  fs::remove_all(dir);
}

TEST(DecisionLogTest, UnwritableLogDeniesWhenConfiguredTo) {
  const fs::path dir = TempDir();
  const fs::path unwritable = dir / "no-such-dir" / "decisions.jsonl";
  for (const char* mode : {"deny", "allow"}) {
    const fs::path config = dir / absl::StrCat(mode, ".yaml");
    std::ofstream(config) << "audit: {path: " << unwritable.string()
                          << ", on_failure: " << mode << "}\n";
    std::unique_ptr<VerdictdProcess> server =
        StartOrDie({"--config", config.string(), "--policies", kFixtureDir});
    ASSERT_NE(server, nullptr);
    auto stub = v1::Authorizer::NewStub(Channel(server->address()));
    absl::StatusOr<v1::CheckResponse> response =
        Check(stub.get(), Request("get_contact"));  // the policy allows it
    ASSERT_TRUE(response.ok());
    if (std::string(mode) == "deny") {
      EXPECT_EQ(response->decision(), v1::DENY);
      ASSERT_EQ(response->reasons_size(), 1);
      EXPECT_EQ(response->reasons(0).code(), "audit_unavailable");
      EXPECT_THAT(response->reasons(0).message(),
                  HasSubstr("decision log cannot be written"));
    } else {
      EXPECT_EQ(response->decision(), v1::ALLOW);
    }
    EXPECT_TRUE(Eventually([&] {
      return Sample(Scrape(*server), "verdict_audit_dropped_total") >= 1;
    }));
  }
  fs::remove_all(dir);
}

// A child process killed when it goes out of scope.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const fs::path& log) {
    std::vector<char*> args;
    for (const std::string& arg : argv)
      args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) !=
        0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~ChildProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

TEST(PrometheusTest, ScrapesDecisionsThroughARealPrometheus) {
  const char* prometheus = "/usr/bin/prometheus";
  if (!fs::exists(prometheus)) {
    GTEST_SKIP() << "Debian package prometheus is not installed (make test "
                    "installs it)";
  }
  std::unique_ptr<VerdictdProcess> server =
      StartOrDie({"--policies", kFixtureDir});
  ASSERT_NE(server, nullptr);
  auto stub = v1::Authorizer::NewStub(Channel(server->address()));
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(Check(stub.get(), Request("get_contact")).ok());
  }

  const fs::path dir = TempDir();
  const fs::path config = dir / "prometheus.yml";
  std::ofstream(config) << "global: {scrape_interval: 1s}\n"
                           "scrape_configs:\n"
                           "  - job_name: verdictd\n"
                           "    static_configs:\n"
                           "      - targets: ['"
                        << server->metrics_address() << "']\n";
  const std::string web = absl::StrCat("127.0.0.1:", testing::PickFreePort());
  ChildProcess process({prometheus, "--config.file=" + config.string(),
                        "--storage.tsdb.path=" + (dir / "data").string(),
                        "--web.listen-address=" + web},
                       dir / "prometheus.log");
  ASSERT_TRUE(process.started());

  const std::string query = UrlEncode(
      "sum(verdict_decisions_total{job=\"verdictd\",decision=\"allow\"})");
  std::string last;
  const bool found = Eventually(
      [&] {
        absl::StatusOr<std::string> body =
            HttpGet(web, "/api/v1/query?query=" + query, absl::Seconds(2));
        if (!body.ok()) return false;
        last = *body;
        const nlohmann::json json =
            nlohmann::json::parse(*body, nullptr, false);
        if (json.is_discarded() || json.value("status", "") != "success") {
          return false;
        }
        const nlohmann::json& result = json["data"]["result"];
        return !result.empty() && result[0]["value"][1] == "9";
      },
      absl::Seconds(90));
  std::ifstream log_file(dir / "prometheus.log");
  const std::string log((std::istreambuf_iterator<char>(log_file)),
                        std::istreambuf_iterator<char>());
  EXPECT_TRUE(found) << "last answer: " << last << "\nprometheus log:\n" << log;
  stub.reset();
  server.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace verdict
