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

}  // namespace
}  // namespace verdict::service
