// Fuzz target: the input is one YAML policy file, compiled with
// CompileSources as the server compiles a policy directory.
//
// Beyond "does not crash", it checks what the compiler promises: a failed
// compile reports at least one diagnostic, each with a code; in a compiled
// set, the index returns every rule whose target matches (probed with one
// concrete (action, server, tool) per rule, made from the rule's own globs);
// and evaluating the fixed requests, with and without explain, decides alike,
// also as listed items (tools/list), whose answers are consistent: a
// conditional one names its paths and starts with a conditional reason, an
// insufficient_scope names the scopes, and no other answer carries either.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fixed_requests.h"
#include "fuzz/fuzz_target.h"
#include "server/engine/engine.h"
#include "server/policy/compiler.h"

namespace verdict::fuzz {
namespace {

// Rules probed per input: each probe walks every rule.
constexpr size_t kMaxProbedRules = 32;

// A name the first of `globs` matches (`*` taken as empty, `?` as 'x'), or
// `fallback` when there are no globs, which matches any name.
std::string SampleName(const std::vector<policy::Glob>& globs,
                       std::string_view fallback) {
  if (globs.empty()) return std::string(fallback);
  std::string name;
  for (const char c : globs.front().pattern()) {
    if (c != '*') name.push_back(c == '?' ? 'x' : c);
  }
  return name;
}

void CheckCandidates(const policy::PolicySet& set, std::string_view action,
                     std::string_view server, std::string_view tool) {
  policy::CandidateList candidates;
  set.Candidates(action, server, tool, &candidates);
  Require(std::is_sorted(candidates.begin(), candidates.end()) &&
              std::adjacent_find(candidates.begin(), candidates.end()) ==
                  candidates.end(),
          "candidates are ascending without duplicates");
  for (const policy::Rule& rule : set.rules()) {
    if (!rule.MatchesTarget(action, server, tool)) continue;
    Require(
        std::binary_search(candidates.begin(), candidates.end(), rule.index),
        "every rule whose target matches is a candidate");
  }
}

void DecideOnce(const policy::PolicySet& set, const model::Request& request) {
  model::EvalScratch scratch;
  engine::Result plain;
  engine::Evaluate(set, request, {}, &scratch, &plain);
  engine::Result explained;
  engine::Evaluate(set, request, {.explain = true}, &scratch, &explained);
  Require(plain.decision == explained.decision,
          "explain does not change the decision");
  Require(!plain.reasons.empty(), "every decision gives a reason");
  const bool conditional = plain.decision == model::Decision::kConditional;
  Require(conditional == !plain.depends_on.empty(),
          "exactly the conditional answers depend on paths");
  Require(!conditional ||
              plain.reasons.front().code == model::ReasonCode::kConditional,
          "a conditional answer's first reason is conditional");
  Require(!conditional || plain.obligations_from.empty(),
          "a conditional answer has no obligations");
  Require(
      (plain.reasons.front().code == model::ReasonCode::kInsufficientScope) ==
          !plain.required_scopes.empty(),
      "exactly insufficient_scope names required scopes");
  Require(request.listing.empty() || plain.required_scopes.empty(),
          "a listing never refuses for scopes");
}

// Decides `request` as a call and, for a tools/call, as a listed item.
void Decide(const policy::PolicySet& set, const model::Request& request) {
  DecideOnce(set, request);
  if (request.action != "tools/call") return;
  model::Request listed = request;
  listed.listing = "tools/list";
  listed.arguments_unknown = true;
  listed.resource_unknown = true;
  DecideOnce(set, listed);
  listed.resource = {};
  DecideOnce(set, listed);
}

void FuzzOneInput(std::string_view input) {
  std::vector<policy::Diagnostic> diagnostics;
  auto set =
      policy::CompileSources({{"fuzz.yaml", std::string(input)}}, &diagnostics);
  if (!set.ok()) {
    Require(!diagnostics.empty(), "a failed compile has diagnostics");
    for (const policy::Diagnostic& diagnostic : diagnostics) {
      Require(!diagnostic.code.empty(), "every diagnostic has a code");
      Require(!diagnostic.ToString().empty(), "diagnostics print");
    }
    return;
  }
  const policy::PolicySet& compiled = **set;
  for (const model::Request& request : FixedRequests().requests) {
    Decide(compiled, request);
  }
  const size_t probed = std::min(compiled.rules().size(), kMaxProbedRules);
  for (size_t i = 0; i < probed; ++i) {
    const policy::Rule& rule = compiled.rules()[i];
    model::Request request = FixedRequests().requests[0];
    const std::string action = SampleName(rule.actions, request.action);
    const std::string server = SampleName(rule.servers, request.tool.server);
    const std::string tool = SampleName(rule.tools, request.tool.name);
    Require(rule.MatchesTarget(action, server, tool),
            "a rule matches names made from its own globs");
    CheckCandidates(compiled, action, server, tool);
    request.action = action;
    request.tool.server = server;
    request.tool.name = tool;
    Decide(compiled, request);
  }
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
