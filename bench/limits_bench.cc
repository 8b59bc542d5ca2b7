// The cost of a limit per decision: the Decider deciding the same allowed
// call (asserted subject, no decision log) under a rule without a limit,
// under one counted in process, and under one counted in a real
// redis-server this benchmark starts on a Unix socket (one EVALSHA round
// trip per decision). The limits are too large to run out, so every
// decision is a counted allow. Run: build-*/bench/limits_bench.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/decision/decider.h"
#include "server/decision/fixed_snapshot.h"
#include "server/decision/translation.h"
#include "server/limits/in_process_counter.h"
#include "server/limits/redis_counter.h"
#include "server/policy/compiler.h"
#include "server/redis/redis_client.h"
#include "tests/testing/redis_process.h"

namespace verdict {
namespace {

constexpr char kPolicy[] = R"yaml(
policy: bench
rules:
  - id: unlimited
    effect: allow
    servers: [crm]
    tools: [read]
  - id: limited
    effect: allow
    servers: [crm]
    tools: [export]
    limit: {calls: 1000000000, per: [subject.id, tool.name], window: 744h}
)yaml";

const decision::CallerInfo kCaller{
    .trusted = true, .id = "bench", .may_assert_identity = true};

const policy::PolicySet& Set() {
  static const policy::PolicySet* set = [] {
    std::vector<policy::Diagnostic> diagnostics;
    auto compiled = policy::CompileSources({{"p.yaml", kPolicy}}, &diagnostics);
    if (!compiled.ok()) {
      std::cerr << compiled.status() << "\n";
      std::abort();
    }
    return compiled->release();
  }();
  return *set;
}

v1::CheckRequest Request(const std::string& tool) {
  v1::CheckRequest request;
  request.mutable_subject()->set_id("agent-7");
  request.mutable_tool()->set_server("crm");
  request.mutable_tool()->set_name(tool);
  request.set_action("tools/call");
  return request;
}

void Decide(benchmark::State& state, const std::string& tool,
            limits::LimitCounter* counter) {
  const decision::FixedSnapshot snapshot(Set());
  const decision::Decider decider(&snapshot,
                                  decision::DeciderOptions{.limits = counter});
  const v1::CheckRequest request = Request(tool);
  for (auto _ : state) {
    bool allowed = false;
    decider.Check(request, kCaller, absl::Now(),
                  [&allowed](const decision::Outcome& outcome) {
                    allowed = outcome.allowed();
                  });
    if (!allowed) {
      state.SkipWithError("not allowed");
      return;
    }
  }
}

void BM_UnlimitedAllow(benchmark::State& state) {
  Decide(state, "read", nullptr);
}
BENCHMARK(BM_UnlimitedAllow);

void BM_InProcessLimitedAllow(benchmark::State& state) {
  limits::InProcessLimitCounter counter;
  Decide(state, "export", &counter);
}
BENCHMARK(BM_InProcessLimitedAllow);

void BM_RedisLimitedAllow(benchmark::State& state) {
  char dir_template[] = "/tmp/limits_bench.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    state.SkipWithError("no temporary directory");
    return;
  }
  {
    absl::StatusOr<std::unique_ptr<testing::RedisProcess>> redis =
        testing::RedisProcess::Start(dir_template);
    if (!redis.ok()) {
      state.SkipWithError(std::string(redis.status().message()).c_str());
      return;
    }
    redis::RedisClient client(
        redis::RedisOptions{.address = (*redis)->address()});
    limits::RedisLimitCounter counter(&client, "bench:");
    Decide(state, "export", &counter);
  }
  std::filesystem::remove_all(dir_template);
}
BENCHMARK(BM_RedisLimitedAllow);

}  // namespace
}  // namespace verdict

BENCHMARK_MAIN();
