#include "server/authn/strict_json.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace verdict::authn {
namespace {

// Depth of the deepest array or object in `text`, counting brackets outside
// strings; stops counting once over the cap. Malformed text is left to the
// parser.
bool DepthWithinCap(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > max_depth) return false;
        break;
      case '}':
      case ']':
        --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseStrictJsonObject(std::string_view text,
                                                     int max_depth) {
  if (!DepthWithinCap(text, max_depth)) {
    return absl::InvalidArgumentError("JSON nested too deeply");
  }
  // One set of member names per open object; a name seen twice in the same
  // object marks the document as ambiguous.
  std::vector<absl::flat_hash_set<std::string>> open_objects;
  bool duplicate = false;
  auto on_event = [&](int /*depth*/, nlohmann::json::parse_event_t event,
                      nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
        open_objects.emplace_back();
        break;
      case Event::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Event::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back()
                 .insert(parsed.get_ref<const std::string&>())
                 .second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end(), on_event,
                                 /*allow_exceptions=*/false);
  } catch (...) {
    return absl::InvalidArgumentError("invalid JSON");
  }
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(
        "invalid JSON (or invalid UTF-8, or a number out of range)");
  }
  if (duplicate) return absl::InvalidArgumentError("duplicate JSON member");
  if (!json.is_object()) {
    return absl::InvalidArgumentError("JSON is not an object");
  }
  return json;
}

void JsonToProtoValue(const nlohmann::json& json,
                      google::protobuf::Value* value) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      value->set_null_value(google::protobuf::NULL_VALUE);
      break;
    case nlohmann::json::value_t::boolean:
      value->set_bool_value(json.get<bool>());
      break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      value->set_number_value(json.get<double>());
      break;
    case nlohmann::json::value_t::string:
      value->set_string_value(json.get_ref<const std::string&>());
      break;
    case nlohmann::json::value_t::array: {
      auto* list = value->mutable_list_value();
      for (const auto& element : json)
        JsonToProtoValue(element, list->add_values());
      break;
    }
    case nlohmann::json::value_t::object: {
      auto* fields = value->mutable_struct_value()->mutable_fields();
      for (const auto& [key, element] : json.items()) {
        JsonToProtoValue(element, &(*fields)[key]);
      }
      break;
    }
    case nlohmann::json::value_t::binary:
      value->set_null_value(google::protobuf::NULL_VALUE);
      break;
  }
}

}  // namespace verdict::authn
