// IdentityCache: hits until valid_until, bounded, and a verification that
// raced with Clear() is not cached. SpiffeTrustDomain parses SPIFFE IDs
// strictly.

#include "server/authn/identity_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace verdict::authn {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

std::shared_ptr<const Identity> MakeIdentity(std::string subject) {
  auto identity = std::make_shared<Identity>();
  identity->subject = std::move(subject);
  return identity;
}

TEST(IdentityCacheTest, HitsUntilValidUntil) {
  IdentityCache cache(100);
  const auto digest = cache.DigestOf("token");
  EXPECT_EQ(cache.Find(digest, kNow), nullptr);
  const auto identity = MakeIdentity("alice");
  cache.Insert(digest, identity, kNow + absl::Seconds(10), kNow,
               cache.generation());
  EXPECT_EQ(cache.Find(digest, kNow), identity);
  EXPECT_EQ(cache.Find(digest, kNow + absl::Seconds(9)), identity);
  EXPECT_EQ(cache.Find(digest, kNow + absl::Seconds(10)), nullptr);
  EXPECT_EQ(cache.Find(cache.DigestOf("token2"), kNow), nullptr);
  cache.Clear();
  EXPECT_EQ(cache.Find(digest, kNow), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(IdentityCacheTest, DigestIsSha256) {
  IdentityCache cache(1);
  const auto digest = cache.DigestOf("abc");
  // FIPS 180-2 test vector.
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[1], 0x78);
  EXPECT_EQ(digest[31], 0xad);
}

TEST(IdentityCacheTest, StaysBoundedAndAlwaysKeepsTheNewestEntry) {
  IdentityCache cache(64);
  for (int i = 0; i < 1000; ++i) {
    cache.Insert(cache.DigestOf(std::to_string(i)), MakeIdentity("x"),
                 kNow + absl::Seconds(i % 2 == 0 ? 1 : 1000), kNow,
                 cache.generation());
  }
  EXPECT_LE(cache.size(), 64u);
  // Later, with half of them expired, a full shard still takes a new entry.
  const absl::Time later = kNow + absl::Seconds(2);
  const auto keep = cache.DigestOf("keep");
  cache.Insert(keep, MakeIdentity("keep"), later + absl::Seconds(100), later,
               cache.generation());
  EXPECT_NE(cache.Find(keep, later), nullptr);
  EXPECT_LE(cache.size(), 64u);
}

TEST(IdentityCacheTest, InsertAfterClearOfItsGenerationIsDropped) {
  IdentityCache cache(10);
  const uint64_t generation = cache.generation();
  cache.Clear();  // keys changed while the credential was being verified
  const auto digest = cache.DigestOf("token");
  cache.Insert(digest, MakeIdentity("alice"), kNow + absl::Hours(1), kNow,
               generation);
  EXPECT_EQ(cache.Find(digest, kNow), nullptr);
}

TEST(SpiffeTrustDomainTest, ParsesStrictly) {
  EXPECT_EQ(SpiffeTrustDomain("spiffe://corp.example/mcp/crm"), "corp.example");
  EXPECT_EQ(SpiffeTrustDomain("spiffe://a-b_c.9/x"), "a-b_c.9");
  for (const char* bad :
       {"spiffe://corp.example", "spiffe://corp.example/", "spiffe:///x",
        "SPIFFE://corp.example/x", "spiffe://Corp.example/x",
        "spiffe://corp.example:8443/x", "spiffe://user@corp.example/x",
        "spiffe://corp.example/a//b", "spiffe://corp.example/./b",
        "spiffe://corp.example/a/..", "spiffe://corp.example/a?b",
        "spiffe://corp.example/a#b", "spiffe://corp.example/a%20b",
        "https://corp.example/x", "alice"}) {
    EXPECT_EQ(SpiffeTrustDomain(bad), "") << bad;
  }
}

}  // namespace
}  // namespace verdict::authn
