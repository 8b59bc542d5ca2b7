// Strict JSON for JOSE headers and claim sets (RFC 7515 section 5.2, RFC 7519
// section 4) and for the JSON APIs verdictd serves: one object, no duplicate
// member names at any level, nesting capped (kMaxJsonDepth unless the caller
// says otherwise), nothing after the closing brace.
//
// Never throws (nlohmann exceptions stop here); never recurses deeper than
// kMaxJsonDepth. Pure functions; thread-safe.

#ifndef VERDICT_SERVER_AUTHN_STRICT_JSON_H_
#define VERDICT_SERVER_AUTHN_STRICT_JSON_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"

namespace verdict::authn {

// Deeper documents are rejected before parsing, which bounds every later
// walk (including JsonToProtoValue's recursion).
inline constexpr int kMaxJsonDepth = 16;

// `text` parsed as a JSON object, or InvalidArgument saying why not:
// nested deeper than `max_depth` (checked before parsing), not JSON (invalid
// UTF-8 and numbers out of range included), a member name twice in one
// object, or not an object.
absl::StatusOr<nlohmann::json> ParseStrictJsonObject(
    std::string_view text, int max_depth = kMaxJsonDepth);

// Copies a document accepted by ParseStrictJsonObject into a protobuf Value.
// Numbers become doubles, as google.protobuf.Value holds them.
void JsonToProtoValue(const nlohmann::json& json,
                      google::protobuf::Value* value);

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_STRICT_JSON_H_
