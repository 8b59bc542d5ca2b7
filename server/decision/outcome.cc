#include "server/decision/outcome.h"

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
  cache_ttl_ = allowed() ? cache_ttl : absl::ZeroDuration();
}

void Outcome::Deny(model::ReasonCode code, std::string_view message) {
  decision_ = model::Decision::kDeny;
  denial_ = engine::Reason{.code = code, .message = message};
  reasons_ = absl::MakeConstSpan(&denial_, 1);
  obligations_from_ = {};
  cache_ttl_ = absl::ZeroDuration();
}

void Outcome::DenyOwning(model::ReasonCode code, std::string message) {
  denial_message_ = std::move(message);
  Deny(code, denial_message_);
}

}  // namespace verdict::decision
