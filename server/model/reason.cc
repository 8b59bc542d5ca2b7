#include "server/model/reason.h"

#include <array>

namespace verdict::model {
namespace {

constexpr std::array<std::string_view, kReasonCodeCount> kNames = {
    "allowed_by_rule",       "denied_by_rule",    "no_matching_rule",
    "unauthenticated",       "token_expired",     "token_not_yet_valid",
    "audience_mismatch",     "issuer_unknown",    "signature_invalid",
    "algorithm_not_allowed", "grant_revoked",     "grant_expired",
    "grant_scope",           "delegation_denied", "caller_not_trusted",
    "evaluation_error",      "invalid_request",   "audit_unavailable",
};

}  // namespace

std::string_view ReasonCodeName(ReasonCode code) {
  return kNames[static_cast<int>(code)];
}

}  // namespace verdict::model
