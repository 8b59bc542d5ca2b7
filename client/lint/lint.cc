#include "client/lint/lint.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/model/mcp_method.h"
#include "server/model/value.h"
#include "server/policy/glob.h"
#include "server/policy/program.h"

namespace verdict::lint {
namespace {

using policy::Effect;
using policy::Field;
using policy::Glob;
using policy::Op;
using policy::Program;
using policy::Rule;

constexpr std::string_view kToolsCall = "tools/call";

// MCP methods (2025-06-18 schema) a request's action may name.
constexpr std::array<std::string_view, 18> kMcpMethods = {
    "tools/call",
    "tools/list",
    "resources/read",
    "resources/list",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/get",
    "prompts/list",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "initialize",
    "ping",
    "notifications/initialized",
    "notifications/cancelled",
};

// The listing methods: each lists a call (model::ListedCall), and a listed
// item is decided as that call, so what a listing shows follows the rules
// for its call.
constexpr std::array<std::string_view, 4> kListings = {
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
};

absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

bool MatchesAll(const std::vector<Glob>& list) {
  if (list.empty()) return true;
  return std::any_of(list.begin(), list.end(),
                     [](const Glob& g) { return g.matches_all(); });
}

bool CanMatch(const std::vector<Glob>& list, std::string_view name) {
  if (list.empty()) return true;
  return std::any_of(list.begin(), list.end(),
                     [&](const Glob& g) { return g.Matches(name); });
}

// True when every name `inner` matches, `outer` matches too. Matching the
// inner pattern's text with the outer glob is exact when the inner pattern is
// literal, and sound for an outer glob without `?` (only an outer `*` can
// absorb an inner `*`); otherwise we do not claim coverage.
bool GlobCovers(const Glob& outer, const Glob& inner) {
  if (outer.matches_all()) return true;
  const bool outer_has_one = absl::StrContains(outer.pattern(), '?');
  if (!inner.is_literal() && outer_has_one) {
    return outer.pattern() == inner.pattern();
  }
  return outer.Matches(inner.pattern());
}

bool ListCovers(const std::vector<Glob>& outer,
                const std::vector<Glob>& inner) {
  if (MatchesAll(outer)) return true;
  if (inner.empty()) return false;
  return std::all_of(inner.begin(), inner.end(), [&](const Glob& in) {
    return std::any_of(outer.begin(), outer.end(),
                       [&](const Glob& out) { return GlobCovers(out, in); });
  });
}

// The literal text after the last wildcard.
std::string_view LiteralSuffix(const Glob& g) {
  const std::string& p = g.pattern();
  const size_t last = p.find_last_of("*?");
  return last == std::string::npos ? std::string_view(p)
                                   : std::string_view(p).substr(last + 1);
}

// False only when no name can match both; errs towards true.
bool GlobsOverlap(const Glob& a, const Glob& b) {
  if (a.matches_all() || b.matches_all()) return true;
  if (a.is_literal()) return b.Matches(a.pattern());
  if (b.is_literal()) return a.Matches(b.pattern());
  const std::string_view pa = a.literal_prefix(), pb = b.literal_prefix();
  const std::string_view sa = LiteralSuffix(a), sb = LiteralSuffix(b);
  const bool prefixes = absl::StartsWith(AbslView(pa), AbslView(pb)) ||
                        absl::StartsWith(AbslView(pb), AbslView(pa));
  const bool suffixes = absl::EndsWith(AbslView(sa), AbslView(sb)) ||
                        absl::EndsWith(AbslView(sb), AbslView(sa));
  return prefixes && suffixes;
}

bool ListsOverlap(const std::vector<Glob>& a, const std::vector<Glob>& b) {
  if (a.empty() || b.empty()) return true;
  for (const Glob& x : a) {
    for (const Glob& y : b) {
      if (GlobsOverlap(x, y)) return true;
    }
  }
  return false;
}

// True when some name certainly matches both lists: an empty list matches
// every name, and when one glob covers another, whatever the inner one
// matches the outer does too. Errs towards false.
bool ListsSurelyOverlap(const std::vector<Glob>& a,
                        const std::vector<Glob>& b) {
  if (a.empty() || b.empty()) return true;
  for (const Glob& x : a) {
    for (const Glob& y : b) {
      if (GlobCovers(x, y) || GlobCovers(y, x)) return true;
    }
  }
  return false;
}

// Could one request's action match both a deny and an allow? A listed item
// is decided as its call, so an allow for the call meets a deny for the
// listing.
bool ActionsOverlap(const Rule& deny, const Rule& allow) {
  if (ListsOverlap(deny.actions, allow.actions)) return true;
  return std::any_of(
      kListings.begin(), kListings.end(), [&](std::string_view listing) {
        return CanMatch(deny.actions, listing) &&
               CanMatch(allow.actions, model::ListedCall(listing));
      });
}

bool TargetsOverlap(const Rule& deny, const Rule& allow) {
  return ActionsOverlap(deny, allow) &&
         ListsOverlap(deny.servers, allow.servers) &&
         ListsOverlap(deny.tools, allow.tools);
}

// Could one subject pass both rules' subject filters? Roles never exclude:
// a subject may hold any set of roles.
bool SubjectsOverlap(const Rule& a, const Rule& b) {
  const std::vector<Glob>* lists_a[] = {&a.policy_subjects, &a.subjects};
  const std::vector<Glob>* lists_b[] = {&b.policy_subjects, &b.subjects};
  for (const auto* x : lists_a) {
    for (const auto* y : lists_b) {
      if (!ListsOverlap(*x, *y)) return false;
    }
  }
  return true;
}

// True when some subject id certainly passes both rules' subject filters:
// a pattern of one of them, read as an id, that every filter matches (a
// glob matches its own text). Roles never exclude. Errs towards false.
bool SomeSubjectPassesBoth(const Rule& a, const Rule& b) {
  std::vector<const std::vector<Glob>*> filters;
  for (const std::vector<Glob>* list :
       {&a.policy_subjects, &a.subjects, &b.policy_subjects, &b.subjects}) {
    if (!list->empty()) filters.push_back(list);
  }
  if (filters.empty()) return true;
  for (const std::vector<Glob>* list : filters) {
    for (const Glob& witness : *list) {
      if (std::all_of(filters.begin(), filters.end(),
                      [&](const std::vector<Glob>* filter) {
                        return CanMatch(*filter, witness.pattern());
                      })) {
        return true;
      }
    }
  }
  return false;
}

bool AlwaysTrue(const Rule& rule) {
  return !rule.condition.has_value() ||
         rule.condition->constant_value() == std::optional<bool>(true);
}

bool NeverTrue(const Rule& rule) {
  return rule.condition.has_value() &&
         rule.condition->constant_value() == std::optional<bool>(false);
}

bool Unfiltered(const Rule& rule) {
  return rule.policy_subjects.empty() && rule.subjects.empty() &&
         rule.policy_roles.empty() && rule.roles.empty() &&
         rule.resources.empty();
}

bool IsLoad(const Program& program, uint32_t node, Field field) {
  if (node >= program.node_count()) return false;
  const policy::Node& n = program.node(node);
  return n.op == Op::kLoad && n.a == static_cast<uint32_t>(field);
}

// True when the condition reads the request's environment: context.environment
// (by field, index or has()) or grant.environment.
bool ReadsEnvironment(const Program& program) {
  for (uint32_t i = 0; i < program.node_count(); ++i) {
    const policy::Node& n = program.node(i);
    switch (n.op) {
      case Op::kLoad:
        if (n.a == static_cast<uint32_t>(Field::kGrantEnvironment)) {
          return true;
        }
        break;
      case Op::kSelect:
      case Op::kHas:
        if (IsLoad(program, n.a, Field::kContext) &&
            program.string(n.b) == "environment") {
          return true;
        }
        break;
      case Op::kIndex:
        if (IsLoad(program, n.a, Field::kContext) &&
            n.b < program.node_count() && program.node(n.b).op == Op::kConst) {
          const model::Value& key = program.constant(program.node(n.b).a);
          if (key.kind() == model::Kind::kString &&
              key.string_value() == "environment") {
            return true;
          }
        }
        break;
      default:
        break;
    }
  }
  return false;
}

std::string Name(const Rule& rule) {
  return absl::StrCat(rule.policy, "/", rule.id);
}

std::string Where(const Rule& rule) {
  return absl::StrCat(AbslView(rule.position.file), ":", rule.position.line);
}

// "a, b, c".
std::string Join(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view name : names) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", AbslView(name));
  }
  return out;
}

// The calls `listings` list, in order, each once (resources/list and
// resources/templates/list both list resources/read).
std::vector<std::string_view> CallsOf(
    const std::vector<std::string_view>& listings) {
  std::vector<std::string_view> calls;
  for (std::string_view listing : listings) {
    const std::string_view call = model::ListedCall(listing);
    if (std::find(calls.begin(), calls.end(), call) == calls.end()) {
      calls.push_back(call);
    }
  }
  return calls;
}

class Linter {
 public:
  explicit Linter(const policy::PolicySet& set) : rules_(set.rules()) {}

  std::vector<Finding> Run() {
    for (const Rule& rule : rules_) {
      if (rule.effect == Effect::kAllow) {
        CheckBroadAllow(rule);
        CheckShadowed(rule);
        CheckListingOnlyAllow(rule);
      } else {
        CheckDenyReached(rule);
        CheckCallableButHidden(rule);
      }
      CheckNeverMatches(rule);
    }
    std::sort(findings_.begin(), findings_.end(),
              [](const Finding& a, const Finding& b) {
                return std::tie(a.file, a.line, a.column, a.kind) <
                       std::tie(b.file, b.line, b.column, b.kind);
              });
    return std::move(findings_);
  }

 private:
  void Add(const Rule& rule, std::string_view kind, std::string message) {
    Finding f;
    f.file = std::string(rule.position.file);
    f.line = rule.position.line;
    f.column = rule.position.column;
    f.kind = std::string(kind);
    f.message = std::move(message);
    findings_.push_back(std::move(f));
  }

  void CheckBroadAllow(const Rule& rule) {
    const bool calls_tools = CanMatch(rule.actions, kToolsCall);
    if (calls_tools && MatchesAll(rule.tools)) {
      Add(rule, "allow_all_tools",
          absl::StrCat("allow rule ", Name(rule),
                       " lets tools/call reach every tool; list the tools "
                       "it needs"));
    }
    if (MatchesAll(rule.servers)) {
      Add(rule, "allow_all_servers",
          absl::StrCat("allow rule ", Name(rule),
                       " applies to every MCP server; list the servers it "
                       "needs"));
    }
    if (calls_tools &&
        (!rule.condition.has_value() || !ReadsEnvironment(*rule.condition))) {
      Add(rule, "allow_without_environment",
          absl::StrCat("allow rule ", Name(rule),
                       rule.condition.has_value()
                           ? "'s condition never reads context.environment"
                           : " has no condition",
                       ", so it also allows tools/call in prod; say which "
                       "environments it is for"));
    }
  }

  void CheckShadowed(const Rule& allow) {
    for (const Rule& deny : rules_) {
      if (deny.effect != Effect::kDeny || !AlwaysTrue(deny) ||
          !Unfiltered(deny)) {
        continue;
      }
      if (ListCovers(deny.actions, allow.actions) &&
          ListCovers(deny.servers, allow.servers) &&
          ListCovers(deny.tools, allow.tools)) {
        Add(allow, "shadowed",
            absl::StrCat("allow rule ", Name(allow),
                         " can never decide: every request it matches is "
                         "denied by ",
                         Name(deny), " (", Where(deny),
                         "), which has no condition"));
        return;
      }
    }
  }

  void CheckDenyReached(const Rule& deny) {
    for (const Rule& allow : rules_) {
      if (allow.effect != Effect::kAllow || NeverTrue(allow)) continue;
      if (TargetsOverlap(deny, allow) && SubjectsOverlap(deny, allow) &&
          ListsOverlap(deny.resources, allow.resources)) {
        return;
      }
    }
    Add(deny, "deny_never_reached",
        absl::StrCat("deny rule ", Name(deny),
                     " never changes a decision: no allow rule overlaps its "
                     "targets, subjects and resources, so the default deny "
                     "already applies"));
  }

  // A deny whose actions name a listing but not the call it lists, for
  // tools an allow rule lets that call use: the call goes through, but no
  // listing shows the tool. Certain only for a deny that always applies to
  // a listed item: no condition and no resource filter (a listed tool names
  // no resource); the allow must surely share a server, a tool and a
  // subject with it, and not be shadowed for the call.
  void CheckCallableButHidden(const Rule& deny) {
    if (deny.actions.empty() || !AlwaysTrue(deny) || !deny.resources.empty()) {
      return;
    }
    for (std::string_view listing : kListings) {
      const std::string_view call = model::ListedCall(listing);
      if (!CanMatch(deny.actions, listing) || CanMatch(deny.actions, call)) {
        continue;
      }
      for (const Rule& allow : rules_) {
        if (allow.effect != Effect::kAllow || NeverTrue(allow) ||
            !CanMatch(allow.actions, call) ||
            !ListsSurelyOverlap(deny.servers, allow.servers) ||
            !ListsSurelyOverlap(deny.tools, allow.tools) ||
            !SomeSubjectPassesBoth(deny, allow) ||
            CallAlwaysDenied(allow, call)) {
          continue;
        }
        Add(deny, "callable_but_hidden",
            absl::StrCat("deny rule ", Name(deny), " hides from ",
                         AbslView(listing), " what allow rule ", Name(allow),
                         " (", Where(allow), ") lets ", AbslView(call),
                         " use: a call may use it but no listing shows it; "
                         "deny ",
                         AbslView(call), " too, or remove the deny"));
        return;
      }
    }
  }

  // True when a deny with no condition and no subject, role or resource
  // filter refuses `call` on every server and tool of `allow`.
  bool CallAlwaysDenied(const Rule& allow, std::string_view call) const {
    return std::any_of(rules_.begin(), rules_.end(), [&](const Rule& deny) {
      return deny.effect == Effect::kDeny && AlwaysTrue(deny) &&
             Unfiltered(deny) && CanMatch(deny.actions, call) &&
             ListCovers(deny.servers, allow.servers) &&
             ListCovers(deny.tools, allow.tools);
    });
  }

  // An allow whose actions name a listing but not the call it lists: a
  // listed item is decided as its call, so that part of the rule shows
  // nothing. When no allow rule for the call can overlap it either, its
  // tools are neither shown nor callable: it used to list what no call
  // could use.
  void CheckListingOnlyAllow(const Rule& allow) {
    if (allow.actions.empty()) return;
    std::vector<std::string_view> listings;
    for (std::string_view listing : kListings) {
      if (CanMatch(allow.actions, listing) &&
          !CanMatch(allow.actions, model::ListedCall(listing))) {
        listings.push_back(listing);
      }
    }
    if (listings.empty()) return;
    const std::vector<std::string_view> calls = CallsOf(listings);
    std::vector<std::string_view> uncallable;
    for (std::string_view call : calls) {
      if (!AnyAllowMayCall(allow, call)) uncallable.push_back(call);
    }
    std::string message = absl::StrCat(
        "allow rule ", Name(allow), " matches ", Join(listings), " but not ",
        Join(calls),
        ", so it shows nothing by itself: a listing shows what its call may "
        "use; allow the call instead");
    if (!uncallable.empty()) {
      absl::StrAppend(&message, "; no allow rule lets ", Join(uncallable),
                      " reach its tools, so they are shown by no listing and "
                      "callable by no call");
    }
    Add(allow, "listing_only_allow", std::move(message));
  }

  // True when an allow rule other than `listing` may let `call` reach one
  // of `listing`'s tools for one of its subjects. Errs towards true.
  bool AnyAllowMayCall(const Rule& listing, std::string_view call) const {
    return std::any_of(rules_.begin(), rules_.end(), [&](const Rule& other) {
      return &other != &listing && other.effect == Effect::kAllow &&
             !NeverTrue(other) && CanMatch(other.actions, call) &&
             ListsOverlap(other.servers, listing.servers) &&
             ListsOverlap(other.tools, listing.tools) &&
             SubjectsOverlap(other, listing) &&
             ListsOverlap(other.resources, listing.resources);
    });
  }

  void CheckNeverMatches(const Rule& rule) {
    if (NeverTrue(rule)) {
      Add(rule, "never_matches",
          absl::StrCat("rule ", Name(rule), "'s condition is always false"));
    }
    if (!rule.policy_subjects.empty() && !rule.subjects.empty() &&
        !ListsOverlap(rule.policy_subjects, rule.subjects)) {
      Add(rule, "never_matches",
          absl::StrCat("rule ", Name(rule),
                       "'s subjects exclude every subject of its policy"));
    }
    for (const Glob& action : rule.actions) {
      const bool known = std::any_of(
          kMcpMethods.begin(), kMcpMethods.end(),
          [&](std::string_view method) { return action.Matches(method); });
      if (known || OtherRuleMatches(rule, action)) {
        continue;
      }
      Add(rule, "never_matches",
          absl::StrCat("rule ", Name(rule), "'s action \"", action.pattern(),
                       "\" is no MCP method and no other rule mentions it "
                       "(a typo?)"));
    }
  }

  // True when an action pattern of another rule overlaps `action`.
  bool OtherRuleMatches(const Rule& rule, const Glob& action) const {
    for (const Rule& other : rules_) {
      if (&other == &rule) continue;
      for (const Glob& a : other.actions) {
        if (GlobsOverlap(a, action)) return true;
      }
    }
    return false;
  }

  const std::vector<Rule>& rules_;
  std::vector<Finding> findings_;
};

}  // namespace

std::string Finding::ToString() const {
  return absl::StrCat(file, ":", line, ":", column, ": warning[", kind,
                      "]: ", message);
}

std::vector<Finding> Lint(const policy::PolicySet& set) {
  return Linter(set).Run();
}

}  // namespace verdict::lint
