#include "server/model/reason.h"

#include <array>

namespace verdict::model {
namespace {

constexpr std::array<std::string_view, kReasonCodeCount> kNames = {
    "allowed_by_rule",       "denied_by_rule",     "no_matching_rule",
    "unauthenticated",       "token_expired",      "token_not_yet_valid",
    "audience_mismatch",     "issuer_unknown",     "signature_invalid",
    "algorithm_not_allowed", "grant_revoked",      "grant_expired",
    "grant_scope",           "delegation_denied",  "caller_not_trusted",
    "evaluation_error",      "invalid_request",    "audit_unavailable",
    "conditional",           "insufficient_scope", "policy_unavailable",
    "mcp_header_mismatch",   "limit_exceeded",     "limit_unavailable",
};

}  // namespace

std::string_view ReasonCodeName(ReasonCode code) {
  return kNames[static_cast<int>(code)];
}

ReasonCategory CategoryOf(ReasonCode code) {
  switch (code) {
    case ReasonCode::kUnauthenticated:
    case ReasonCode::kTokenExpired:
    case ReasonCode::kTokenNotYetValid:
    case ReasonCode::kAudienceMismatch:
    case ReasonCode::kIssuerUnknown:
    case ReasonCode::kSignatureInvalid:
    case ReasonCode::kAlgorithmNotAllowed:
    case ReasonCode::kGrantRevoked:
    case ReasonCode::kGrantExpired:
      return ReasonCategory::kAuthentication;
    case ReasonCode::kInvalidRequest:
    case ReasonCode::kMcpHeaderMismatch:
      return ReasonCategory::kInvalidRequest;
    // The MCP server asking is misconfigured or Verdict cannot decide: the
    // agent did nothing wrong, and a retry may succeed.
    case ReasonCode::kCallerNotTrusted:
    case ReasonCode::kAuditUnavailable:
    case ReasonCode::kPolicyUnavailable:
    case ReasonCode::kLimitUnavailable:
      return ReasonCategory::kUnavailable;
    // The call would be allowed, but not again until a limit's window
    // resets: the agent may retry then.
    case ReasonCode::kLimitExceeded:
      return ReasonCategory::kRateLimited;
    // A condition that cannot be evaluated on the request's data is the
    // policy's fail-closed answer to that request.
    case ReasonCode::kEvaluationError:
    case ReasonCode::kAllowedByRule:
    case ReasonCode::kDeniedByRule:
    case ReasonCode::kNoMatchingRule:
    case ReasonCode::kGrantScope:
    case ReasonCode::kDelegationDenied:
    case ReasonCode::kConditional:
    case ReasonCode::kInsufficientScope:
      return ReasonCategory::kAuthorization;
  }
  return ReasonCategory::kUnavailable;
}

std::string_view ReasonCategoryName(ReasonCategory category) {
  switch (category) {
    case ReasonCategory::kAuthentication:
      return "authentication";
    case ReasonCategory::kAuthorization:
      return "authorization";
    case ReasonCategory::kInvalidRequest:
      return "invalid_request";
    case ReasonCategory::kUnavailable:
      return "unavailable";
    case ReasonCategory::kRateLimited:
      return "rate_limited";
  }
  return "unavailable";
}

}  // namespace verdict::model
