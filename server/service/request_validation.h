// Request validation: the one check of a decision request's shape, shared
// by verdictd's Decider and `verdict test`'s in-process runner, so both deny
// a malformed request with the same invalid_request message.
//
// A request is well formed when it names an action (and a tool for
// tools/call), a subject unless a credential proves one, keeps every id,
// name and role within the fixed lengths below, nests no Struct deeper than
// the configured depth, and sets a kind on every google.protobuf.Value
// (a Value with no kind would otherwise reach a condition as a type error).
// The lengths bound what one request can make verdictd copy into answers
// and decision records. Walks are iterative: nesting is the client's choice.
// Pure functions; safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_REQUEST_VALIDATION_H_
#define VERDICT_SERVER_SERVICE_REQUEST_VALIDATION_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "google/protobuf/struct.pb.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::service {

// Subject and resource ids (a SPIFFE ID is at most 2048 bytes).
inline constexpr size_t kMaxIdBytes = 2048;
// Tool server and name, action, resource kind, and each role.
inline constexpr size_t kMaxNameBytes = 256;
// Roles of an asserted subject.
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
};

// "" when `parts` is well formed; otherwise a message that names the first
// malformed field, e.g. "context.task.steps[2] has no value kind".
std::string RequestProblem(const RequestParts& parts, int max_context_depth);

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_REQUEST_VALIDATION_H_
