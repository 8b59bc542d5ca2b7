// server/service Decider and PolicyStore without gRPC: the deny paths that an
// integration test cannot reach from loopback (untrusted callers, no policy
// set) and the store keeping its last good set.

#include "server/service/decider.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/policy_store.h"

namespace verdict::service {
namespace {

using ::testing::HasSubstr;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";

v1::CheckRequest ReaderRequest() {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("agent");
  request.mutable_subject()->add_roles("crm-reader");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name("get_contact");
  request.set_action("tools/call");
  (*request.mutable_context()->mutable_fields())["environment"]
      .set_string_value("dev");
  return request;
}

TEST(DeciderTest, UntrustedCallerIsDeniedBeforeAnythingElse) {
  PolicyStore store(kFixtureDir);
  ASSERT_TRUE(store.Reload().ok);
  const Decider decider(&store, DeciderOptions());
  v1::CheckResponse response;
  decider.Check(ReaderRequest(), CallerInfo{.trusted = false}, &response);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "caller_not_trusted");
  EXPECT_EQ(response.decision_id().size(), 32u);

  v1::CheckBatchRequest batch;
  batch.mutable_subject()->set_id("agent");
  batch.add_items()->set_action("tools/list");
  v1::CheckBatchResponse batch_response;
  ASSERT_TRUE(
      decider.CheckBatch(batch, CallerInfo{.trusted = false}, &batch_response)
          .ok());
  ASSERT_EQ(batch_response.results_size(), 1);
  EXPECT_EQ(batch_response.results(0).reasons(0).code(), "caller_not_trusted");
}

TEST(DeciderTest, NoPolicySetDeniesWithEvaluationError) {
  PolicyStore store(kFixtureDir);
  const Decider decider(&store, DeciderOptions());
  v1::CheckResponse response;
  decider.Check(ReaderRequest(),
                CallerInfo{.trusted = true, .may_assert_identity = true},
                &response);
  EXPECT_EQ(response.decision(), v1::DENY);
  ASSERT_EQ(response.reasons_size(), 1);
  EXPECT_EQ(response.reasons(0).code(), "evaluation_error");
}

TEST(DeciderTest, TrustedReaderIsAllowedWithCacheTtlFromOptions) {
  PolicyStore store(kFixtureDir);
  ASSERT_TRUE(store.Reload().ok);
  const Decider decider(&store, DeciderOptions{.cache_ttl = absl::Seconds(7)});
  v1::CheckResponse response;
  decider.Check(ReaderRequest(),
                CallerInfo{.trusted = true, .may_assert_identity = true},
                &response);
  EXPECT_EQ(response.decision(), v1::ALLOW);
  EXPECT_EQ(response.cache_ttl().seconds(), 7);
  EXPECT_EQ(response.policy_revision(), store.Status().revision);
}

// Records what it is shown, copying what the event only borrows.
class RecordingObserver : public DecisionObserver {
 public:
  struct Seen {
    std::string decision_id;
    bool had_result;
    std::string tool_name;
    bool nonnegative_latency;
  };
  bool OnDecision(const DecisionEvent& event) override {
    seen.push_back({event.response.decision_id(), event.result != nullptr,
                    std::string(event.tool_name),
                    event.latency >= absl::ZeroDuration()});
    return recorded;
  }
  std::vector<Seen> seen;
  bool recorded = true;
};

TEST(DeciderTest, ObserverSeesEveryDecisionOncePerBatchItem) {
  PolicyStore store(kFixtureDir);
  ASSERT_TRUE(store.Reload().ok);
  RecordingObserver observer;
  const Decider decider(&store, DeciderOptions{.observer = &observer});

  v1::CheckResponse allowed;
  decider.Check(ReaderRequest(),
                CallerInfo{.trusted = true, .may_assert_identity = true},
                &allowed);
  v1::CheckResponse untrusted;
  decider.Check(ReaderRequest(), CallerInfo{.trusted = false}, &untrusted);
  v1::CheckBatchRequest batch;
  batch.mutable_subject()->set_id("agent");
  for (const char* tool : {"a", "b"}) {
    v1::CheckBatchItem* item = batch.add_items();
    item->mutable_tool()->set_name(tool);
    item->set_action("tools/call");
  }
  v1::CheckBatchResponse batch_response;
  ASSERT_TRUE(
      decider
          .CheckBatch(batch,
                      CallerInfo{.trusted = true, .may_assert_identity = true},
                      &batch_response)
          .ok());

  ASSERT_EQ(observer.seen.size(), 4u);
  EXPECT_EQ(observer.seen[0].decision_id, allowed.decision_id());
  EXPECT_TRUE(observer.seen[0].had_result);
  EXPECT_EQ(observer.seen[0].tool_name, "get_contact");
  EXPECT_FALSE(observer.seen[1].had_result);  // decided before the engine
  EXPECT_EQ(observer.seen[2].tool_name, "a");
  EXPECT_EQ(observer.seen[3].tool_name, "b");
  EXPECT_EQ(observer.seen[3].decision_id,
            batch_response.results(1).decision_id());
  for (const RecordingObserver::Seen& seen : observer.seen) {
    EXPECT_TRUE(seen.nonnegative_latency);
  }
}

TEST(DeciderTest, UnrecordedDecisionDeniesOnlyWhenConfiguredTo) {
  PolicyStore store(kFixtureDir);
  ASSERT_TRUE(store.Reload().ok);
  RecordingObserver observer;
  observer.recorded = false;

  v1::CheckResponse lenient;
  Decider(&store, DeciderOptions{.observer = &observer})
      .Check(ReaderRequest(),
             CallerInfo{.trusted = true, .may_assert_identity = true},
             &lenient);
  EXPECT_EQ(lenient.decision(), v1::ALLOW);

  v1::CheckResponse strict;
  Decider(&store,
          DeciderOptions{.observer = &observer, .deny_unrecorded = true})
      .Check(ReaderRequest(),
             CallerInfo{.trusted = true, .may_assert_identity = true}, &strict);
  EXPECT_EQ(strict.decision(), v1::DENY);
  ASSERT_EQ(strict.reasons_size(), 1);
  EXPECT_EQ(strict.reasons(0).code(), "audit_unavailable");
  EXPECT_FALSE(strict.has_obligations());
  EXPECT_EQ(strict.cache_ttl().seconds(), 0);
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
        v1::CheckResponse response;
        decider.Check(request,
                      CallerInfo{.trusted = true, .may_assert_identity = true},
                      &response);
        if (response.decision() != v1::ALLOW) bad.fetch_add(1);
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
}  // namespace verdict::service
