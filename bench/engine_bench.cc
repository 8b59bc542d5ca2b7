// Engine decisions per policy-set size: the index must keep the cost per
// decision flat from 100 to 100,000 rules (spec section 12: median under
// 1 us at 1,000 rules, within 20% across the range).
//
//   build/bench/engine_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true  (one command)

#include <memory>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/workload.h"
#include "benchmark/benchmark.h"
#include "server/engine/engine.h"
#include "server/policy/compiler.h"

namespace verdict::bench {
namespace {

constexpr int kRequests = 4096;
// Few enough requests that their data stays in cache, as a freshly parsed
// request does in the server.
constexpr int kCachedRequests = 256;

struct Fixture {
  Workload workload;
  std::unique_ptr<const policy::PolicySet> set;
  std::vector<model::Request> views;
};

// Requests address this many (server, tool, team) targets in BM_Decide.
constexpr int kHotTargets = 256;

// Compiling 100,000 rules takes a while: once per size and request spread,
// for every repetition.
const Fixture& FixtureFor(int rules, int hot_targets,
                          int requests = kRequests) {
  static auto* fixtures = new absl::flat_hash_map<std::tuple<int, int, int>,
                                                  std::unique_ptr<Fixture>>;
  std::unique_ptr<Fixture>& fixture =
      (*fixtures)[{rules, hot_targets, requests}];
  if (fixture == nullptr) {
    fixture = std::make_unique<Fixture>();
    fixture->workload = GenerateWorkload(
        {.rules = rules, .seed = 7, .hot_targets = hot_targets}, requests);
    std::vector<policy::Diagnostic> diagnostics;
    auto set = policy::CompileSources(
        {{"generated.yaml", fixture->workload.policy_yaml}}, &diagnostics);
    if (!set.ok()) {
      for (const auto& d : diagnostics)
        fprintf(stderr, "%s\n", d.ToString().c_str());
      abort();
    }
    fixture->set = std::move(*set);
    for (const WorkloadRequest& request : fixture->workload.requests) {
      fixture->views.push_back(request.View());
    }
  }
  return *fixture;
}

void Decide(benchmark::State& state, int hot_targets,
            int requests = kRequests) {
  const Fixture& fixture =
      FixtureFor(static_cast<int>(state.range(0)), hot_targets, requests);
  model::EvalScratch scratch;
  engine::Result result;
  size_t next = 0, allows = 0;
  for (auto _ : state) {
    engine::Evaluate(*fixture.set, fixture.views[next], engine::EvalOptions{},
                     &scratch, &result);
    allows += result.decision == model::Decision::kAllow;
    next = (next + 1) % fixture.views.size();
  }
  state.counters["rules"] = fixture.set->rules().size();
  state.counters["allow_share"] =
      static_cast<double>(allows) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}

// The index's cost: a steady working set of targets at every set size.
void BM_Decide(benchmark::State& state) { Decide(state, kHotTargets); }
BENCHMARK(BM_Decide)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000);

// The rules' cost alone: the hot mix with request data that stays cached.
void BM_DecideCached(benchmark::State& state) {
  Decide(state, kHotTargets, kCachedRequests);
}
BENCHMARK(BM_DecideCached)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000);

// Requests spread over the whole deployment: adds the memory latency of
// rules that no recent request touched.
void BM_DecideSpread(benchmark::State& state) { Decide(state, 0); }
BENCHMARK(BM_DecideSpread)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000);

// The index alone: PolicySet::Candidates for the hot request mix.
void BM_Candidates(benchmark::State& state) {
  const Fixture& fixture =
      FixtureFor(static_cast<int>(state.range(0)), kHotTargets);
  policy::CandidateList candidates;
  size_t next = 0, found = 0;
  for (auto _ : state) {
    const model::Request& request = fixture.views[next];
    fixture.set->Candidates(request.action, request.tool.server,
                            request.tool.name, &candidates);
    found += candidates.size();
    next = (next + 1) % fixture.views.size();
  }
  state.counters["candidates"] =
      static_cast<double>(found) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Candidates)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000);

void BM_Compile(benchmark::State& state) {
  const Workload workload = GenerateWorkload(
      {.rules = static_cast<int>(state.range(0)), .seed = 7}, 0);
  for (auto _ : state) {
    std::vector<policy::Diagnostic> diagnostics;
    auto set = policy::CompileSources(
        {{"generated.yaml", workload.policy_yaml}}, &diagnostics);
    benchmark::DoNotOptimize(set);
  }
}
BENCHMARK(BM_Compile)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace verdict::bench

BENCHMARK_MAIN();
