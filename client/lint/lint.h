// Least-privilege findings on a compiled PolicySet (`verdict lint`).
//
// Findings are computed from the rules the server would run, with their
// source positions. Every check is conservative in the direction of silence:
// a finding means the problem is certain from the rule text alone (for
// targets, roles and subjects) or from a condition that folds to a
// constant. The kinds, precisely (also in docs/testing.md):
//
//  allow_all_tools    an allow rule that can apply to tools/call (no
//                     `actions`, or one matching tools/call) with no `tools`
//                     or a `*` tool pattern.
//  allow_all_servers  an allow rule with no `servers` or a `*` server
//                     pattern.
//  allow_without_environment
//                     an allow rule that can apply to tools/call whose
//                     condition is absent or never reads
//                     context.environment or grant.environment: nothing
//                     keeps it out of prod.
//  shadowed           an allow rule every request of which also matches a
//                     deny rule with no condition (or a constant true one)
//                     and no subject, role or resource filter: deny
//                     overrides, so the allow can never decide.
//  never_matches      a rule whose condition is constant false; a rule
//                     whose policy and rule `subjects` are literal and
//                     disjoint; or an action pattern that matches no known
//                     MCP method and no other rule's action.
//  deny_never_reached a deny rule that no allow rule can overlap (targets,
//                     subjects and resources; an allow for a call overlaps
//                     a deny for the listing of that call): without it the
//                     answer would be the default deny anyway.
//  callable_but_hidden
//                     a deny rule with no condition and no resource filter
//                     whose `actions` match a listing method (tools/list,
//                     ...) but not the call it lists, for servers, tools
//                     and subjects an allow rule surely shares while
//                     letting that call through: a call may use the tool,
//                     no listing shows it.
//  listing_only_allow an allow rule whose `actions` match a listing method
//                     but not the call it lists: a listed item is decided
//                     as its call, so this shows nothing by itself. When no
//                     allow rule for the call can overlap it, its tools are
//                     shown by no listing and callable by no call.
//
// Pure function of the set; thread-safe.

#ifndef VERDICT_CLIENT_LINT_LINT_H_
#define VERDICT_CLIENT_LINT_LINT_H_

#include <string>
#include <vector>

#include "server/policy/policy_set.h"

namespace verdict::lint {

struct Finding {
  std::string file;  // as in the PolicySet (relative to the policy dir)
  int line = 0;
  int column = 0;
  std::string kind;  // one of the kinds above
  std::string message;

  // "file:line:col: warning[kind]: message"
  std::string ToString() const;
};

// Every finding in `set`, sorted by file, position and kind.
std::vector<Finding> Lint(const policy::PolicySet& set);

}  // namespace verdict::lint

#endif  // VERDICT_CLIENT_LINT_LINT_H_
