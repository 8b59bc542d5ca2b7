#include "server/decision/request_validation.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "server/model/request.h"

namespace verdict::decision {
namespace {

using ::verdict::model::kMaxIdBytes;
using ::verdict::model::kMaxNameBytes;

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr std::string_view kToolsCall = "tools/call";
constexpr std::string_view kToolsList = "tools/list";

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Keys are the client's: a path names at most this much of each.
constexpr size_t kMaxKeyInPath = 64;

std::string TooLong(std::string_view field, size_t limit) {
  return absl::StrCat(absl::string_view(field.data(), field.size()),
                      " is longer than ", limit, " bytes");
}

// One container being walked, with the child currently visited.
struct Frame {
  const Struct* map = nullptr;  // a struct's fields...
  google::protobuf::Map<std::string, Value>::const_iterator next;
  const std::string* key = nullptr;  // ...the child being visited
  const ListValue* list = nullptr;   // or a list's values
  int index = -1;                    // ...the child being visited
};

using Stack = absl::InlinedVector<Frame, 20>;

void AppendKey(const std::string& key, std::string* out) {
  out->push_back('.');
  if (key.size() <= kMaxKeyInPath) {
    out->append(key);
    return;
  }
  out->append(key, 0, kMaxKeyInPath);
  out->append("...");
}

std::string PathOf(std::string_view name, const Stack& stack) {
  std::string path(name);
  for (const Frame& frame : stack) {
    if (frame.map != nullptr) {
      AppendKey(*frame.key, &path);
    } else {
      absl::StrAppend(&path, "[", frame.index, "]");
    }
  }
  return path;
}

Frame FrameOf(const Value& value) {
  Frame frame;
  if (value.has_struct_value()) {
    frame.map = &value.struct_value();
    frame.next = frame.map->fields().begin();
  } else {
    frame.list = &value.list_value();
  }
  return frame;
}

// Moves `frame` to its next child; null when it has none left.
const Value* Advance(Frame* frame) {
  if (frame->map != nullptr) {
    if (frame->next == frame->map->fields().end()) return nullptr;
    frame->key = &frame->next->first;
    const Value* value = &frame->next->second;
    ++frame->next;
    return value;
  }
  if (frame->index + 1 >= frame->list->values_size()) return nullptr;
  ++frame->index;
  return &frame->list->values(frame->index);
}

// The first value of `root` (named `name`) nested deeper than `limit` (the
// struct's own fields are at depth 1) or without a kind, as a message; "".
// Depth first with an explicit stack of at most `limit` + 1 frames, which is
// also the path to the value it reports.
std::string StructProblem(const Struct& root, std::string_view name,
                          int limit) {
  Stack stack;
  Frame top;
  top.map = &root;
  top.next = root.fields().begin();
  stack.push_back(top);
  while (!stack.empty()) {
    const Value* value = Advance(&stack.back());
    if (value == nullptr) {
      stack.pop_back();
      continue;
    }
    if (static_cast<int>(stack.size()) > limit) {
      return absl::StrCat(PathOf(name, stack),
                          " is nested deeper than limits.max_context_depth (",
                          limit, ")");
    }
    switch (value->kind_case()) {
      case Value::KIND_NOT_SET:
        return absl::StrCat(PathOf(name, stack), " has no value kind");
      case Value::kStructValue:
      case Value::kListValue:
        stack.push_back(FrameOf(*value));
        break;
      default:
        break;
    }
  }
  return {};
}

}  // namespace

std::string SubjectProblem(const v1::Subject& subject) {
  if (subject.id().empty()) {
    return "subject.id is required without a credential";
  }
  if (subject.id().size() > kMaxIdBytes) {
    return TooLong("subject.id", kMaxIdBytes);
  }
  if (subject.roles_size() > kMaxRoles) {
    return absl::StrCat("subject.roles has more than ", kMaxRoles, " roles");
  }
  for (const std::string& role : subject.roles()) {
    if (role.size() > kMaxNameBytes) {
      return TooLong("a role in subject.roles", kMaxNameBytes);
    }
  }
  if (subject.scopes_size() > kMaxRoles) {
    return absl::StrCat("subject.scopes has more than ", kMaxRoles, " scopes");
  }
  for (const std::string& scope : subject.scopes()) {
    if (scope.size() > kMaxNameBytes) {
      return TooLong("a scope in subject.scopes", kMaxNameBytes);
    }
  }
  return {};
}

std::string RequestProblem(const RequestParts& parts, int max_context_depth) {
  const v1::Tool& tool =
      parts.tool != nullptr ? *parts.tool : v1::Tool::default_instance();
  if (parts.action.empty()) return "action is required";
  if (parts.action.size() > kMaxNameBytes) {
    return TooLong("action", kMaxNameBytes);
  }
  if (parts.action == kToolsCall && tool.name().empty()) {
    return "tool.name is required for tools/call";
  }
  // A listing item is decided as the call it lists, which names its tool.
  if (parts.action == kToolsList && tool.name().empty()) {
    return "tool.name is required for tools/list: an item lists one tool";
  }
  if (tool.name().size() > kMaxNameBytes) {
    return TooLong("tool.name", kMaxNameBytes);
  }
  if (tool.server().size() > kMaxNameBytes) {
    return TooLong("tool.server", kMaxNameBytes);
  }
  if (parts.subject != nullptr) {
    if (std::string problem = SubjectProblem(*parts.subject);
        !problem.empty()) {
      return problem;
    }
  }
  if (const google::protobuf::Timestamp* at = parts.evaluate_at;
      at != nullptr && (at->seconds() < kMinTimestampSeconds ||
                        at->seconds() > kMaxTimestampSeconds ||
                        at->nanos() < 0 || at->nanos() > 999999999)) {
    return "evaluate_at is not a valid timestamp (years 1 to 9999, nanos "
           "0 to 999999999)";
  }
  if (parts.resource != nullptr) {
    if (parts.resource->kind().size() > kMaxNameBytes) {
      return TooLong("resource.kind", kMaxNameBytes);
    }
    if (parts.resource->id().size() > kMaxIdBytes) {
      return TooLong("resource.id", kMaxIdBytes);
    }
  }
  struct Named {
    const Struct* value;
    std::string_view name;
  };
  const Named structs[] = {
      {parts.context, "context"},
      {tool.has_arguments() ? &tool.arguments() : nullptr, "tool.arguments"},
      {tool.has_annotations() ? &tool.annotations() : nullptr,
       "tool.annotations"},
      {parts.subject != nullptr && parts.subject->has_attributes()
           ? &parts.subject->attributes()
           : nullptr,
       "subject.attributes"},
      {parts.resource != nullptr && parts.resource->has_attributes()
           ? &parts.resource->attributes()
           : nullptr,
       "resource.attributes"},
  };
  for (const Named& named : structs) {
    if (named.value == nullptr) continue;
    if (std::string problem =
            StructProblem(*named.value, named.name, max_context_depth);
        !problem.empty()) {
      return problem;
    }
  }
  return {};
}

}  // namespace verdict::decision
