// A tools/list of 100 tools of one server decided item by item as a listing
// (arguments and resource unknown, so most items are conditional) against
// the same 100 items decided as plain tools/call with their arguments, the
// cost per item of a CheckBatch today. Issue 12's target: the listing costs
// within 2x of the calls.
//
//   build/bench/listing_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true  (one command)

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "google/protobuf/util/json_util.h"
#include "server/engine/engine.h"
#include "server/policy/compiler.h"

namespace verdict::bench {
namespace {

constexpr int kTools = 100;
constexpr const char* kVerbs[] = {"read", "write", "query", "list", "admin"};

// Rules of a file server whose conditions read the call's arguments, as
// real argument limits do (policies/argument-limits.yaml); `admin_*` tools
// are hidden from listings and `list_*` ones allowed outright.
constexpr char kPolicy[] = R"yaml(
policy: fs-agents
roles: [fs-user]
rules:
  - id: read-in-workspace
    effect: allow
    servers: [fs]
    tools: ["read_*"]
    when: tool.arguments.path.startsWith("/workspace/")
  - id: write-small-files
    effect: allow
    servers: [fs]
    tools: ["write_*"]
    when: >-
      tool.arguments.path.startsWith("/workspace/") &&
      size(tool.arguments.content) < 65536 && context.environment != "prod"
  - id: bounded-queries
    effect: allow
    servers: [fs]
    tools: ["query_*"]
    when: tool.arguments.limit <= 1000 && context.environment in ["dev", "prod"]
  - id: listings
    effect: allow
    servers: [fs]
    tools: ["list_*"]
  - id: admin-with-ticket
    effect: allow
    servers: [fs]
    tools: ["admin_*"]
    when: has(context.ticket) && tool.arguments.confirm == true
  - id: no-traversal
    effect: deny
    servers: [fs]
    when: has(tool.arguments.path) && tool.arguments.path.contains("..")
  - id: no-secrets
    effect: deny
    servers: [fs]
    tools: ["read_*", "write_*"]
    when: tool.arguments.path.startsWith("/workspace/.secrets")
  - id: hide-admin
    effect: deny
    actions: [tools/list]
    servers: [fs]
    tools: ["admin_*"]
    when: '!("fs-admin" in subject.roles)'
)yaml";

google::protobuf::Struct JsonStruct(const std::string& json) {
  google::protobuf::Struct out;
  if (!google::protobuf::util::JsonStringToMessage(json, &out).ok()) abort();
  return out;
}

struct Fixture {
  std::unique_ptr<const policy::PolicySet> set;
  google::protobuf::RepeatedPtrField<std::string> roles;
  google::protobuf::Struct context =
      JsonStruct(R"({"environment": "prod", "ticket": "OPS-1"})");
  google::protobuf::Struct arguments = JsonStruct(
      R"({"path": "/workspace/src/main.cc", "content": "x", "limit": 100,
          "confirm": true})");
  std::vector<std::string> tools;
  std::vector<model::Request> calls;
  std::vector<model::Request> listing;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    std::vector<policy::Diagnostic> diagnostics;
    auto set = policy::CompileSources({{"fs.yaml", kPolicy}}, &diagnostics);
    if (!set.ok()) {
      for (const auto& d : diagnostics) {
        fprintf(stderr, "%s\n", d.ToString().c_str());
      }
      abort();
    }
    f->set = std::move(*set);
    f->roles.Add("fs-user");
    for (int i = 0; i < kTools; ++i) {
      f->tools.push_back(absl::StrCat(kVerbs[i % 5], "_", i));
    }
    for (const std::string& tool : f->tools) {
      model::Request call;
      call.subject.id = "spiffe://corp.example/agent/fs/1";
      call.subject.roles = &f->roles;
      call.subject.auth = "asserted";
      call.tool.server = "fs";
      call.tool.name = tool;
      call.tool.arguments = &f->arguments;
      call.action = "tools/call";
      call.context = &f->context;
      f->calls.push_back(call);
      // As the decider builds a listed item (decider.cc).
      model::Request item = call;
      item.tool.arguments = nullptr;
      item.listing = "tools/list";
      item.arguments_unknown = true;
      item.resource_unknown = true;
      f->listing.push_back(item);
    }
    return f;
  }();
  return *fixture;
}

// Decides every request of `items` per iteration; time per item.
void DecideAll(benchmark::State& state,
               const std::vector<model::Request>& items) {
  const Fixture& fixture = GetFixture();
  model::EvalScratch scratch;
  engine::Result result;
  int counts[model::kDecisionCount] = {};
  for (auto _ : state) {
    for (const model::Request& item : items) {
      engine::Evaluate(*fixture.set, item, engine::EvalOptions{}, &scratch,
                       &result);
      ++counts[static_cast<int>(result.decision)];
    }
  }
  const double decided =
      static_cast<double>(state.iterations()) * static_cast<double>(kTools);
  state.counters["allow"] =
      counts[static_cast<int>(model::Decision::kAllow)] / decided;
  state.counters["conditional"] =
      counts[static_cast<int>(model::Decision::kConditional)] / decided;
  state.SetItemsProcessed(state.iterations() * kTools);
}

// The 100 items as plain calls with their arguments.
void BM_Calls100(benchmark::State& state) {
  DecideAll(state, GetFixture().calls);
}
BENCHMARK(BM_Calls100);

// The same 100 items as one tools/list.
void BM_Listing100(benchmark::State& state) {
  DecideAll(state, GetFixture().listing);
}
BENCHMARK(BM_Listing100);

}  // namespace
}  // namespace verdict::bench

BENCHMARK_MAIN();
