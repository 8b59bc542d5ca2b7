// The authenticators' cache of verified identities (a DigestCache<Identity>
// keyed by Sha256Hasher): hits until valid_until, bounded, and a
// verification that raced with Clear() is not cached. SpiffeTrustDomain
// parses SPIFFE IDs strictly.

#include <string>

#include "gtest/gtest.h"
#include "server/authn/identity.h"
#include "server/authn/openssl_util.h"
#include "server/common/digest_cache.h"

namespace verdict::authn {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

std::shared_ptr<const Identity> MakeIdentity(std::string subject) {
  auto identity = std::make_shared<Identity>();
  identity->subject = std::move(subject);
  return identity;
}

TEST(CredentialCacheTest, HitsUntilValidUntil) {
  DigestCache<Identity> cache(100);
  const Sha256Hasher sha256;
  const auto digest = sha256.Of("token");
  EXPECT_EQ(cache.Find(digest, kNow), nullptr);
  const auto identity = MakeIdentity("alice");
  cache.Insert(digest, identity, kNow + absl::Seconds(10), kNow,
               cache.generation());
  EXPECT_EQ(cache.Find(digest, kNow), identity);
  EXPECT_EQ(cache.Find(digest, kNow + absl::Seconds(9)), identity);
  EXPECT_EQ(cache.Find(digest, kNow + absl::Seconds(10)), nullptr);
  EXPECT_EQ(cache.Find(sha256.Of("token2"), kNow), nullptr);
  cache.Clear();
  EXPECT_EQ(cache.Find(digest, kNow), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(CredentialCacheTest, DigestIsSha256) {
  DigestCache<Identity> cache(1);
  const Sha256Hasher sha256;
  const auto digest = sha256.Of("abc");
  // FIPS 180-2 test vector.
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[1], 0x78);
  EXPECT_EQ(digest[31], 0xad);
}

TEST(CredentialCacheTest, StaysBoundedAndAlwaysKeepsTheNewestEntry) {
  DigestCache<Identity> cache(64);
  const Sha256Hasher sha256;
  for (int i = 0; i < 1000; ++i) {
    cache.Insert(sha256.Of(std::to_string(i)), MakeIdentity("x"),
                 kNow + absl::Seconds(i % 2 == 0 ? 1 : 1000), kNow,
                 cache.generation());
  }
  EXPECT_LE(cache.size(), 64u);
  // Later, with half of them expired, a full shard still takes a new entry.
  const absl::Time later = kNow + absl::Seconds(2);
  const auto keep = sha256.Of("keep");
  cache.Insert(keep, MakeIdentity("keep"), later + absl::Seconds(100), later,
               cache.generation());
  EXPECT_NE(cache.Find(keep, later), nullptr);
  EXPECT_LE(cache.size(), 64u);
}

TEST(CredentialCacheTest, InsertAfterClearOfItsGenerationIsDropped) {
  DigestCache<Identity> cache(10);
  const Sha256Hasher sha256;
  const uint64_t generation = cache.generation();
  cache.Clear();  // keys changed while the credential was being verified
  const auto digest = sha256.Of("token");
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
