// The operational costs of spec sections 6 and 7:
//   BM_CompileAndSwap: a reload of 10,000 rules, from files on disk to the
//     set serving (target under 1 s);
//   BM_Decide/observed:0|1: one decision through the Decider (request
//     translation, engine, response), without and with metrics and the
//     decision log; the ratio of the two is the price of observability;
//   BM_RecordDecision: the decision log's share of the request thread alone:
//     formatting one record (with the context digest) and copying it into
//     the journal, while the writer thread drains it to a file.
//
//   build/bench/ops_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true  (one command)

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/workload.h"
#include "benchmark/benchmark.h"
#include "server/audit/decision_log.h"
#include "server/audit/decision_record.h"
#include "server/decision/decider.h"
#include "server/decision/decision_recorder.h"
#include "server/decision/policy_store.h"
#include "server/decision/translation.h"
#include "server/metrics/metrics.h"

namespace verdict::bench {
namespace {

namespace fs = std::filesystem;

fs::path WritePolicyDir(const Workload& workload, const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() /
      ("verdict_ops_bench_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "generated.yaml") << workload.policy_yaml;
  return dir;
}

void BM_CompileAndSwap(benchmark::State& state) {
  const Workload workload =
      GenerateWorkload({.rules = static_cast<int>(state.range(0))}, 0);
  const fs::path dir = WritePolicyDir(workload, "reload");
  metrics::Metrics metrics;
  decision::PolicyStore store(dir.string(), &metrics);
  for (auto _ : state) {
    const decision::ReloadOutcome outcome = store.Reload();
    if (!outcome.ok)
      state.SkipWithError("the generated policies do not compile");
  }
  state.counters["rules"] = workload.rule_count;
  fs::remove_all(dir);
}
BENCHMARK(BM_CompileAndSwap)->Arg(10000)->Unit(benchmark::kMillisecond);

v1::CheckRequest ToCheckRequest(const WorkloadRequest& request) {
  v1::CheckRequest out;
  out.mutable_subject()->set_id(request.subject);
  *out.mutable_subject()->mutable_roles() = request.roles;
  *out.mutable_subject()->mutable_attributes() = request.attributes;
  out.mutable_tool()->set_server(request.server);
  out.mutable_tool()->set_name(request.tool);
  *out.mutable_tool()->mutable_arguments() = request.arguments;
  out.set_action(request.action);
  *out.mutable_context() = request.context;
  return out;
}

void BM_Decide(benchmark::State& state) {
  const bool observed = state.range(0) != 0;
  const Workload workload =
      GenerateWorkload({.rules = 1000, .hot_targets = 256}, 4096);
  const fs::path dir = WritePolicyDir(workload, observed ? "on" : "off");
  metrics::Metrics metrics;
  decision::PolicyStore store(dir.string(), observed ? &metrics : nullptr);
  if (!store.Reload().ok) {
    state.SkipWithError("the generated policies do not compile");
    return;
  }
  std::unique_ptr<audit::DecisionLog> log;
  std::unique_ptr<decision::DecisionRecorder> recorder;
  if (observed) {
    log = std::make_unique<audit::DecisionLog>(
        audit::DecisionLogOptions{.path = (dir / "decisions.jsonl").string()},
        &metrics);
    recorder =
        std::make_unique<decision::DecisionRecorder>(&metrics, log.get());
  }
  const decision::Decider decider(
      &store, decision::DeciderOptions{.observer = recorder.get()});
  std::vector<v1::CheckRequest> requests;
  for (const WorkloadRequest& request : workload.requests) {
    requests.push_back(ToCheckRequest(request));
  }
  // The workload asserts its subjects, as a trusted MCP server would.
  const decision::CallerInfo caller{
      .trusted = true, .id = "ipv4:127.0.0.1:1", .may_assert_identity = true};
  size_t next = 0;
  for (auto _ : state) {
    v1::CheckResponse response;
    decider.Check(requests[next], caller, absl::Now(),
                  [&response](const decision::Outcome& outcome) {
                    decision::TranslateOutcome(outcome, /*with_identity=*/true,
                                               &response);
                  });
    benchmark::DoNotOptimize(response);
    next = (next + 1) % requests.size();
  }
  if (log != nullptr) {
    log->Flush();
    state.counters["dropped"] = static_cast<double>(log->dropped());
  }
  state.SetItemsProcessed(state.iterations());
  fs::remove_all(dir);
}
BENCHMARK(BM_Decide)->ArgName("observed")->Arg(0)->Arg(1);

void BM_RecordDecision(benchmark::State& state) {
  const Workload workload =
      GenerateWorkload({.rules = 100, .hot_targets = 16}, 256);
  const fs::path dir = WritePolicyDir(workload, "record");
  audit::DecisionLog log({.path = (dir / "decisions.jsonl").string()}, nullptr);
  std::vector<v1::CheckRequest> requests;
  for (const WorkloadRequest& request : workload.requests) {
    requests.push_back(ToCheckRequest(request));
  }
  policy::Rule rule;
  rule.policy = "crm-agents";
  rule.id = "read-contacts";
  const engine::Reason reasons[] = {
      {.code = model::ReasonCode::kAllowedByRule, .rule = &rule}};
  std::string record;
  size_t next = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const v1::CheckRequest& request = requests[next];
    record.clear();
    audit::AppendDecisionRecord(
        {
            .time = absl::Now(),
            .decision_id = "5f0c1e2d3c4b5a697887766554433221",
            .caller = "ipv4:127.0.0.1:40312",
            .subject_id = request.subject().id(),
            .auth_method = "asserted",
            .tool_server = request.tool().server(),
            .tool_name = request.tool().name(),
            .action = request.action(),
            .context = &request.context(),
            .decision = model::Decision::kAllow,
            .reasons = reasons,
            .policy_revision = "3be1f0a2c4d5e6f7",
            .latency = absl::Microseconds(4),
            .request_id = "req-7f3a",
        },
        &record);
    bytes += static_cast<int64_t>(record.size()) + 1;
    benchmark::DoNotOptimize(log.Submit(record));
    next = (next + 1) % requests.size();
  }
  log.Flush();
  state.counters["dropped"] = static_cast<double>(log.dropped());
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
  fs::remove_all(dir);
}
BENCHMARK(BM_RecordDecision);

}  // namespace
}  // namespace verdict::bench

BENCHMARK_MAIN();
