#include "server/decision/outcome.h"

#include <algorithm>
#include <utility>

namespace verdict::decision {

Outcome::Outcome(absl::Time received, std::string_view policy_revision)
    : policy_revision_(policy_revision),
      id_(DecisionId::Next()),
      received_(received),
      decided_(received) {}

void Outcome::Decide(const engine::Result& result, absl::Duration cache_ttl) {
  decision_ = result.decision;
  reasons_ = result.reasons;
  obligations_from_ =
      allowed() ? absl::Span<const policy::Rule* const>(result.obligations_from)
                : absl::Span<const policy::Rule* const>();
  trace_ = result.trace;
  depends_on_ = conditional()
                    ? absl::Span<const std::string_view>(result.depends_on)
                    : absl::Span<const std::string_view>();
  required_scopes_ = result.required_scopes;
  time_dependent_ = result.time_dependent;
  cache_ttl_ = allowed() ? cache_ttl : absl::ZeroDuration();
}

void Outcome::MakeConditional(absl::Span<const std::string_view> more) {
  merged_paths_.assign(depends_on_.begin(), depends_on_.end());
  for (const std::string_view path : more) {
    if (std::find(merged_paths_.begin(), merged_paths_.end(), path) ==
        merged_paths_.end()) {
      merged_paths_.push_back(path);
    }
  }
  decision_ = model::Decision::kConditional;
  depends_on_ = merged_paths_;
  obligations_from_ = {};
  cache_ttl_ = absl::ZeroDuration();
}

void Outcome::Deny(model::ReasonCode code, std::string_view message) {
  decision_ = model::Decision::kDeny;
  denial_ = engine::Reason{.code = code, .message = message};
  reasons_ = absl::MakeConstSpan(&denial_, 1);
  obligations_from_ = {};
  depends_on_ = {};
  required_scopes_ = {};
  cache_ttl_ = absl::ZeroDuration();
}

void Outcome::DenyOwning(model::ReasonCode code, std::string message) {
  denial_message_ = std::move(message);
  Deny(code, denial_message_);
}

void Outcome::DenyForRule(model::ReasonCode code, const policy::Rule* rule,
                          std::string message) {
  DenyOwning(code, std::move(message));
  denial_.rule = rule;
}

void Outcome::DenyLimitExceeded(const policy::Rule* rule, std::string message,
                                absl::Time resets_at) {
  DenyForRule(model::ReasonCode::kLimitExceeded, rule, std::move(message));
  limit_resets_at_ = resets_at;
}

}  // namespace verdict::decision
