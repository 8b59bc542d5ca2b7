// Who may call depends on the listener: loopback TCP peers as the `loopback`
// rules say (everything without rules, and said at start), Unix socket peers
// by uid (only verdictd's own without rules), TLS peers by SPIFFE ID. Rules a
// listener could never match are refused, and the start-up description names
// exactly who holds each permission.

#include "server/service/caller_trust.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/unix_listener.h"

namespace verdict::service {
namespace {

using ::testing::HasSubstr;

CallerRule ById(std::string id, CallerPermissions may) {
  CallerRule rule;
  rule.id = std::move(id);
  rule.may = may;
  return rule;
}

CallerRule ByUid(uid_t uid, CallerPermissions may, std::string user = "") {
  CallerRule rule;
  rule.uid = uid;
  rule.user = std::move(user);
  rule.may = may;
  return rule;
}

CallerRule Loopback(CallerPermissions may) {
  CallerRule rule;
  rule.loopback = true;
  rule.may = may;
  return rule;
}

TEST(CallerTrustTest, LoopbackPeersAreRecognised) {
  EXPECT_TRUE(IsLoopbackPeer("ipv4:127.0.0.1:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv4:127.3.4.5:1"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:[::1]:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:%5B::1%5D:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:[::ffff:127.0.0.1]:5"));
}

TEST(CallerTrustTest, EverythingElseIsNot) {
  EXPECT_FALSE(IsLoopbackPeer(""));
  EXPECT_FALSE(IsLoopbackPeer("ipv4:10.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackPeer("ipv4:128.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackPeer("ipv4:1.127.0.0:5000"));
  EXPECT_FALSE(IsLoopbackPeer("ipv6:[::2]:5000"));
  EXPECT_FALSE(IsLoopbackPeer("ipv6:[::1de]:5000"));
  EXPECT_FALSE(IsLoopbackPeer("ipv6:[fe80::1]:5000"));
  EXPECT_FALSE(IsLoopbackPeer("ipv6:[::ffff:10.0.0.1]:5"));
  // Unix sockets are never "loopback": their peers are named by uid.
  EXPECT_FALSE(IsLoopbackPeer("unix:/run/verdict.sock"));
  EXPECT_FALSE(IsLoopbackPeer("fd:7"));
}

TEST(CallerTrustTest, WithoutRulesLoopbackMayDoEverythingAndSaysSo) {
  absl::StatusOr<CallerTrust> trust =
      CallerTrust::Create(CallerTransport::kPlaintextTcp, {});
  ASSERT_TRUE(trust.ok());
  const Caller local = trust->Resolve("ipv4:127.0.0.1:5000", "");
  EXPECT_TRUE(local.may.check && local.may.assert_identity &&
              local.may.grants && local.may.admin);
  const Caller remote = trust->Resolve("ipv4:10.0.0.1:5000", "");
  EXPECT_FALSE(remote.may.any());
  EXPECT_FALSE(remote.refusal.empty());
  const std::vector<std::string> lines = trust->Describe();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[1],
            "callers that may assert identities: every local user over "
            "loopback TCP");
  EXPECT_THAT(lines[4], HasSubstr("any local user may assert any identity"));
}

TEST(CallerTrustTest, LoopbackRulesLimitLocalCallers) {
  absl::StatusOr<CallerTrust> trust = CallerTrust::Create(
      CallerTransport::kPlaintextTcp, {Loopback({.check = true})});
  ASSERT_TRUE(trust.ok());
  const Caller local = trust->Resolve("ipv6:[::1]:5000", "");
  EXPECT_TRUE(local.may.check);
  EXPECT_FALSE(local.may.assert_identity || local.may.grants ||
               local.may.admin);
  const std::vector<std::string> lines = trust->Describe();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "callers that may check: every local user over loopback TCP");
  EXPECT_EQ(lines[1], "callers that may assert identities: none");
  EXPECT_THAT(trust->RefusalMessage("Admin", "admin"),
              HasSubstr("(callers: admin)"));
}

TEST(CallerTrustTest, RulesThatCannotMatchTheListenerAreRefused) {
  const CallerRule by_id = ById("spiffe://a/*", {.check = true});
  const CallerRule by_uid = ByUid(1001, {.check = true});
  const CallerRule loopback = Loopback({.check = true});
  EXPECT_FALSE(
      CallerTrust::Create(CallerTransport::kPlaintextTcp, {by_id}).ok());
  EXPECT_FALSE(
      CallerTrust::Create(CallerTransport::kPlaintextTcp, {by_uid}).ok());
  EXPECT_FALSE(CallerTrust::Create(CallerTransport::kTls, {by_uid}).ok());
  EXPECT_FALSE(CallerTrust::Create(CallerTransport::kTls, {loopback}).ok());
  EXPECT_FALSE(CallerTrust::Create(CallerTransport::kUnixSocket, {by_id}).ok());
  EXPECT_FALSE(
      CallerTrust::Create(CallerTransport::kUnixSocket, {loopback}).ok());
  // A rule naming two kinds of caller is ambiguous.
  CallerRule both = by_id;
  both.uid = 1001;
  EXPECT_FALSE(CallerTrust::Create(CallerTransport::kTls, {both}).ok());
}

TEST(CallerTrustTest, UnixPeersAreNamedByUid) {
  absl::StatusOr<CallerTrust> trust = CallerTrust::Create(
      CallerTransport::kUnixSocket,
      {ByUid(1001, {.check = true}, "mcp"),
       ByUid(1001, {.assert_identity = true}), ByUid(1002, {.admin = true})});
  ASSERT_TRUE(trust.ok());
  const Caller mcp = trust->ResolveUid(1001);
  EXPECT_EQ(mcp.id, "uid:1001");
  EXPECT_TRUE(mcp.may.check && mcp.may.assert_identity);
  EXPECT_FALSE(mcp.may.admin);
  EXPECT_FALSE(trust->ResolveUid(1003).may.any());
  // Rules name exactly the uids they list: verdictd's own is not implied.
  if (geteuid() != 1001 && geteuid() != 1002) {
    EXPECT_FALSE(trust->ResolveUid(geteuid()).may.any());
  }
  EXPECT_EQ(trust->Describe()[1],
            "callers that may assert identities: uid 1001");
  EXPECT_EQ(trust->Describe()[0], "callers that may check: uid 1001 (mcp)");

  // The uid is found from gRPC's "fd:N" peer name.
  ASSERT_NE(trust->unix_peers(), nullptr);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ASSERT_TRUE(trust->unix_peers()->Add(fds[0], 1002, 8));
  EXPECT_EQ(trust->unix_peers()->Find(absl::StrCat("fd:", fds[0])), 1002u);
  EXPECT_EQ(trust->unix_peers()->Find(absl::StrCat("fd:", fds[1])),
            std::nullopt);
  EXPECT_EQ(trust->unix_peers()->Find("ipv4:127.0.0.1:7"), std::nullopt);
  // A reused fd number names its new connection.
  ASSERT_TRUE(trust->unix_peers()->Add(fds[0], 1001, 8));
  EXPECT_EQ(trust->unix_peers()->Find(absl::StrCat("fd:", fds[0])), 1001u);
  close(fds[0]);
  close(fds[1]);
}

TEST(UnixPeersTest, AtMostMaxConnectionsAreOpen) {
  UnixPeers peers;
  int first[2];
  int second[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, first), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, second), 0);
  EXPECT_TRUE(peers.Add(first[0], 1, 1));
  EXPECT_FALSE(peers.Add(second[0], 1, 1));
  // Once the first is closed its place is free again (closed connections
  // are looked for at most every 10 ms).
  close(first[0]);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  bool added = false;
  while (!added && absl::Now() < deadline) added = peers.Add(second[0], 1, 1);
  EXPECT_TRUE(added);
  close(first[1]);
  close(second[0]);
  close(second[1]);
}

TEST(CallerTrustTest, UnixWithoutRulesAdmitsOnlyVerdictdsOwnUser) {
  absl::StatusOr<CallerTrust> trust =
      CallerTrust::Create(CallerTransport::kUnixSocket, {});
  ASSERT_TRUE(trust.ok());
  const Caller self = trust->ResolveUid(geteuid());
  EXPECT_TRUE(self.may.check && self.may.assert_identity && self.may.admin);
  EXPECT_FALSE(trust->ResolveUid(geteuid() + 1).may.any());
  EXPECT_THAT(trust->Describe()[1], HasSubstr("verdictd's own user"));
}

TEST(CallerTrustTest, WithTlsPermissionsAreTheUnionOfMatchingRules) {
  absl::StatusOr<CallerTrust> trust = CallerTrust::Create(
      CallerTransport::kTls,
      {ById("spiffe://corp.example/mcp/*", {.check = true}),
       ById("spiffe://corp.example/mcp/crm", {.assert_identity = true}),
       ById("spiffe://corp.example/ops/console", {.admin = true})});
  ASSERT_TRUE(trust.ok());
  const Caller crm =
      trust->Resolve("ipv4:10.0.0.1:5", "spiffe://corp.example/mcp/crm");
  EXPECT_EQ(crm.id, "spiffe://corp.example/mcp/crm");
  EXPECT_TRUE(crm.may.check);
  EXPECT_TRUE(crm.may.assert_identity);
  EXPECT_FALSE(crm.may.admin);
  const Caller other =
      trust->Resolve("ipv4:10.0.0.1:5", "spiffe://corp.example/mcp/wiki");
  EXPECT_TRUE(other.may.check);
  EXPECT_FALSE(other.may.assert_identity);
  const Caller console =
      trust->Resolve("ipv4:10.0.0.1:5", "spiffe://corp.example/ops/console");
  EXPECT_FALSE(console.may.check);
  EXPECT_TRUE(console.may.admin);
  // Loopback earns nothing with TLS; neither does a missing or bad ID.
  for (const char* id :
       {"", "https://corp.example/mcp/crm", "spiffe://corp.example/"}) {
    const Caller anonymous = trust->Resolve("ipv4:127.0.0.1:5", id);
    EXPECT_FALSE(anonymous.may.any()) << id;
  }
  // No rule is implied with TLS.
  absl::StatusOr<CallerTrust> none =
      CallerTrust::Create(CallerTransport::kTls, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->Describe()[0], "callers that may check: none");
  EXPECT_EQ(trust->Describe()[3],
            "callers that may use admin: spiffe://corp.example/ops/console");
}

TEST(CallerTrustTest, EmptyGlobIsRefused) {
  EXPECT_FALSE(CallerTrust::Create(CallerTransport::kTls, {ById("", {})}).ok());
}

}  // namespace
}  // namespace verdict::service
