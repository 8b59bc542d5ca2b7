// Request validation: the one check of a decision request's shape. The
// Decider runs it on every request before the engine, whoever asks
// (verdictd's services, `verdict test` in process), so a malformed request
// is denied with invalid_request and one message wherever it comes from;
// the engine relies on it (engine.h) and does not check again.
//
// A request is well formed when it names an action (and a tool for
// tools/call and tools/list), a subject unless a credential proves one, keeps
// every id, name and role within the fixed lengths below, nests no Struct
// deeper than the configured depth, sets a kind on every google.protobuf.Value
// (a Value with no kind would otherwise reach a condition as a type error), and
// gives evaluate_at, if set, as a valid Timestamp. The lengths bound what one
// request can make verdictd copy into answers and decision records. Walks are
// iterative: nesting is the client's choice. Pure functions; safe from any
// thread.

#ifndef VERDICT_SERVER_DECISION_REQUEST_VALIDATION_H_
#define VERDICT_SERVER_DECISION_REQUEST_VALIDATION_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::decision {

// Roles (and scopes) of an asserted subject.
inline constexpr int kMaxRoles = 256;
// limits.max_context_depth unless configured.
inline constexpr int kDefaultMaxContextDepth = 16;

// The parts of one decision request; pointers are null when absent.
struct RequestParts {
  const v1::Subject* subject = nullptr;  // null: a credential proves it
  const v1::Tool* tool = nullptr;
  std::string_view action;
  const v1::Resource* resource = nullptr;
  const google::protobuf::Struct* context = nullptr;
  const google::protobuf::Timestamp* evaluate_at = nullptr;  // null: unset
};

// "" when `parts` is well formed; otherwise a message that names the first
// malformed field, e.g. "context.task.steps[2] has no value kind".
std::string RequestProblem(const RequestParts& parts, int max_context_depth);

// The part of RequestProblem about an asserted subject's id and roles (its
// attributes are checked with the other Structs).
std::string SubjectProblem(const v1::Subject& subject);

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_REQUEST_VALIDATION_H_
