// Limits in the Decider, on an injected clock: a limited allow is counted
// and not reusable; past the limit the call denies limit_exceeded with the
// rule, a 429 challenge, Retry-After and the reset; deny rules still win
// and consume nothing; listings neither count nor consume; a batch counts
// each allowed item; every matching limited rule must have room, even when
// an unlimited allow matches too; a key that does not evaluate denies
// evaluation_error; a counter that fails denies limit_unavailable (503) and
// is counted; Grants.Issue's DecideBatch takes nothing.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/decision/decider.h"
#include "server/decision/proto_time.h"
#include "server/decision/snapshot_source.h"
#include "server/limits/in_process_counter.h"
#include "server/limits/redis_counter.h"
#include "server/metrics/metrics.h"
#include "server/policy/compiler.h"
#include "server/redis/redis_client.h"
#include "tests/decision/decide_for_test.h"

namespace verdict::decision {
namespace {

using ::testing::HasSubstr;
using ::verdict::decision::testing::CounterValue;
using ::verdict::decision::testing::FakeClock;

constexpr char kPolicy[] = R"yaml(
policy: budgets
rules:
  - id: export
    effect: allow
    servers: [crm]
    tools: ["export_*"]
    actions: [tools/call, tools/list]
    limit: {calls: 2, per: [subject.id], window: 1m}
  - id: no-exports-for-mallory
    effect: deny
    subjects: [mallory]
    tools: ["export_*"]
  - id: read
    effect: allow
    servers: [crm]
    tools: [read, export_all]
  - id: by-task
    effect: allow
    servers: [crm]
    tools: [task_tool]
    limit: {calls: 5, per: [context.task_id], window: 1h}
)yaml";

// 2026-03-03 10:00:20 UTC: 40 seconds before the minute's window resets.
const absl::Time kNow = absl::FromUnixSeconds(1772532020);

const CallerInfo kCaller{
    .trusted = true, .id = "test", .may_assert_identity = true};

// The set with the metrics' rule counters, as the policy store serves it.
class CountedSnapshot final : public SnapshotSource {
 public:
  CountedSnapshot(std::shared_ptr<const policy::PolicySet> set,
                  metrics::Metrics* metrics)
      : snapshot_{.set = set, .rule_counters = metrics->Publish(*set)} {}
  const PolicySnapshot& CurrentSnapshot() const override { return snapshot_; }

 private:
  const PolicySnapshot snapshot_;
};

std::shared_ptr<const policy::PolicySet> Compile() {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileSources({{"p.yaml", kPolicy}}, &diagnostics);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? std::shared_ptr<const policy::PolicySet>(*std::move(set))
                  : nullptr;
}

v1::CheckRequest Call(const std::string& subject, const std::string& tool,
                      const std::string& action = "tools/call") {
  v1::CheckRequest request;
  request.mutable_subject()->set_id(subject);
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name(tool);
  request.set_action(action);
  return request;
}

class LimitsDeciderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(set_, nullptr); }

  Decider Make(limits::LimitCounter* counter = nullptr) {
    return Decider(&snapshot_, DeciderOptions{.cache_ttl = absl::Seconds(30),
                                              .clock = &clock_,
                                              .metrics = &metrics_,
                                              .limits = counter});
  }

  std::shared_ptr<const policy::PolicySet> set_ = Compile();
  metrics::Metrics metrics_;
  CountedSnapshot snapshot_{set_, &metrics_};
  FakeClock clock_{kNow};
};

TEST_F(LimitsDeciderTest, LimitedAllowIsCountedThenExceeded) {
  const Decider decider = Make();
  for (int i = 0; i < 2; ++i) {
    const v1::CheckResponse allowed =
        testing::Check(decider, Call("alice", "export_contacts"), kCaller);
    EXPECT_EQ(allowed.decision(), v1::ALLOW) << i;
    // Each use must be counted: never reusable.
    EXPECT_EQ(allowed.cache_ttl().seconds(), 0);
    EXPECT_EQ(allowed.cache_ttl().nanos(), 0);
  }
  const v1::CheckResponse denied =
      testing::Check(decider, Call("alice", "export_contacts"), kCaller);
  EXPECT_EQ(denied.decision(), v1::DENY);
  ASSERT_EQ(denied.reasons_size(), 1);
  EXPECT_EQ(denied.reasons(0).code(), "limit_exceeded");
  EXPECT_EQ(denied.reasons(0).policy(), "budgets");
  EXPECT_EQ(denied.reasons(0).rule(), "export");
  EXPECT_EQ(denied.reasons(0).message(),
            "rule budgets/export allows 2 calls per 1m per subject.id: none "
            "left until 2026-03-03T10:01:00Z");
  EXPECT_EQ(denied.category(), v1::REASON_CATEGORY_RATE_LIMITED);
  EXPECT_EQ(denied.challenge().http_status(), 429);
  EXPECT_EQ(denied.challenge().retry_after_seconds(), 40);
  EXPECT_EQ(FromProto(denied.limit_resets_at()),
            absl::FromUnixSeconds(1772532060));
  EXPECT_EQ(CounterValue(*metrics_.registry(), "verdict_limit_exceeded_total",
                         {{"policy", "budgets"}, {"rule", "export"}}),
            1);

  // Another subject has its own count; a new window starts afresh.
  EXPECT_EQ(testing::Check(decider, Call("bob", "export_contacts"), kCaller)
                .decision(),
            v1::ALLOW);
  clock_.Set(absl::FromUnixSeconds(1772532060));
  EXPECT_EQ(testing::Check(decider, Call("alice", "export_contacts"), kCaller)
                .decision(),
            v1::ALLOW);
}

TEST_F(LimitsDeciderTest, UnlimitedAllowsStayReusable) {
  const Decider decider = Make();
  const v1::CheckResponse allowed =
      testing::Check(decider, Call("alice", "read"), kCaller);
  EXPECT_EQ(allowed.decision(), v1::ALLOW);
  EXPECT_EQ(allowed.cache_ttl().seconds(), 30);
}

TEST_F(LimitsDeciderTest, DenyRulesWinAndConsumeNothing) {
  const Decider decider = Make();
  for (int i = 0; i < 5; ++i) {
    const v1::CheckResponse denied =
        testing::Check(decider, Call("mallory", "export_contacts"), kCaller);
    EXPECT_EQ(denied.reasons(0).code(), "denied_by_rule");
  }
  // Limits only count allows: another subject is untouched, and so is a
  // call the limited rule does not match.
  EXPECT_EQ(testing::Check(decider, Call("alice", "export_contacts"), kCaller)
                .decision(),
            v1::ALLOW);
}

TEST_F(LimitsDeciderTest, ListingsNeitherCountNorConsume) {
  const Decider decider = Make();
  v1::CheckBatchRequest listing;
  listing.mutable_subject()->set_id("alice");
  v1::CheckBatchItem* item = listing.add_items();
  item->mutable_tool()->set_server("crm");
  item->mutable_tool()->set_name("export_contacts");
  item->set_action("tools/list");
  for (int i = 0; i < 5; ++i) {
    std::vector<v1::CheckResponse> results;
    ASSERT_TRUE(testing::CheckBatch(decider, listing, kCaller, &results).ok());
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].decision(), v1::ALLOW) << i;
    EXPECT_FALSE(results[0].has_limit_resets_at());
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(testing::Check(decider, Call("alice", "export_contacts"), kCaller)
                  .decision(),
              v1::ALLOW);
  }
  // Exhausted calls still list: the listing says nothing about limits.
  std::vector<v1::CheckResponse> results;
  ASSERT_TRUE(testing::CheckBatch(decider, listing, kCaller, &results).ok());
  EXPECT_EQ(results[0].decision(), v1::ALLOW);
}

TEST_F(LimitsDeciderTest, ABatchCountsEachAllowedItem) {
  const Decider decider = Make();
  v1::CheckBatchRequest batch;
  batch.mutable_subject()->set_id("alice");
  for (int i = 0; i < 3; ++i) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name("export_contacts");
    item->set_action("tools/call");
  }
  std::vector<v1::CheckResponse> results;
  ASSERT_TRUE(testing::CheckBatch(decider, batch, kCaller, &results).ok());
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].decision(), v1::ALLOW);
  EXPECT_EQ(results[1].decision(), v1::ALLOW);
  EXPECT_EQ(results[2].reasons(0).code(), "limit_exceeded");
}

TEST_F(LimitsDeciderTest, AnUnlimitedAllowDoesNotLiftALimit) {
  // export_all matches both `export` (limited) and `read` (unlimited).
  const Decider decider = Make();
  EXPECT_EQ(
      testing::Check(decider, Call("alice", "export_all"), kCaller).decision(),
      v1::ALLOW);
  EXPECT_EQ(
      testing::Check(decider, Call("alice", "export_all"), kCaller).decision(),
      v1::ALLOW);
  const v1::CheckResponse denied =
      testing::Check(decider, Call("alice", "export_all"), kCaller);
  EXPECT_EQ(denied.reasons(0).code(), "limit_exceeded");
  EXPECT_EQ(denied.reasons(0).rule(), "export");
}

TEST_F(LimitsDeciderTest, AKeyThatDoesNotEvaluateDenies) {
  const Decider decider = Make();
  v1::CheckRequest request = Call("alice", "task_tool");
  const v1::CheckResponse missing = testing::Check(decider, request, kCaller);
  EXPECT_EQ(missing.decision(), v1::DENY);
  EXPECT_EQ(missing.reasons(0).code(), "evaluation_error");
  EXPECT_THAT(missing.reasons(0).message(),
              HasSubstr("limit key context.task_id: "));
  EXPECT_EQ(missing.reasons(0).rule(), "by-task");
  // A key that is neither a string nor a number.
  (*request.mutable_context()->mutable_fields())["task_id"].set_bool_value(
      true);
  const v1::CheckResponse wrong = testing::Check(decider, request, kCaller);
  EXPECT_EQ(wrong.reasons(0).code(), "evaluation_error");
  EXPECT_THAT(wrong.reasons(0).message(),
              HasSubstr("not a string or a number"));
  (*request.mutable_context()->mutable_fields())["task_id"].set_string_value(
      "t1");
  EXPECT_EQ(testing::Check(decider, request, kCaller).decision(), v1::ALLOW);
}

TEST_F(LimitsDeciderTest, AFailingCounterDeniesLimitUnavailable) {
  redis::RedisClient client(redis::RedisOptions{
      .address = "unix:/nonexistent/verdict-limits-test.sock"});
  limits::RedisLimitCounter counter(&client, "verdict:");
  const Decider decider = Make(&counter);
  const v1::CheckResponse denied =
      testing::Check(decider, Call("alice", "export_contacts"), kCaller);
  EXPECT_EQ(denied.decision(), v1::DENY);
  EXPECT_EQ(denied.reasons(0).code(), "limit_unavailable");
  EXPECT_THAT(denied.reasons(0).message(),
              HasSubstr("the limit of rule budgets/export could not be "
                        "counted"));
  EXPECT_EQ(denied.category(), v1::REASON_CATEGORY_UNAVAILABLE);
  EXPECT_EQ(denied.challenge().http_status(), 503);
  EXPECT_EQ(CounterValue(*metrics_.registry(),
                         "verdict_limit_store_errors_total", {}),
            1);
  // Calls that rest on no limit never reach the store.
  EXPECT_EQ(testing::Check(decider, Call("alice", "read"), kCaller).decision(),
            v1::ALLOW);
}

TEST_F(LimitsDeciderTest, DecideBatchTakesNothing) {
  const Decider decider = Make();
  v1::CheckBatchRequest batch;
  for (int i = 0; i < 4; ++i) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_server("crm");
    item->mutable_tool()->set_name("export_contacts");
    item->set_action("tools/call");
  }
  v1::Subject subject;
  subject.set_id("alice");
  const Authenticated auth =
      decider.Identify(nullptr, subject, kCaller, clock_.Now());
  ASSERT_TRUE(auth.ok);
  const BatchInput input{.subject = &subject, .items = &batch.items()};
  int allowed = 0;
  decider.DecideBatch(
      auth, input, kCaller, clock_.Now(),
      [&](const Outcome& outcome) { allowed += outcome.allowed() ? 1 : 0; });
  EXPECT_EQ(allowed, 4);
  EXPECT_EQ(testing::Check(decider, Call("alice", "export_contacts"), kCaller)
                .decision(),
            v1::ALLOW);
}

}  // namespace
}  // namespace verdict::decision
