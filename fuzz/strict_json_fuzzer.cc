// Fuzz target: the input is a JOSE header or claim set, parsed with
// ParseStrictJsonObject and copied with JsonToProtoValue as the JWT
// authenticator does.
//
// Checks the parser's promises: an accepted document is an object nested no
// deeper than kMaxJsonDepth, and printing it gives text that is accepted
// again as the same document.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "google/protobuf/struct.pb.h"
#include "server/authn/strict_json.h"

namespace verdict::fuzz {
namespace {

// Nesting of the deepest array or object in `json`, counting `json` itself,
// walked without recursion.
int Depth(const nlohmann::json& json) {
  int deepest = 0;
  std::vector<std::pair<const nlohmann::json*, int>> pending = {{&json, 1}};
  while (!pending.empty()) {
    const auto [value, depth] = pending.back();
    pending.pop_back();
    if (!value->is_structured()) continue;
    deepest = std::max(deepest, depth);
    for (const nlohmann::json& child : *value) {
      pending.emplace_back(&child, depth + 1);
    }
  }
  return deepest;
}

void FuzzOneInput(std::string_view input) {
  absl::StatusOr<nlohmann::json> parsed = authn::ParseStrictJsonObject(input);
  if (!parsed.ok()) return;
  Require(parsed->is_object(), "an accepted document is an object");
  Require(Depth(*parsed) <= authn::kMaxJsonDepth,
          "an accepted document is nested no deeper than kMaxJsonDepth");
  google::protobuf::Value value;
  authn::JsonToProtoValue(*parsed, &value);
  Require(value.has_struct_value(), "an object copies to a Struct");

  const std::string printed =
      parsed->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  absl::StatusOr<nlohmann::json> reparsed =
      authn::ParseStrictJsonObject(printed);
  Require(reparsed.ok() && *reparsed == *parsed,
          "a printed document parses back to itself");
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
