// server/decision without gRPC, on an injected clock and fixed snapshots:
// the deny paths a loopback client cannot reach (untrusted callers, no
// policy set), latency from receipt, the policies' `now` from the receipt or
// from evaluate_at (and who may set it), one validation wording, the batch
// marker every observer sees, the recorder turning an unrecordable answer
// into audit_unavailable and counting what was sent, a warm decision making
// no allocation, and the store keeping its last good set.

#include "server/decision/decider.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/decision/decision_recorder.h"
#include "server/decision/fixed_snapshot.h"
#include "server/decision/policy_store.h"
#include "server/decision/proto_time.h"
#include "server/metrics/metrics.h"
#include "server/policy/compiler.h"
#include "tests/decision/decide_for_test.h"
#include "tests/testing/allocation_counter.h"

namespace verdict::decision {
namespace {

using ::testing::HasSubstr;
using ::verdict::decision::testing::CounterValue;
using ::verdict::decision::testing::FakeClock;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";

constexpr char kPolicy[] = R"yaml(
policy: p
roles: [crm-reader]
rules:
  - id: read
    effect: allow
    servers: [crm]
    tools: [get_contact]
    when: context.environment == "dev"
    obligations: {max_rows: 100}
  - id: office-hours
    effect: allow
    servers: [crm]
    tools: [export_contacts]
    when: now.getHours() >= 9 && now.getHours() < 17
)yaml";

// 2026-03-03 at 10:00 and 23:30 UTC.
const absl::Time kMorning = absl::FromUnixSeconds(1772532000);
const absl::Time kNight = absl::FromUnixSeconds(1772580600);

const CallerInfo kMayAssert{
    .trusted = true, .id = "test", .may_assert_identity = true};

std::unique_ptr<const policy::PolicySet> CompileOrDie() {
  std::vector<policy::Diagnostic> diagnostics;
  auto set = policy::CompileSources({{"p.yaml", kPolicy}}, &diagnostics);
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *std::move(set) : nullptr;
}

v1::CheckRequest Request(const std::string& tool = "get_contact") {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("agent");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name(tool);
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("dev");
  return request;
}

// Copies what it is shown (the event only borrows), and can play a log that
// takes nothing.
class RecordingObserver final : public DecisionObserver {
 public:
  struct Seen {
    std::string decision_id;
    std::string tool_name;
    std::string batch_id;
    int batch_index;
    int batch_size;
    absl::Duration latency;
  };
  void Record(const DecisionEvent& event, Outcome* outcome) override {
    seen.push_back({std::string(outcome->decision_id()),
                    std::string(event.tool_name), std::string(event.batch.id),
                    event.batch.index, event.batch.size, outcome->latency()});
  }
  std::vector<Seen> seen;
};

class DeciderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(set_, nullptr); }

  std::unique_ptr<const policy::PolicySet> set_ = CompileOrDie();
  FixedSnapshot snapshot_{*set_};
  FakeClock clock_{kMorning};
};

TEST_F(DeciderTest, UntrustedCallerIsDeniedBeforeAnythingElse) {
  const Decider decider(&snapshot_, DeciderOptions{.clock = &clock_});
  const v1::CheckResponse response =
      testing::Check(decider, Request(), CallerInfo{.trusted = false});
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "caller_not_trusted");
  EXPECT_EQ(response.decision_id().size(), 32u);
  EXPECT_FALSE(response.has_identity());

  v1::CheckBatchRequest batch;
  batch.mutable_subject()->set_id("agent");
  batch.add_items()->set_action("tools/list");
  std::vector<v1::CheckResponse> results;
  ASSERT_TRUE(testing::CheckBatch(decider, batch, CallerInfo{.trusted = false},
                                  &results)
                  .ok());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].reasons(0).code(), "caller_not_trusted");
}

TEST_F(DeciderTest, NoPolicySetDeniesWithPolicyUnavailable) {
  const PolicyStore empty(kFixtureDir);  // never loaded
  const Decider decider(&empty, DeciderOptions{.clock = &clock_});
  const v1::CheckResponse response =
      testing::Check(decider, Request(), kMayAssert);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "policy_unavailable");
  EXPECT_EQ(response.category(), v1::REASON_CATEGORY_UNAVAILABLE);
  EXPECT_EQ(response.challenge().http_status(), 503);
  EXPECT_EQ(response.policy_revision(), "");
}

TEST_F(DeciderTest, AllowCarriesRuleObligationsRevisionAndCacheTtl) {
  const Decider decider(
      &snapshot_,
      DeciderOptions{.cache_ttl = absl::Seconds(7), .clock = &clock_});
  const v1::CheckResponse response =
      testing::Check(decider, Request(), kMayAssert);
  EXPECT_EQ(response.decision(), v1::ALLOW);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "allowed_by_rule");
  EXPECT_EQ(response.reasons(0).rule(), "read");
  EXPECT_EQ(response.obligations().fields().at("max_rows").number_value(), 100);
  EXPECT_EQ(response.cache_ttl().seconds(), 7);
  EXPECT_EQ(response.policy_revision(), set_->revision());
  EXPECT_EQ(response.identity().subject(), "agent");
  EXPECT_EQ(response.identity().method(), "asserted");
}

TEST_F(DeciderTest, LatencyRunsFromReceiptOnTheInjectedClock) {
  RecordingObserver observer;
  const Decider decider(
      &snapshot_, DeciderOptions{.observer = &observer, .clock = &clock_});
  absl::Duration latency;
  decider.Check(Request(), kMayAssert, kMorning - absl::Milliseconds(3),
                [&](const Outcome& outcome) {
                  EXPECT_EQ(outcome.received(),
                            kMorning - absl::Milliseconds(3));
                  EXPECT_EQ(outcome.decided(), kMorning);
                  latency = outcome.latency();
                });
  EXPECT_EQ(latency, absl::Milliseconds(3));
  ASSERT_EQ(observer.seen.size(), 1u);
  EXPECT_EQ(observer.seen[0].latency, absl::Milliseconds(3));
}

TEST_F(DeciderTest, PoliciesSeeTheTimeOfReceipt) {
  const Decider decider(&snapshot_, DeciderOptions{.cache_ttl = absl::Hours(1),
                                                   .clock = &clock_});
  const v1::CheckResponse morning =
      testing::Check(decider, Request("export_contacts"), kMayAssert);
  EXPECT_EQ(morning.decision(), v1::ALLOW) << morning.DebugString();
  EXPECT_EQ(morning.cache_ttl().seconds(), 0) << "it depends on the clock";

  clock_.Set(kNight);
  const v1::CheckResponse night =
      testing::Check(decider, Request("export_contacts"), kMayAssert);
  EXPECT_EQ(night.decision(), v1::DENY);
  EXPECT_EQ(night.reasons(0).code(), "no_matching_rule");
}

TEST_F(DeciderTest, EvaluateAtSetsThePoliciesNowAndIsNeverReused) {
  clock_.Set(kNight);
  const Decider decider(&snapshot_, DeciderOptions{.cache_ttl = absl::Hours(1),
                                                   .clock = &clock_});
  v1::CheckRequest request = Request("export_contacts");
  SetTimestamp(kMorning, request.mutable_evaluate_at());
  const v1::CheckResponse at_ten = testing::Check(decider, request, kMayAssert);
  EXPECT_EQ(at_ten.decision(), v1::ALLOW) << at_ten.DebugString();
  EXPECT_EQ(at_ten.reasons(0).rule(), "office-hours");

  // A time-free allow asked about another time is not reusable either.
  v1::CheckRequest read = Request();
  SetTimestamp(kMorning, read.mutable_evaluate_at());
  const v1::CheckResponse allowed = testing::Check(decider, read, kMayAssert);
  EXPECT_EQ(allowed.decision(), v1::ALLOW);
  EXPECT_EQ(allowed.cache_ttl().seconds(), 0);
  EXPECT_EQ(
      testing::Check(decider, Request(), kMayAssert).cache_ttl().seconds(),
      3600);
}

TEST_F(DeciderTest, EvaluateAtNeedsThePermissionToAssertIdentities) {
  const Decider decider(&snapshot_, DeciderOptions{.clock = &clock_});
  v1::CheckRequest request = Request();
  SetTimestamp(kMorning, request.mutable_evaluate_at());
  const v1::CheckResponse refused =
      testing::Check(decider, request, CallerInfo{.trusted = true});
  EXPECT_EQ(refused.decision(), v1::DENY);
  ASSERT_EQ(refused.reasons_size(), 1);
  EXPECT_EQ(refused.reasons(0).code(), "caller_not_trusted");
  EXPECT_THAT(refused.reasons(0).message(), HasSubstr("evaluate_at"));
  EXPECT_THAT(refused.reasons(0).message(), HasSubstr("assert_identity"));

  request.mutable_evaluate_at()->set_nanos(-1);
  const v1::CheckResponse malformed =
      testing::Check(decider, request, kMayAssert);
  EXPECT_EQ(malformed.reasons(0).code(), "invalid_request");
  EXPECT_THAT(malformed.reasons(0).message(),
              HasSubstr("evaluate_at is not a valid timestamp"));
}

// The engine has no wording of its own for a malformed request: the one
// validation answers, whoever asks.
TEST_F(DeciderTest, MalformedRequestsDenyWithTheOneValidationMessage) {
  const Decider decider(&snapshot_, DeciderOptions{.clock = &clock_});
  v1::CheckRequest no_action = Request();
  no_action.clear_action();
  v1::CheckResponse response = testing::Check(decider, no_action, kMayAssert);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(response.reasons(0).code(), "invalid_request");
  EXPECT_EQ(response.reasons(0).message(), "action is required");
  EXPECT_FALSE(response.has_identity());

  v1::CheckRequest no_tool = Request();
  no_tool.mutable_tool()->clear_name();
  response = testing::Check(decider, no_tool, kMayAssert);
  EXPECT_EQ(response.reasons(0).code(), "invalid_request");
  EXPECT_EQ(response.reasons(0).message(),
            "tool.name is required for tools/call");
}

TEST_F(DeciderTest, ObserverSeesEveryDecisionAndEachBatchAsOne) {
  RecordingObserver observer;
  const Decider decider(
      &snapshot_, DeciderOptions{.observer = &observer, .clock = &clock_});
  const v1::CheckResponse allowed =
      testing::Check(decider, Request(), kMayAssert);
  v1::CheckBatchRequest batch;
  batch.mutable_subject()->set_id("agent");
  for (const char* tool : {"a", "b", "c"}) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_name(tool);
    item->set_action("tools/call");
  }
  std::vector<v1::CheckResponse> first;
  ASSERT_TRUE(testing::CheckBatch(decider, batch, kMayAssert, &first).ok());
  std::vector<v1::CheckResponse> second;
  ASSERT_TRUE(testing::CheckBatch(decider, batch, kMayAssert, &second).ok());

  ASSERT_EQ(observer.seen.size(), 7u);
  EXPECT_EQ(observer.seen[0].decision_id, allowed.decision_id());
  EXPECT_EQ(observer.seen[0].tool_name, "get_contact");
  EXPECT_EQ(observer.seen[0].batch_id, "") << "a Check is no batch";
  const std::string batch_id = observer.seen[1].batch_id;
  EXPECT_EQ(batch_id.size(), 32u);
  for (int i = 0; i < 3; ++i) {
    const RecordingObserver::Seen& seen = observer.seen[1 + i];
    EXPECT_EQ(seen.batch_id, batch_id);
    EXPECT_EQ(seen.batch_index, i);
    EXPECT_EQ(seen.batch_size, 3);
    EXPECT_EQ(seen.decision_id, first[i].decision_id());
    EXPECT_NE(seen.decision_id, batch_id);
  }
  EXPECT_EQ(observer.seen[3].tool_name, "c");
  EXPECT_NE(observer.seen[4].batch_id, batch_id) << "one id per batch";
  EXPECT_EQ(observer.seen[4].batch_id, observer.seen[6].batch_id);
}

// A sink that keeps what it takes, and can refuse.
class FakeSink final : public audit::DecisionSink {
 public:
  bool Submit(std::string_view record) override {
    submitted.emplace_back(record);
    return accept.empty() ? true : accept[submitted.size() - 1];
  }
  bool Healthy() const override { return healthy; }

  bool healthy = true;
  std::vector<bool> accept;  // per Submit; empty: take everything
  std::vector<std::string> submitted;
};

class RecorderTest : public DeciderTest {
 protected:
  v1::CheckResponse CheckThrough(bool deny_unrecorded) {
    const Decider decider(&snapshot_,
                          DeciderOptions{.observer = &recorder_,
                                         .deny_unrecorded = deny_unrecorded,
                                         .clock = &clock_});
    return testing::Check(decider, Request(), kMayAssert);
  }
  double Decisions(const std::string& decision, const std::string& reason) {
    return CounterValue(*metrics_.registry(), "verdict_decisions_total",
                        {{"decision", decision}, {"reason", reason}});
  }

  metrics::Metrics metrics_;
  FakeSink sink_;
  DecisionRecorder recorder_{&metrics_, &sink_};
};

TEST_F(RecorderTest, UnhealthyLogDeniesFirstAndRecordsThatDeny) {
  sink_.healthy = false;
  sink_.accept = {false};
  const v1::CheckResponse response = CheckThrough(/*deny_unrecorded=*/true);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "audit_unavailable");
  EXPECT_FALSE(response.has_obligations());
  EXPECT_EQ(response.cache_ttl().seconds(), 0);
  // One attempt, with the deny's record, never the allow's.
  ASSERT_EQ(sink_.submitted.size(), 1u);
  EXPECT_THAT(sink_.submitted[0], HasSubstr("\"decision\":\"deny\""));
  EXPECT_THAT(sink_.submitted[0], HasSubstr("audit_unavailable"));
  EXPECT_EQ(Decisions("deny", "audit_unavailable"), 1);
  EXPECT_EQ(Decisions("allow", "allowed_by_rule"), 0);
}

TEST_F(RecorderTest, RefusedSubmitDeniesThenSubmitsTheDenyOnce) {
  sink_.accept = {false, true};  // healthy, but the journal is full once
  const v1::CheckResponse response = CheckThrough(/*deny_unrecorded=*/true);
  EXPECT_EQ(response.decision(), v1::DENY);
  EXPECT_EQ(response.reasons(0).code(), "audit_unavailable");
  ASSERT_EQ(sink_.submitted.size(), 2u);
  EXPECT_THAT(sink_.submitted[0], HasSubstr("\"decision\":\"allow\""));
  EXPECT_THAT(sink_.submitted[1], HasSubstr("\"decision\":\"deny\""));
  EXPECT_THAT(sink_.submitted[1], HasSubstr("audit_unavailable"));
  EXPECT_EQ(Decisions("deny", "audit_unavailable"), 1);
  EXPECT_EQ(Decisions("allow", "allowed_by_rule"), 0);
}

TEST_F(RecorderTest, LenientLogKeepsTheAnswer) {
  sink_.healthy = false;
  sink_.accept = {false};
  const v1::CheckResponse response = CheckThrough(/*deny_unrecorded=*/false);
  EXPECT_EQ(response.decision(), v1::ALLOW);
  EXPECT_EQ(sink_.submitted.size(), 1u);
  EXPECT_EQ(Decisions("allow", "allowed_by_rule"), 1);
  EXPECT_EQ(Decisions("deny", "audit_unavailable"), 0);
}

// Takes every record without keeping it.
class CountingSink final : public audit::DecisionSink {
 public:
  bool Submit(std::string_view) override {
    ++records;
    return true;
  }
  bool Healthy() const override { return true; }
  int records = 0;
};

// The request path, metrics and record formatting included, allocates
// nothing once its per-thread buffers have grown: the Outcome reads the
// engine's result and the request in place.
TEST_F(DeciderTest, AWarmDecisionAllocatesNothing) {
  if (!verdict::testing::CountsAllocations())
    GTEST_SKIP() << "allocations are not counted";
  metrics::Metrics metrics;
  CountingSink sink;
  DecisionRecorder recorder(&metrics, &sink);
  const Decider decider(
      &snapshot_, DeciderOptions{.observer = &recorder, .clock = &clock_});
  const v1::CheckRequest request = Request();
  v1::CheckBatchRequest batch;
  *batch.mutable_subject() = request.subject();
  *batch.mutable_context() = request.context();
  for (int i = 0; i < 3; ++i) {
    v1::CheckBatchItem* item = batch.add_items();
    *item->mutable_tool() = request.tool();
    item->set_action("tools/call");
  }
  int allowed = 0;
  const auto count = [&allowed](const Outcome& outcome) {
    allowed += outcome.allowed();
  };
  const auto decide = [&] {
    decider.Check(request, kMayAssert, clock_.Now(), count);
    EXPECT_TRUE(decider
                    .CheckBatch(batch, kMayAssert, clock_.Now(), count,
                                [](const Admission&) {})
                    .ok());
  };
  decide();
  const long before = verdict::testing::Allocations();
  for (int i = 0; i < 100; ++i) decide();
  EXPECT_EQ(verdict::testing::Allocations() - before, 0);
  EXPECT_EQ(allowed, 101 * 4);
  EXPECT_EQ(sink.records, 101 * 4);
}

TEST(PolicyStoreTest, FailedReloadKeepsTheLastGoodSet) {
  PolicyStore missing("tests/testdata/service/no-such-dir");
  const ReloadOutcome outcome = missing.Reload();
  EXPECT_FALSE(outcome.ok);
  EXPECT_FALSE(outcome.errors.empty());
  EXPECT_EQ(missing.Current(), nullptr);
  EXPECT_FALSE(missing.Status().last_reload_ok);

  PolicyStore store(kFixtureDir);
  ASSERT_TRUE(store.Reload().ok);
  const policy::PolicySet* first = store.Current().get();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(store.Status().rule_count, 6);
  // A second reload of the same files publishes an equal revision.
  const ReloadOutcome again = store.Reload();
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.revision, first->revision());
  EXPECT_NE(store.Current().get(), nullptr);
}

// Readers on several threads decide while another thread keeps swapping
// between two policy sets: every reader sees one whole set or the other.
TEST(PolicyStoreTest, ConcurrentReadersSeeWholeSetsAcrossReloads) {
  const std::string dir =
      ::testing::TempDir() + "/verdict-store-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  auto write = [&](int rules) {
    std::ofstream out(dir + "/p.yaml", std::ios::trunc);
    out << "policy: p\nrules:\n";
    for (int i = 0; i < rules; ++i) {
      out << "  - id: r" << i << "\n    effect: allow\n    tools: [t" << i
          << "]\n";
    }
  };
  write(1);
  PolicyStore store(dir);
  ASSERT_TRUE(store.Reload().ok);
  const Decider decider(&store, DeciderOptions());

  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      v1::CheckRequest request;
      request.mutable_subject()->set_id("agent");
      request.mutable_tool()->set_name("t0");
      request.set_action("tools/call");
      while (!done.load()) {
        const std::shared_ptr<const policy::PolicySet>& set = store.Current();
        const size_t rules = set == nullptr ? 0 : set->rules().size();
        if (rules != 1 && rules != 2) bad.fetch_add(1);
        if (testing::Check(decider, request, kMayAssert).decision() !=
            v1::ALLOW) {
          bad.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    write(1 + i % 2);
    EXPECT_TRUE(store.Reload().ok);
  }
  done.store(true);
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(bad.load(), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace verdict::decision
