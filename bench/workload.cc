#include "bench/workload.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace verdict::bench {
namespace {

constexpr int kRulesPerPolicy = 10;
constexpr int kPoliciesPerServer = 4;  // one per team using the server
constexpr int kToolsPerServer = 24;

const char* const kVerbs[] = {"get",    "search", "list",
                              "update", "delete", "export"};
const char* const kNouns[] = {"contact", "deal", "ticket", "invoice"};
const char* const kEnvironments[] = {"dev", "staging", "prod"};

// Conditions over fields every generated request carries, so that decisions
// differ by value, not by missing data.
const char* const kConditions[] = {
    R"(context.environment in ["dev", "staging"])",
    "subject.attributes.clearance >= 2",
    R"("writer" in subject.roles && context.environment != "prod")",
    "tool.arguments.limit <= 1000",
    "context.hour >= 9 && context.hour < 18",
    R"(context.intent.startsWith("report") || subject.attributes.clearance > 2)",
};

std::string ToolName(int index) {
  const int verbs = sizeof(kVerbs) / sizeof(kVerbs[0]);
  return absl::StrCat(kVerbs[index % verbs], "_", kNouns[(index / verbs) % 4]);
}

std::string Role(int server, int team) {
  return absl::StrCat("team", team, "-s", server);
}

}  // namespace

model::Request WorkloadRequest::View() const {
  model::Request view;
  view.subject.id = subject;
  view.subject.roles = &roles;
  view.subject.attributes = &attributes;
  view.subject.auth = "asserted";
  view.tool.server = server;
  view.tool.name = tool;
  view.tool.arguments = &arguments;
  view.action = action;
  view.context = &context;
  return view;
}

Workload GenerateWorkload(const WorkloadSpec& spec, int request_count) {
  std::mt19937 rng(spec.seed);
  auto uniform = [&rng](int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng);
  };
  const int policies = std::max(1, spec.rules / kRulesPerPolicy);
  const int servers = std::max(1, policies / kPoliciesPerServer);

  Workload workload;
  for (int p = 0; p < policies; ++p) {
    const int server = p % servers;
    const int team = p / servers;
    absl::StrAppend(&workload.policy_yaml, "---\npolicy: s", server, "-team",
                    team, "\nroles: [", Role(server, team), "]\nrules:\n");
    for (int r = 0; r < kRulesPerPolicy; ++r) {
      const bool deny = uniform(10) < 3;
      absl::StrAppend(&workload.policy_yaml, "  - id: r", r,
                      "\n    effect: ", deny ? "deny" : "allow",
                      "\n    servers: [srv", server, "]\n");
      const std::string tool = ToolName(uniform(kToolsPerServer));
      if (uniform(10) < 3) {  // a verb prefix glob, e.g. get_*
        absl::StrAppend(&workload.policy_yaml, "    tools: [\"",
                        tool.substr(0, tool.find('_') + 1), "*\"]\n");
      } else {
        absl::StrAppend(&workload.policy_yaml, "    tools: [", tool, ", ",
                        ToolName(uniform(kToolsPerServer)), "]\n");
      }
      absl::StrAppend(&workload.policy_yaml,
                      uniform(2) ? "    actions: [tools/call]\n"
                                 : "    actions: [tools/call, tools/list]\n");
      absl::StrAppend(&workload.policy_yaml, "    when: '",
                      kConditions[uniform(std::size(kConditions))], "'\n");
      ++workload.rule_count;
    }
  }

  struct Target {
    int server, team, tool;
  };
  const int teams = std::max(1, policies / servers);
  auto random_target = [&] {
    return Target{uniform(servers), uniform(teams), uniform(kToolsPerServer)};
  };
  std::vector<Target> hot;
  for (int i = 0; i < spec.hot_targets; ++i) hot.push_back(random_target());

  workload.requests.resize(request_count);
  for (WorkloadRequest& request : workload.requests) {
    const auto [server, team, tool] =
        hot.empty() ? random_target() : hot[uniform(hot.size())];
    request.subject =
        absl::StrCat("spiffe://corp.example/agent/", uniform(1000));
    request.roles.Add(Role(server, team));
    if (uniform(2)) request.roles.Add("writer");
    (*request.attributes.mutable_fields())["clearance"].set_number_value(
        uniform(4));
    request.server = absl::StrCat("srv", server);
    request.tool = ToolName(tool);
    request.action = uniform(4) ? "tools/call" : "tools/list";
    (*request.arguments.mutable_fields())["limit"].set_number_value(
        uniform(2000));
    auto& context = *request.context.mutable_fields();
    context["environment"].set_string_value(kEnvironments[uniform(3)]);
    context["hour"].set_number_value(uniform(24));
    context["intent"].set_string_value(uniform(2) ? "report weekly"
                                                  : "cleanup");
  }
  return workload;
}

}  // namespace verdict::bench
