// PolicySet: the immutable, indexed result of compiling a policy directory.
//
// A PolicySet never changes after Compile* returns it; readers on any number
// of threads share it without locks, and a reload builds a new one and swaps a
// pointer. Its index answers "which rules can apply to (action, server,
// tool)?" with hash lookups for exact names and a trie for glob patterns, so a
// decision touches only the rules that can apply, whatever the set's size.

#ifndef VERDICT_SERVER_POLICY_POLICY_SET_H_
#define VERDICT_SERVER_POLICY_POLICY_SET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "server/model/request.h"
#include "server/policy/glob.h"
#include "server/policy/program.h"

namespace verdict::policy {

enum class Effect : uint8_t { kAllow, kDeny };

struct SourcePosition {
  std::string_view file;  // interned in the PolicySet
  int line = 0;
  int column = 0;
};

// Bounds of a rule's `limit`: its calls, window and number of keys.
inline constexpr int64_t kMaxLimitCalls = 1'000'000'000;
inline constexpr absl::Duration kMinLimitWindow = absl::Seconds(1);
inline constexpr absl::Duration kMaxLimitWindow = absl::Hours(24 * 31);
inline constexpr int kMaxLimitKeys = 8;

// An allow rule's limit (docs/policies.md): the rule allows at most `calls`
// calls in each window of length `window` (fixed windows aligned to the
// Unix epoch), counted apart for every distinct tuple of `per` key values.
struct RuleLimit {
  int64_t calls = 0;
  absl::Duration window;
  std::vector<Program> per;  // compiled by CompileLimitKey; empty: one count
  std::vector<std::string> per_text;  // their source, for messages
  // Hex digest of (policy, rule id, window): the rule's part of every
  // counter key, so that keys carry no policy text and a changed window
  // starts new counts.
  std::string identity;
  // The limit as its deny message names it: "10 calls per 1m per
  // subject.id, tool.name".
  std::string text;
};

// One compiled rule. Its policy-level `subjects` and `roles` are folded in:
// a rule applies only when both the policy's and its own lists match.
struct Rule {
  uint32_t index = 0;  // position in the set; candidates are sorted by it
  std::string policy;  // policy name
  std::string id;      // rule id, unique within its policy
  Effect effect = Effect::kDeny;
  std::string reason;                // optional message from the policy author
  std::optional<Program> condition;  // absent: always true
  google::protobuf::Struct obligations;
  SourcePosition position;

  // Target: what the index answers. Empty lists match anything.
  std::vector<Glob> servers;
  std::vector<Glob> tools;
  std::vector<Glob> actions;

  // Checked on each candidate, after the index.
  std::vector<Glob> policy_subjects;  // policy level, any of
  std::vector<Glob> subjects;         // rule level, any of
  std::vector<std::string> policy_roles;
  std::vector<std::string> roles;
  std::vector<Glob> resources;  // globs on "kind:id"
  // Allow rules only: the OAuth scopes subject.scopes must all hold for the
  // rule to apply (step-up), in the policy's order, and them joined by
  // single spaces, the scope= of a WWW-Authenticate challenge. Both empty
  // when the rule needs none.
  std::vector<std::string> scopes;
  std::string scope_challenge;
  std::optional<RuleLimit> limit;  // allow rules only; absent: unlimited

  // True when (action, server, tool) is matched by actions, servers, tools.
  bool MatchesTarget(std::string_view action, std::string_view server,
                     std::string_view tool) const;
  // True when the subject and resource filters admit the request.
  bool MatchesPrincipal(const model::Principal& subject) const;
  bool MatchesResource(const model::Resource& resource) const;
  // True when `subject` holds every one of `scopes`.
  bool HasScopes(const model::Principal& subject) const;
};

// Indices of candidate rules, ascending, without duplicates.
using CandidateList = absl::InlinedVector<uint32_t, 16>;

// The part of a rule that every decision reads, packed apart from the rest
// (names, obligations, patterns) so that walking the candidates touches one
// small record per rule. Role names are replaced by the set's role numbers.
struct RuleCore {
  const Program* condition = nullptr;  // null: always true
  // The rule's role numbers in the set's pool: policy_role_count policy-level
  // ones from roles_begin, then role_count rule-level ones.
  uint32_t roles_begin = 0;
  uint32_t policy_role_count = 0;
  uint32_t role_count = 0;
  Effect effect = Effect::kDeny;
  bool has_subject_globs = false;  // subjects or policy_subjects non-empty
  bool has_resources = false;
  bool has_scopes = false;  // scopes non-empty
};

// A subject's roles as the set's role numbers, computed once per request;
// roles that no rule names are left out.
using RoleNumbers = absl::InlinedVector<uint32_t, 4>;

class RuleIndex;  // defined in rule_index.h

class PolicySet {
 public:
  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;
  ~PolicySet();

  // Every rule in evaluation order (by file path, then document and rule).
  const std::vector<Rule>& rules() const { return rules_; }
  // Hex digest of the compiled sources; equal sources give equal revisions.
  const std::string& revision() const { return revision_; }
  int policy_count() const { return policy_count_; }

  // Replaces `*out` with the rules whose MatchesTarget may be true for this
  // (action, server, tool): every such rule, and few others. Allocation-free
  // while the candidates fit in the inline capacity.
  void Candidates(std::string_view action, std::string_view server,
                  std::string_view tool, CandidateList* out) const;
  // For a listed item: replaces `*out` with the deny rules whose target
  // matches (listing, server, tool) and that Candidates of the listed call
  // may not return, those that name actions none of which is `*` (every
  // other deny matches any call); some of them may be among the call's
  // candidates too. A second, small index: most sets have no such rule.
  void ListingDenies(std::string_view listing, std::string_view server,
                     std::string_view tool, CandidateList* out) const;

  // The hot part of rules()[index].
  const RuleCore& core(uint32_t index) const { return cores_[index]; }
  // Replaces `*out` with the numbers of `roles` (null: none).
  void NumberRoles(const model::StringList* roles, RoleNumbers* out) const;
  // Same as rules()[index].MatchesPrincipal(subject), given
  // NumberRoles(subject.roles): integer compares instead of string ones.
  bool MatchesPrincipal(uint32_t index, const model::Principal& subject,
                        const RoleNumbers& roles) const;

 private:
  friend class PolicySetBuilder;
  PolicySet();

  std::vector<Rule> rules_;
  std::vector<RuleCore> cores_;       // parallel to rules_
  std::vector<uint32_t> rule_roles_;  // RuleCore role ranges
  absl::flat_hash_map<std::string, uint32_t> role_numbers_;
  std::vector<std::string> files_;  // storage for SourcePosition::file
  std::string revision_;
  int policy_count_ = 0;
  std::unique_ptr<const RuleIndex> index_;
  std::unique_ptr<const RuleIndex> listing_denies_;  // null: none

  void BuildCores();
};

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_POLICY_SET_H_
