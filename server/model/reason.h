// The closed set of reason codes a decision can carry (spec section 3).
//
// Codes are public interface: clients match on their names, the decision log
// and metrics label by them. Add a code only with its documentation in
// docs/reasons.md; never rename one.

#ifndef VERDICT_SERVER_MODEL_REASON_H_
#define VERDICT_SERVER_MODEL_REASON_H_

#include <cstdint>
#include <string_view>

namespace verdict::model {

enum class ReasonCode : uint8_t {
  kAllowedByRule,        // an allow rule matched and no deny rule did
  kDeniedByRule,         // a deny rule matched
  kNoMatchingRule,       // no allow rule applies: default deny
  kUnauthenticated,      // a credential was missing, malformed or unverifiable
  kTokenExpired,         // the credential's exp is in the past
  kTokenNotYetValid,     // the credential's nbf/iat is in the future
  kAudienceMismatch,     // the token was minted for another audience
  kIssuerUnknown,        // no configured issuer or trust domain
  kSignatureInvalid,     // the signature does not verify
  kAlgorithmNotAllowed,  // alg none, HMAC, or not allowed for the issuer
  kGrantRevoked,         // the task grant was revoked
  kGrantExpired,         // the task grant expired
  kGrantScope,           // the call is outside the grant's scope
  kDelegationDenied,     // an actor of the delegation chain is not allowed
  kCallerNotTrusted,     // the calling MCP server may not do this
  kEvaluationError,      // an internal or condition error: fail closed
  kInvalidRequest,       // the request is malformed or over a limit
  kAuditUnavailable,   // the decision log cannot be written (on_failure: deny)
  kConditional,        // a listed item: allowed or not depends on unknowns
  kInsufficientScope,  // an allow rule applies but needs scopes the token lacks
  kPolicyUnavailable,  // no policy set is loaded
  kMcpHeaderMismatch,  // MCP request headers disagree with the JSON-RPC body
  kLimitExceeded,      // an allow rule's limit has no calls left this window
  kLimitUnavailable,   // a limit could not be counted (its store failed)
};

inline constexpr int kReasonCodeCount =
    static_cast<int>(ReasonCode::kLimitUnavailable) + 1;

// The wire name of a code, e.g. "no_matching_rule".
std::string_view ReasonCodeName(ReasonCode code);

// What kind of refusal a code is, so that a PEP answers it without a table
// of its own: an MCP server over HTTP maps authentication to 401,
// authorization to 403, invalid request to 400, unavailable to 503 and
// rate limited to 429 with Retry-After (docs/mcp.md). Codes that allow
// (allowed_by_rule) or show a listed item (conditional) are authorization.
enum class ReasonCategory : uint8_t {
  kAuthentication,
  kAuthorization,
  kInvalidRequest,
  kUnavailable,
  kRateLimited,
};

ReasonCategory CategoryOf(ReasonCode code);
// "authentication", "authorization", "invalid_request", "unavailable",
// "rate_limited".
std::string_view ReasonCategoryName(ReasonCategory category);

}  // namespace verdict::model

#endif  // VERDICT_SERVER_MODEL_REASON_H_
