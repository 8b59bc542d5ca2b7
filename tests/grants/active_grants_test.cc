// ActiveGrants counts issued grants until they expire or are revoked,
// directly or through their task.

#include "server/grants/active_grants.h"

#include <string>

#include "gtest/gtest.h"

namespace verdict::grants {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

TEST(ActiveGrantsTest, CountsIssuedUntilExpiry) {
  ActiveGrants active;
  EXPECT_EQ(active.Count(kNow), 0u);
  active.Issued("g1", "t1", kNow + absl::Seconds(10), kNow);
  active.Issued("g2", "t1", kNow + absl::Seconds(20), kNow);
  active.Issued("g3", "t2", kNow + absl::Seconds(30), kNow);
  EXPECT_EQ(active.Count(kNow), 3u);
  EXPECT_EQ(active.Count(kNow + absl::Seconds(10)), 2u);  // exp is exclusive
  EXPECT_EQ(active.Count(kNow + absl::Seconds(25)), 1u);
  EXPECT_EQ(active.Count(kNow + absl::Seconds(30)), 0u);
}

TEST(ActiveGrantsTest, IgnoresGrantsAlreadyExpired) {
  ActiveGrants active;
  active.Issued("g1", "t1", kNow, kNow);
  active.Issued("g2", "t1", kNow - absl::Seconds(1), kNow);
  EXPECT_EQ(active.Count(kNow), 0u);
}

TEST(ActiveGrantsTest, RevokedGrantsAndTasksStopCounting) {
  ActiveGrants active;
  active.Issued("g1", "t1", kNow + absl::Minutes(5), kNow);
  active.Issued("g2", "t1", kNow + absl::Minutes(5), kNow);
  active.Issued("g3", "t2", kNow + absl::Minutes(5), kNow);
  active.RevokeGrant("g3");
  EXPECT_EQ(active.Count(kNow), 2u);
  active.RevokeGrant("g3");  // twice: no change
  active.RevokeGrant("unknown");
  EXPECT_EQ(active.Count(kNow), 2u);
  active.RevokeTask("t1");
  EXPECT_EQ(active.Count(kNow), 0u);
  active.RevokeTask("t1");
  // A later grant of another task counts; the revoked ones do not come back
  // when their expiries pass.
  active.Issued("g4", "t3", kNow + absl::Minutes(10), kNow);
  EXPECT_EQ(active.Count(kNow + absl::Minutes(6)), 1u);
  active.RevokeGrant("g4");
  EXPECT_EQ(active.Count(kNow + absl::Minutes(6)), 0u);
}

TEST(ActiveGrantsTest, ReissuingAnIdReplacesItsEntry) {
  ActiveGrants active;
  active.Issued("g1", "t1", kNow + absl::Seconds(10), kNow);
  active.Issued("g1", "t2", kNow + absl::Seconds(20), kNow);
  EXPECT_EQ(active.Count(kNow), 1u);
  // The first expiry passes without dropping the reissued grant.
  EXPECT_EQ(active.Count(kNow + absl::Seconds(15)), 1u);
  active.RevokeTask("t1");
  EXPECT_EQ(active.Count(kNow + absl::Seconds(15)), 1u);
  active.RevokeTask("t2");
  EXPECT_EQ(active.Count(kNow + absl::Seconds(15)), 0u);
}

TEST(ActiveGrantsTest, ManyExpiredGrantsAreForgotten) {
  ActiveGrants active;
  for (int i = 0; i < 10000; ++i) {
    const absl::Time issued = kNow + absl::Seconds(i);
    active.Issued("g" + std::to_string(i), "t" + std::to_string(i % 10),
                  issued + absl::Seconds(60), issued);
  }
  // Only the last minute's grants are live.
  EXPECT_EQ(active.Count(kNow + absl::Seconds(10000)), 59u);
  active.RevokeTask("t9");
  EXPECT_EQ(active.Count(kNow + absl::Seconds(10000)), 53u);
}

}  // namespace
}  // namespace verdict::grants
