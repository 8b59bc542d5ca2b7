#include "server/policy/rule_index.h"

#include <algorithm>
#include <utility>

namespace verdict::policy {

template <typename Fn>
void RuleIndex::Level::ForEachMatch(std::string_view name, Fn&& fn) const {
  if (any != kNone) fn(any);
  // Hashing the name costs more than the check; many nodes hold only "any"
  // or only globs. (Debian's Abseil has its own string_view type.)
  if (!exact.empty()) {
    auto it = exact.find(absl::string_view(name.data(), name.size()));
    if (it != exact.end()) fn(it->second);
  }
  if (!trie.empty()) {
    uint32_t node = 0;
    for (size_t depth = 0;; ++depth) {
      const TrieNode& n = trie[node];
      for (uint32_t g = n.first_glob; g < n.first_glob + n.glob_count; ++g) {
        if (prefixed[g].glob.Matches(name)) fn(prefixed[g].target);
      }
      if (depth == name.size()) break;
      const auto first = edges.begin() + n.first_edge;
      const auto last = first + n.edge_count;
      const unsigned char byte = static_cast<unsigned char>(name[depth]);
      const auto edge = std::lower_bound(
          first, last, byte,
          [](const TrieEdge& e, unsigned char b) { return e.byte < b; });
      if (edge == last || edge->byte != byte) break;
      node = edge->child;
    }
  }
  for (const GlobEntry& entry : unprefixed) {
    if (entry.glob.Matches(name)) fn(entry.target);
  }
}

// Collects, per tree node, each distinct pattern with its target, then lays
// the nodes out for lookup.
class RuleIndex::Builder {
 public:
  explicit Builder(RuleIndex* index) : index_(index) {
    pending_.emplace_back();
  }

  void Add(const Rule& rule) {
    for (const Glob* action : Patterns(rule.actions)) {
      const uint32_t servers = Child(0, action, false);
      for (const Glob* server : Patterns(rule.servers)) {
        const uint32_t tools = Child(servers, server, false);
        for (const Glob* tool : Patterns(rule.tools)) {
          std::vector<uint32_t>& leaf = leaves_[Child(tools, tool, true)];
          // Rules arrive in index order, so a repeat is always the last.
          if (leaf.empty() || leaf.back() != rule.index) {
            leaf.push_back(rule.index);
          }
        }
      }
    }
  }

  void Finish() {
    index_->levels_.resize(pending_.size());
    for (size_t i = 0; i < pending_.size(); ++i) {
      LayOut(pending_[i], &index_->levels_[i]);
      pending_[i] = Pending();
    }
    index_->leaf_offsets_.reserve(leaves_.size() + 1);
    size_t total = 0;
    for (const auto& leaf : leaves_) total += leaf.size();
    index_->leaf_rules_.reserve(total);
    for (const auto& leaf : leaves_) {
      index_->leaf_offsets_.push_back(
          static_cast<uint32_t>(index_->leaf_rules_.size()));
      index_->leaf_rules_.insert(index_->leaf_rules_.end(), leaf.begin(),
                                 leaf.end());
    }
    index_->leaf_offsets_.push_back(
        static_cast<uint32_t>(index_->leaf_rules_.size()));
  }

 private:
  // A null pattern stands for "any" (the key was absent).
  struct Pending {
    absl::flat_hash_map<std::string, uint32_t> by_pattern;
    std::vector<std::pair<const Glob*, uint32_t>> entries;
  };

  static std::vector<const Glob*> Patterns(const std::vector<Glob>& globs) {
    std::vector<const Glob*> patterns;
    if (globs.empty()) {
      patterns.push_back(nullptr);
      return patterns;
    }
    patterns.reserve(globs.size());
    for (const Glob& glob : globs) patterns.push_back(&glob);
    return patterns;
  }

  // The target for `glob` in node `level`, created on first use: a new
  // node, or a new leaf when `leaf` is set.
  uint32_t Child(uint32_t level, const Glob* glob, bool leaf) {
    const bool any = glob == nullptr || glob->matches_all();
    std::string key = any ? std::string("*") : glob->pattern();
    auto found = pending_[level].by_pattern.find(key);
    if (found != pending_[level].by_pattern.end()) return found->second;
    uint32_t target;
    if (leaf) {
      target = static_cast<uint32_t>(leaves_.size());
      leaves_.emplace_back();
    } else {
      target = static_cast<uint32_t>(pending_.size());
      pending_.emplace_back();
    }
    pending_[level].by_pattern.emplace(std::move(key), target);
    pending_[level].entries.emplace_back(any ? nullptr : glob, target);
    return target;
  }

  static void LayOut(const Pending& pending, Level* level) {
    std::vector<const std::pair<const Glob*, uint32_t>*> prefixed;
    for (const auto& entry : pending.entries) {
      const Glob* glob = entry.first;
      if (glob == nullptr) {
        level->any = entry.second;
      } else if (glob->is_literal()) {
        level->exact.emplace(glob->pattern(), entry.second);
      } else if (!glob->literal_prefix().empty()) {
        prefixed.push_back(&entry);
      } else {
        level->unprefixed.push_back({*glob, entry.second});
      }
    }
    if (prefixed.empty()) return;

    struct TempNode {
      std::vector<std::pair<unsigned char, uint32_t>> children;
      std::vector<uint32_t> globs;  // positions in `prefixed`
    };
    std::vector<TempNode> temp(1);
    for (uint32_t j = 0; j < prefixed.size(); ++j) {
      uint32_t node = 0;
      for (char c : prefixed[j]->first->literal_prefix()) {
        const unsigned char byte = static_cast<unsigned char>(c);
        uint32_t next = kNone;
        for (const auto& [b, child] : temp[node].children) {
          if (b == byte) next = child;
        }
        if (next == kNone) {
          next = static_cast<uint32_t>(temp.size());
          temp[node].children.emplace_back(byte, next);
          temp.emplace_back();
        }
        node = next;
      }
      temp[node].globs.push_back(j);
    }
    // Breadth-first numbering keeps each node's edges contiguous.
    std::vector<uint32_t> order = {0};
    std::vector<uint32_t> new_id(temp.size(), 0);
    for (size_t k = 0; k < order.size(); ++k) {
      auto& children = temp[order[k]].children;
      std::sort(children.begin(), children.end());
      for (const auto& [byte, child] : children) {
        new_id[child] = static_cast<uint32_t>(order.size());
        order.push_back(child);
      }
    }
    level->trie.resize(temp.size());
    level->edges.reserve(temp.size() - 1);
    level->prefixed.reserve(prefixed.size());
    for (size_t k = 0; k < order.size(); ++k) {
      const TempNode& t = temp[order[k]];
      TrieNode& n = level->trie[k];
      n.first_edge = static_cast<uint32_t>(level->edges.size());
      n.edge_count = static_cast<uint32_t>(t.children.size());
      for (const auto& [byte, child] : t.children) {
        level->edges.push_back({byte, new_id[child]});
      }
      n.first_glob = static_cast<uint32_t>(level->prefixed.size());
      n.glob_count = static_cast<uint32_t>(t.globs.size());
      for (uint32_t j : t.globs) {
        level->prefixed.push_back({*prefixed[j]->first, prefixed[j]->second});
      }
    }
  }

  RuleIndex* index_;
  std::vector<Pending> pending_;  // pending_[0] is the root
  std::vector<std::vector<uint32_t>> leaves_;
};

std::unique_ptr<const RuleIndex> RuleIndex::Build(
    const std::vector<Rule>& rules, bool (*include)(const Rule&)) {
  auto index = std::unique_ptr<RuleIndex>(new RuleIndex());
  Builder builder(index.get());
  for (const Rule& rule : rules) {
    if (include == nullptr || include(rule)) builder.Add(rule);
  }
  builder.Finish();
  index->PrecomputeLiteralCombinations(rules, include);
  index->combo_rules_.shrink_to_fit();
  return index;
}

void RuleIndex::PrecomputeLiteralCombinations(const std::vector<Rule>& rules,
                                              bool (*include)(const Rule&)) {
  // Answers are stored whole, so a set whose literal combinations each match
  // many rules could store rules x combinations entries; past this budget
  // the remaining combinations are left to the walk.
  const size_t budget = 8 * leaf_rules_.size() + (1 << 16);
  CandidateList found;
  for (const Rule& rule : rules) {
    if (include != nullptr && !include(rule)) continue;
    for (const Glob& action : rule.actions) {
      if (!action.is_literal()) continue;
      for (const Glob& server : rule.servers) {
        if (!server.is_literal()) continue;
        for (const Glob& tool : rule.tools) {
          if (!tool.is_literal()) continue;
          const Names names{action.pattern(), server.pattern(), tool.pattern()};
          if (combos_.contains(names)) continue;
          Walk(names.action, names.server, names.tool, &found);
          if (combo_rules_.size() + found.size() > budget) return;
          combos_.emplace(names,
                          Span{static_cast<uint32_t>(combo_rules_.size()),
                               static_cast<uint32_t>(found.size())});
          combo_rules_.insert(combo_rules_.end(), found.begin(), found.end());
        }
      }
    }
  }
}

void RuleIndex::Find(std::string_view action, std::string_view server,
                     std::string_view tool, CandidateList* out) const {
  const auto it = combos_.find(Names{action, server, tool});
  if (it != combos_.end()) {
    const auto first = combo_rules_.begin() + it->second.begin;
    out->assign(first, first + it->second.size);
    return;
  }
  Walk(action, server, tool, out);
}

void RuleIndex::Walk(std::string_view action, std::string_view server,
                     std::string_view tool, CandidateList* out) const {
  out->clear();
  int leaves = 0;
  levels_[0].ForEachMatch(action, [&](uint32_t servers) {
    levels_[servers].ForEachMatch(server, [&](uint32_t tools) {
      levels_[tools].ForEachMatch(tool, [&](uint32_t leaf) {
        ++leaves;
        out->insert(out->end(), leaf_rules_.begin() + leaf_offsets_[leaf],
                    leaf_rules_.begin() + leaf_offsets_[leaf + 1]);
      });
    });
  });
  // One leaf is already sorted and unique; several may overlap.
  if (leaves > 1) {
    std::sort(out->begin(), out->end());
    out->erase(std::unique(out->begin(), out->end()), out->end());
  }
}

uint32_t PolicySetBuilder::AddFile(std::string path) {
  files_.push_back(std::move(path));
  return static_cast<uint32_t>(files_.size() - 1);
}

void PolicySetBuilder::AddRule(Rule rule, uint32_t file) {
  rules_.push_back(std::move(rule));
  rule_files_.push_back(file);
}

}  // namespace verdict::policy
