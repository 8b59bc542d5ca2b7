// Without TLS only loopback peers are trusted: every loopback spelling gRPC
// reports is accepted and nothing else is.

#include "server/service/caller_trust.h"

#include "gtest/gtest.h"

namespace verdict::service {
namespace {

TEST(CallerTrustTest, LoopbackPeersAreTrusted) {
  EXPECT_TRUE(IsLoopbackPeer("ipv4:127.0.0.1:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv4:127.3.4.5:1"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:[::1]:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:%5B::1%5D:41234"));
  EXPECT_TRUE(IsLoopbackPeer("ipv6:[::ffff:127.0.0.1]:5"));
  EXPECT_TRUE(IsLoopbackPeer("unix:/run/verdict.sock"));
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
}

TEST(CallerTrustTest, WithoutTlsLoopbackMayDoEverythingAndOthersNothing) {
  absl::StatusOr<CallerTrust> trust = CallerTrust::Create(false, {});
  ASSERT_TRUE(trust.ok());
  const Caller local = trust->Resolve("ipv4:127.0.0.1:5000", "");
  EXPECT_TRUE(local.may.check && local.may.assert_identity &&
              local.may.grants && local.may.admin);
  const Caller remote = trust->Resolve("ipv4:10.0.0.1:5000", "");
  EXPECT_FALSE(remote.may.check || remote.may.assert_identity ||
               remote.may.grants || remote.may.admin);
  EXPECT_FALSE(remote.refusal.empty());
  // Rules could never match without client certificates.
  EXPECT_FALSE(
      CallerTrust::Create(false, {{.id = "spiffe://a/*", .may = {}}}).ok());
}

TEST(CallerTrustTest, WithTlsPermissionsAreTheUnionOfMatchingRules) {
  absl::StatusOr<CallerTrust> trust = CallerTrust::Create(
      true,
      {{.id = "spiffe://corp.example/mcp/*", .may = {.check = true}},
       {.id = "spiffe://corp.example/mcp/crm",
        .may = {.assert_identity = true}},
       {.id = "spiffe://corp.example/ops/console", .may = {.admin = true}}});
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
    EXPECT_FALSE(anonymous.may.check || anonymous.may.admin) << id;
  }
}

TEST(CallerTrustTest, EmptyGlobIsRefused) {
  EXPECT_FALSE(CallerTrust::Create(true, {{.id = "", .may = {}}}).ok());
}

}  // namespace
}  // namespace verdict::service
