// RuleIndex: answers "which rules can apply to (action, server, tool)?" for a
// PolicySet, and PolicySetBuilder, which assembles a PolicySet with its index.
//
// Most requests name an (action, server, tool) that some rule lists with
// three literal names; for those the answer is precomputed and found with
// one hash probe (one cache miss at any set size). Other requests walk a
// three-level tree: action, then server, then tool. At each
// level a name is looked up among the patterns of the rules that reached it:
// exact names in a hash map, match-all patterns (an absent key or `*`) in
// their own slot, globs with a literal prefix in a byte trie walked along the
// name (each glob found is then matched in full), and the few globs without
// a literal prefix (e.g. `*_export`) in a list that is scanned. Identical
// patterns share one entry, so the result is exact: a rule is returned if
// and only if its MatchesTarget is true.
//
// Immutable once built; lookups take no lock and allocate nothing while the
// result fits CandidateList's inline capacity. Safe from any thread.

#ifndef VERDICT_SERVER_POLICY_RULE_INDEX_H_
#define VERDICT_SERVER_POLICY_RULE_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "server/policy/glob.h"
#include "server/policy/policy_set.h"

namespace verdict::policy {

class RuleIndex {
 public:
  // Indexes `rules` by their actions, servers and tools, or only those
  // `include` accepts when it is given; rule i must have index i.
  static std::unique_ptr<const RuleIndex> Build(
      const std::vector<Rule>& rules, bool (*include)(const Rule&) = nullptr);

  // Replaces `*out` with the indices of the rules whose target matches,
  // ascending and without duplicates.
  void Find(std::string_view action, std::string_view server,
            std::string_view tool, CandidateList* out) const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  struct GlobEntry {
    Glob glob;
    uint32_t target;
  };
  // Trie node: its outgoing edges and the globs whose literal prefix ends
  // here, both as ranges of the level's arrays.
  struct TrieNode {
    uint32_t first_edge = 0;
    uint32_t edge_count = 0;
    uint32_t first_glob = 0;
    uint32_t glob_count = 0;
  };
  struct TrieEdge {
    unsigned char byte;
    uint32_t child;
  };
  // One node of the tree: maps a name to the targets (next-level nodes, or
  // leaves at the tool level) of every pattern it matches.
  struct Level {
    uint32_t any = kNone;
    absl::flat_hash_map<std::string, uint32_t> exact;
    std::vector<TrieNode> trie;  // empty, or trie[0] is the root
    std::vector<TrieEdge> edges;
    std::vector<GlobEntry> prefixed;    // grouped by trie node
    std::vector<GlobEntry> unprefixed;  // scanned

    template <typename Fn>
    void ForEachMatch(std::string_view name, Fn&& fn) const;
  };
  // An (action, server, tool) of literal names, viewing the patterns of the
  // set's rules (which outlive the index) or, for lookups, the request.
  struct Names {
    std::string_view action, server, tool;
    bool operator==(const Names& other) const {
      return action == other.action && server == other.server &&
             tool == other.tool;
    }
  };
  struct NamesHash {
    size_t operator()(const Names& n) const {
      // Debian's Abseil hashes its own string_view, not std's.
      return absl::HashOf(absl::string_view(n.action.data(), n.action.size()),
                          absl::string_view(n.server.data(), n.server.size()),
                          absl::string_view(n.tool.data(), n.tool.size()));
    }
  };
  // A range of combo_rules_.
  struct Span {
    uint32_t begin;
    uint32_t size;
  };
  class Builder;

  RuleIndex() = default;

  // The tree walk; every lookup's answer, precomputed or not.
  void Walk(std::string_view action, std::string_view server,
            std::string_view tool, CandidateList* out) const;
  void PrecomputeLiteralCombinations(const std::vector<Rule>& rules,
                                     bool (*include)(const Rule&));

  absl::flat_hash_map<Names, Span, NamesHash> combos_;
  std::vector<uint32_t> combo_rules_;

  std::vector<Level> levels_;  // levels_[0] is the root (actions)
  // Leaf i holds leaf_rules_[leaf_offsets_[i], leaf_offsets_[i + 1]).
  std::vector<uint32_t> leaf_offsets_;
  std::vector<uint32_t> leaf_rules_;
};

// Assembles a PolicySet: files first, then rules in evaluation order.
class PolicySetBuilder {
 public:
  // Interns a file name for rule positions; returns its number.
  uint32_t AddFile(std::string path);
  // Appends `rule`; its index and position.file are set by Build().
  void AddRule(Rule rule, uint32_t file);
  void set_revision(std::string revision) { revision_ = std::move(revision); }
  void set_policy_count(int count) { policy_count_ = count; }

  std::unique_ptr<const PolicySet> Build() &&;

 private:
  std::vector<std::string> files_;
  std::vector<Rule> rules_;
  std::vector<uint32_t> rule_files_;
  std::string revision_;
  int policy_count_ = 0;
};

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_RULE_INDEX_H_
