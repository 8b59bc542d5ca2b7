// Conversion of YAML to google::protobuf::Value: policy obligations, test
// suite fixtures and the CLI's K=V flags (spec sections 4, 9 and 10).
//
// Plain scalars resolve by the YAML 1.2 core schema: null (`~`, `null`, empty),
// booleans (`true`, `false` in three casings), integers (decimal, `0x`, `0o`),
// floats (including `.inf` and `.nan`), otherwise strings. Quoted and block
// scalars and `!!str` scalars are strings. Sequences become ListValue and
// mappings Struct, with non-string keys written as their YAML text.
//
// Nesting is capped at kMaxValueDepth and the number of converted nodes at
// kMaxValueNodes, so hostile YAML (deep nesting, alias bombs) fails with
// an error instead of exhausting the stack or memory. Never throws: yaml-cpp
// exceptions become statuses. Pure functions, safe from any thread.

#ifndef VERDICT_SERVER_YAML_VALUE_H_
#define VERDICT_SERVER_YAML_VALUE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/node/node.h"

namespace verdict::yaml {

inline constexpr int kMaxValueDepth = 64;
inline constexpr int kMaxValueNodes = 100000;

// Where and why a conversion failed.
struct ValueError {
  YAML::Mark mark;   // 0-based, as yaml-cpp gives it; may be null
  std::string code;  // duplicate_key or limit
};

// Converts `node` into `*out`. A mapping with a repeated key is an error
// (yaml-cpp keeps both), as is exceeding a limit. Errors are InvalidArgument;
// when `error` is non-null it receives the offending node's mark and a code.
absl::Status ToProtoValue(const YAML::Node& node, google::protobuf::Value* out,
                          ValueError* error = nullptr);

// Parses one YAML value from text, as the CLI does for `--attr K=V`: `3` is a
// number, `true` a bool, `[a, b]` a list, `{k: v}` a map, `x` a string, and
// empty text is null. Syntax errors are InvalidArgument with line and column.
absl::StatusOr<google::protobuf::Value> ParseProtoValue(std::string_view text);

// Resolves a plain scalar's text by the core schema (exposed for tests).
google::protobuf::Value ResolvePlainScalar(std::string_view text);

}  // namespace verdict::yaml

#endif  // VERDICT_SERVER_YAML_VALUE_H_
