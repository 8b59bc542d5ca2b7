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
                const model::StringList* roles) {
  if (wanted.empty()) return true;
  if (roles == nullptr) return false;
  for (const std::string& role : *roles) {
    if (std::find(wanted.begin(), wanted.end(), role) != wanted.end()) {
      return true;
    }
  }
  return false;
}

// A deny rule that only some actions reach (see PolicySet::ListingDenies).
bool IsActionBoundDeny(const Rule& rule) {
  return rule.effect == Effect::kDeny && !rule.actions.empty() &&
         std::none_of(rule.actions.begin(), rule.actions.end(),
                      [](const Glob& glob) { return glob.pattern() == "*"; });
}

bool HasAnyNumber(const uint32_t* wanted, size_t count,
                  const RoleNumbers& roles) {
  if (count == 0) return true;
  for (uint32_t role : roles) {
    if (std::find(wanted, wanted + count, role) != wanted + count) return true;
  }
  return false;
}

}  // namespace

bool Rule::MatchesTarget(std::string_view action, std::string_view server,
                         std::string_view tool) const {
  return AnyMatches(actions, action) && AnyMatches(servers, server) &&
         AnyMatches(tools, tool);
}

bool Rule::MatchesPrincipal(const model::Principal& subject) const {
  return AnyMatches(policy_subjects, subject.id) &&
         AnyMatches(subjects, subject.id) &&
         HasAnyRole(policy_roles, subject.roles) &&
         HasAnyRole(roles, subject.roles);
}

bool Rule::MatchesResource(const model::Resource& resource) const {
  if (resources.empty()) return true;
  if (!resource.present) return false;
  return std::any_of(resources.begin(), resources.end(),
                     [&resource](const Glob& glob) {
                       return glob.Matches(resource.kind, ':', resource.id);
                     });
}

bool Rule::HasScopes(const model::Principal& subject) const {
  if (scopes.empty()) return true;
  if (subject.scopes == nullptr) return false;
  return std::all_of(
      scopes.begin(), scopes.end(), [&subject](const std::string& scope) {
        return std::find(subject.scopes->begin(), subject.scopes->end(),
                         scope) != subject.scopes->end();
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

void PolicySet::ListingDenies(std::string_view listing, std::string_view server,
                              std::string_view tool, CandidateList* out) const {
  if (listing_denies_ == nullptr) {
    out->clear();
    return;
  }
  listing_denies_->Find(listing, server, tool, out);
}

void PolicySet::NumberRoles(const model::StringList* roles,
                            RoleNumbers* out) const {
  out->clear();
  if (roles == nullptr) return;
  for (const std::string& role : *roles) {
    const auto it = role_numbers_.find(role);
    if (it != role_numbers_.end()) out->push_back(it->second);
  }
}

bool PolicySet::MatchesPrincipal(uint32_t index,
                                 const model::Principal& subject,
                                 const RoleNumbers& roles) const {
  const RuleCore& core = cores_[index];
  const uint32_t* policy_roles = rule_roles_.data() + core.roles_begin;
  if (!HasAnyNumber(policy_roles, core.policy_role_count, roles) ||
      !HasAnyNumber(policy_roles + core.policy_role_count, core.role_count,
                    roles)) {
    return false;
  }
  if (!core.has_subject_globs) return true;
  const Rule& rule = rules_[index];
  return AnyMatches(rule.policy_subjects, subject.id) &&
         AnyMatches(rule.subjects, subject.id);
}

void PolicySet::BuildCores() {
  cores_.reserve(rules_.size());
  auto number = [this](const std::string& role) {
    return role_numbers_
        .try_emplace(role, static_cast<uint32_t>(role_numbers_.size()))
        .first->second;
  };
  for (const Rule& rule : rules_) {
    RuleCore core;
    core.condition = rule.condition.has_value() ? &*rule.condition : nullptr;
    core.roles_begin = static_cast<uint32_t>(rule_roles_.size());
    core.policy_role_count = static_cast<uint32_t>(rule.policy_roles.size());
    core.role_count = static_cast<uint32_t>(rule.roles.size());
    for (const std::string& role : rule.policy_roles) {
      rule_roles_.push_back(number(role));
    }
    for (const std::string& role : rule.roles) {
      rule_roles_.push_back(number(role));
    }
    core.effect = rule.effect;
    core.has_subject_globs =
        !rule.policy_subjects.empty() || !rule.subjects.empty();
    core.has_resources = !rule.resources.empty();
    core.has_scopes = !rule.scopes.empty();
    cores_.push_back(core);
  }
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
  set->BuildCores();
  set->index_ = RuleIndex::Build(set->rules_);
  if (std::any_of(set->rules_.begin(), set->rules_.end(), IsActionBoundDeny)) {
    set->listing_denies_ = RuleIndex::Build(set->rules_, IsActionBoundDeny);
  }
  set->revision_ = std::move(revision_);
  set->policy_count_ = policy_count_;
  return set;
}

}  // namespace verdict::policy
