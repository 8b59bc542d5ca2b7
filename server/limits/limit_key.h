// The counter key of an allow rule's limit for one request: the rule's
// identity (policy::RuleLimit::identity) and a digest of the values its
// `per` expressions take on the request, so that a key holds no raw request
// data however the values look, and equal values always meet the same count.
//
// Each value must be a string or a number (int or double; 1 and 1.0 are
// different keys, as are 1 and "1"); anything else, or an expression that
// fails to evaluate, is an error, and the caller denies (evaluation_error).
//
// Pure function of its inputs; one EvalScratch per thread.

#ifndef VERDICT_SERVER_LIMITS_LIMIT_KEY_H_
#define VERDICT_SERVER_LIMITS_LIMIT_KEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/model/request.h"
#include "server/model/value.h"
#include "server/policy/policy_set.h"

namespace verdict::limits {

// "<identity>:<32 hex digits>". InvalidArgument naming the expression (by
// its position in `per`) and what went wrong; `rule.limit` must be set.
absl::StatusOr<std::string> LimitKeyOf(const policy::Rule& rule,
                                       const model::Request& request,
                                       model::EvalScratch* scratch);

}  // namespace verdict::limits

#endif  // VERDICT_SERVER_LIMITS_LIMIT_KEY_H_
