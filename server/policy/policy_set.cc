#include "server/policy/policy_set.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "server/policy/rule_index.h"

namespace verdict::policy {
namespace {

// An absent (empty) list admits every name.
bool AnyMatches(const std::vector<Glob>& globs, std::string_view name) {
  if (globs.empty()) return true;
  return std::any_of(globs.begin(), globs.end(),
                     [name](const Glob& glob) { return glob.Matches(name); });
}

bool HasAnyRole(const std::vector<std::string>& wanted,
                const engine::StringList* roles) {
  if (wanted.empty()) return true;
  if (roles == nullptr) return false;
  for (const std::string& role : *roles) {
    if (std::find(wanted.begin(), wanted.end(), role) != wanted.end()) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool Rule::MatchesTarget(std::string_view action, std::string_view server,
                         std::string_view tool) const {
  return AnyMatches(actions, action) && AnyMatches(servers, server) &&
         AnyMatches(tools, tool);
}

bool Rule::MatchesPrincipal(const engine::Principal& subject) const {
  return AnyMatches(policy_subjects, subject.id) &&
         AnyMatches(subjects, subject.id) &&
         HasAnyRole(policy_roles, subject.roles) &&
         HasAnyRole(roles, subject.roles);
}

bool Rule::MatchesResource(const engine::Resource& resource) const {
  if (resources.empty()) return true;
  if (!resource.present) return false;
  return std::any_of(resources.begin(), resources.end(),
                     [&resource](const Glob& glob) {
                       return glob.Matches(resource.kind, ':', resource.id);
                     });
}

PolicySet::PolicySet() = default;
PolicySet::~PolicySet() = default;

void PolicySet::Candidates(std::string_view action, std::string_view server,
                           std::string_view tool, CandidateList* out) const {
  if (index_ == nullptr) {
    out->clear();
    return;
  }
  index_->Find(action, server, tool, out);
}

std::unique_ptr<const PolicySet> PolicySetBuilder::Build() && {
  auto set = std::unique_ptr<PolicySet>(new PolicySet());
  // The file names reach their final place before rules take views of them.
  set->files_ = std::move(files_);
  for (size_t i = 0; i < rules_.size(); ++i) {
    rules_[i].index = static_cast<uint32_t>(i);
    rules_[i].position.file = set->files_[rule_files_[i]];
  }
  set->rules_ = std::move(rules_);
  set->index_ = RuleIndex::Build(set->rules_);
  set->revision_ = std::move(revision_);
  set->policy_count_ = policy_count_;
  return set;
}

}  // namespace verdict::policy
