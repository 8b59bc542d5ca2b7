// Strict JSON for JOSE headers and claim sets (RFC 7515 section 5.2, RFC 7519
// section 4): one object, no duplicate member names at any level, nesting
// capped at kMaxJsonDepth, nothing after the closing brace.
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

// `text` parsed as a JSON object, or InvalidArgument saying why not.
absl::StatusOr<nlohmann::json> ParseStrictJsonObject(std::string_view text);

// Copies a document accepted by ParseStrictJsonObject into a protobuf Value.
// Numbers become doubles, as google.protobuf.Value holds them.
void JsonToProtoValue(const nlohmann::json& json,
                      google::protobuf::Value* value);

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_STRICT_JSON_H_
