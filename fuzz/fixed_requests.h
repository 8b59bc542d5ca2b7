// Fixed engine requests for the policy compiler and condition fuzzers, so
// that what a fuzzed input compiles to is also evaluated.
//
// FixedRequests() holds three requests: one with every part present (subject
// with roles, scopes and attributes, an actor and a delegation chain, tool
// arguments and annotations, a resource, a context, a grant), one with the
// optional parts absent (no actor, resource, grant or context: conditions
// that read them fail closed) and one with nothing set (outside Evaluate's
// precondition, which it must still survive).
// Their fields name the servers, tools, roles and context keys that the seed
// policies use, so mutated seeds keep matching rules.
//
// Built once on first use and never destroyed; the requests borrow from
// storage that lives as long as the process. Safe to read from any thread.

#ifndef VERDICT_FUZZ_FIXED_REQUESTS_H_
#define VERDICT_FUZZ_FIXED_REQUESTS_H_

#include <array>

#include "server/model/request.h"

namespace verdict::fuzz {

struct FixedRequestSet {
  std::array<model::Request, 3> requests;  // full, partial, empty
};

const FixedRequestSet& FixedRequests();

}  // namespace verdict::fuzz

#endif  // VERDICT_FUZZ_FIXED_REQUESTS_H_
