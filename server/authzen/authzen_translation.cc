#include "server/authzen/authzen_translation.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/authn/strict_json.h"
#include "server/decision/translation.h"

namespace verdict::authzen {
namespace {

using Json = nlohmann::json;

// Debian's Abseil has its own string_view, which std::string_view does not
// convert to.
absl::string_view Sv(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Sv(where), ": ", Sv(what)));
}

// The depth of `json`: 0 for a scalar, 1 for a flat object or array.
int DepthOf(const Json& json) {
  if (!json.is_object() && !json.is_array()) return 0;
  int deepest = 0;
  for (const Json& child : json) deepest = std::max(deepest, DepthOf(child));
  return deepest + 1;
}

// Fails for a member of `object` not in `allowed`.
absl::Status OnlyMembers(const Json& object, std::string_view where,
                         absl::Span<const std::string_view> allowed) {
  for (const auto& [name, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Invalid(where, absl::StrCat("unknown member \"", name, "\""));
    }
  }
  return absl::OkStatus();
}

// Null when absent.
const Json* Find(const Json& object, std::string_view name) {
  const auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

absl::StatusOr<std::string> StringMember(const Json& object,
                                         std::string_view where,
                                         std::string_view name, bool required) {
  const Json* value = Find(object, name);
  if (value == nullptr) {
    if (required)
      return Invalid(where, absl::StrCat("\"", Sv(name), "\" is required"));
    return std::string();
  }
  if (!value->is_string()) {
    return Invalid(where, absl::StrCat("\"", Sv(name), "\" must be a string"));
  }
  std::string text = value->get<std::string>();
  if (required && text.empty()) {
    return Invalid(where, absl::StrCat("\"", Sv(name), "\" must not be empty"));
  }
  return text;
}

// An object member into a Struct, its depth within `max_depth`.
absl::Status StructOf(const Json& value, std::string_view where, int max_depth,
                      google::protobuf::Struct* out) {
  if (!value.is_object()) return Invalid(where, "must be an object");
  if (DepthOf(value) > max_depth) {
    return Invalid(where, absl::StrCat("nested deeper than ", max_depth));
  }
  for (const auto& [name, member] : value.items()) {
    authn::JsonToProtoValue(member, &(*out->mutable_fields())[name]);
  }
  return absl::OkStatus();
}

absl::Status StringsOf(const Json& value, std::string_view where,
                       google::protobuf::RepeatedPtrField<std::string>* out) {
  if (!value.is_array()) return Invalid(where, "must be an array of strings");
  for (const Json& element : value) {
    if (!element.is_string()) {
      return Invalid(where, "must be an array of strings");
    }
    out->Add(element.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status SubjectOf(const Json& json, int depth, v1::Subject* out) {
  if (!json.is_object()) return Invalid("subject", "must be an object");
  if (absl::Status s =
          OnlyMembers(json, "subject", {"type", "id", "properties"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> type =
      StringMember(json, "subject", "type", true);
  if (!type.ok()) return type.status();
  absl::StatusOr<std::string> id = StringMember(json, "subject", "id", true);
  if (!id.ok()) return id.status();
  out->set_id(*std::move(id));
  const Json* properties = Find(json, "properties");
  if (properties == nullptr) return absl::OkStatus();
  if (!properties->is_object()) {
    return Invalid("subject.properties", "must be an object");
  }
  google::protobuf::Struct* attributes = out->mutable_attributes();
  if (const Json* given = Find(*properties, "attributes"); given != nullptr) {
    if (absl::Status s = StructOf(*given, "subject.properties.attributes",
                                  depth, attributes);
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [name, value] : properties->items()) {
    if (name == "attributes") continue;
    if (name == "roles") {
      if (absl::Status s = StringsOf(value, "subject.properties.roles",
                                     out->mutable_roles());
          !s.ok()) {
        return s;
      }
      continue;
    }
    if (name == "scopes") {
      if (absl::Status s = StringsOf(value, "subject.properties.scopes",
                                     out->mutable_scopes());
          !s.ok()) {
        return s;
      }
      continue;
    }
    if (attributes->fields().contains(name)) {
      return Invalid("subject.properties",
                     absl::StrCat("\"", name, "\" is also in attributes"));
    }
    if (DepthOf(value) > depth) {
      return Invalid("subject.properties",
                     absl::StrCat("nested deeper than ", depth));
    }
    authn::JsonToProtoValue(value, &(*attributes->mutable_fields())[name]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ActionOf(const Json& json) {
  if (!json.is_object()) return Invalid("action", "must be an object");
  if (absl::Status s = OnlyMembers(json, "action", {"name"}); !s.ok()) {
    return Invalid("action",
                   "only \"name\" is supported (action.properties belongs in "
                   "context)");
  }
  return StringMember(json, "action", "name", true);
}

// What a resource names: the MCP target and the data it touches.
struct Target {
  std::string type;
  v1::Tool tool;
  v1::Resource resource;
  bool has_resource = false;
};

absl::Status DataOf(const Json& json, int depth, Target* out) {
  constexpr std::string_view kWhere = "resource.properties.data";
  if (!json.is_object()) return Invalid(kWhere, "must be an object");
  if (absl::Status s = OnlyMembers(json, kWhere, {"kind", "id", "attributes"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> kind = StringMember(json, kWhere, "kind", true);
  if (!kind.ok()) return kind.status();
  absl::StatusOr<std::string> id = StringMember(json, kWhere, "id", false);
  if (!id.ok()) return id.status();
  out->resource.set_kind(*std::move(kind));
  out->resource.set_id(*std::move(id));
  if (const Json* attributes = Find(json, "attributes");
      attributes != nullptr) {
    if (absl::Status s =
            StructOf(*attributes, "resource.properties.data.attributes", depth,
                     out->resource.mutable_attributes());
        !s.ok()) {
      return s;
    }
  }
  out->has_resource = true;
  return absl::OkStatus();
}

// `require_id` is false for a search's resource, which names a type only.
absl::Status TargetOf(const Json& json, int depth, bool require_id,
                      Target* out) {
  if (!json.is_object()) return Invalid("resource", "must be an object");
  if (absl::Status s =
          OnlyMembers(json, "resource", {"type", "id", "properties"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> type =
      StringMember(json, "resource", "type", true);
  if (!type.ok()) return type.status();
  absl::StatusOr<std::string> id =
      StringMember(json, "resource", "id", require_id);
  if (!id.ok()) return id.status();
  if (!require_id && !id->empty()) {
    return Invalid("resource", "a search names no \"id\"");
  }
  out->type = *type;
  static const Json kNoProperties = Json::object();
  const Json* properties = Find(json, "properties");
  if (properties == nullptr) properties = &kNoProperties;
  if (!properties->is_object()) {
    return Invalid("resource.properties", "must be an object");
  }
  const bool mcp = *type == kMcpTool || *type == kMcpPrompt ||
                   *type == kMcpResource || *type == kMcpServer;
  if (!mcp) {
    // A Verdict data resource, with no MCP target.
    out->resource.set_kind(*type);
    out->resource.set_id(*id);
    out->has_resource = true;
    return StructOf(*properties, "resource.properties", depth,
                    out->resource.mutable_attributes());
  }
  static constexpr std::string_view kToolMembers[] = {
      "server", "arguments", "annotations", "data", "candidates"};
  static constexpr std::string_view kPromptMembers[] = {"server", "arguments",
                                                        "candidates"};
  static constexpr std::string_view kResourceMembers[] = {
      "server", "attributes", "candidates"};
  absl::Span<const std::string_view> allowed;
  if (*type == kMcpTool) {
    allowed = kToolMembers;
  } else if (*type == kMcpPrompt) {
    allowed = kPromptMembers;
  } else if (*type == kMcpResource) {
    allowed = kResourceMembers;
  }
  if (absl::Status s = OnlyMembers(*properties, "resource.properties", allowed);
      !s.ok()) {
    return s;
  }
  if (require_id && Find(*properties, "candidates") != nullptr) {
    return Invalid("resource.properties",
                   "\"candidates\" is for resource search only");
  }
  absl::StatusOr<std::string> server =
      StringMember(*properties, "resource.properties", "server", false);
  if (!server.ok()) return server.status();
  if (*type == kMcpServer) {
    out->tool.set_server(*std::move(id));
    return absl::OkStatus();
  }
  out->tool.set_server(*std::move(server));
  if (*type == kMcpResource) {
    out->resource.set_kind("resource");
    out->resource.set_id(*std::move(id));
    out->has_resource = true;
    if (const Json* a = Find(*properties, "attributes"); a != nullptr) {
      return StructOf(*a, "resource.properties.attributes", depth,
                      out->resource.mutable_attributes());
    }
    return absl::OkStatus();
  }
  out->tool.set_name(*std::move(id));
  if (const Json* a = Find(*properties, "arguments"); a != nullptr) {
    if (absl::Status s = StructOf(*a, "resource.properties.arguments", depth,
                                  out->tool.mutable_arguments());
        !s.ok()) {
      return s;
    }
  }
  if (const Json* a = Find(*properties, "annotations"); a != nullptr) {
    if (absl::Status s = StructOf(*a, "resource.properties.annotations", depth,
                                  out->tool.mutable_annotations());
        !s.ok()) {
      return s;
    }
  }
  if (const Json* data = Find(*properties, "data"); data != nullptr) {
    return DataOf(*data, depth, out);
  }
  return absl::OkStatus();
}

void Frame(const RequestFrame& frame, v1::CheckRequest* out) {
  if (frame.has_credentials) *out->mutable_credentials() = frame.credentials;
  out->set_request_id(frame.request_id);
  out->set_traceparent(frame.traceparent);
  out->set_tracestate(frame.tracestate);
}

// One evaluation from its members, each given or defaulted (null: absent).
absl::StatusOr<v1::CheckRequest> CheckOf(const Json* subject,
                                         const Json* action,
                                         const Json* resource,
                                         const Json* context,
                                         const RequestFrame& frame) {
  v1::CheckRequest out;
  Frame(frame, &out);
  const int depth = frame.max_context_depth;
  if (subject != nullptr) {
    if (absl::Status s = SubjectOf(*subject, depth, out.mutable_subject());
        !s.ok()) {
      return s;
    }
  }
  if (action == nullptr) return Invalid("action", "is required");
  absl::StatusOr<std::string> name = ActionOf(*action);
  if (!name.ok()) return name.status();
  out.set_action(*std::move(name));
  if (resource == nullptr) return Invalid("resource", "is required");
  Target target;
  if (absl::Status s = TargetOf(*resource, depth, /*require_id=*/true, &target);
      !s.ok()) {
    return s;
  }
  *out.mutable_tool() = std::move(target.tool);
  if (target.has_resource) *out.mutable_resource() = std::move(target.resource);
  if (context != nullptr) {
    if (absl::Status s =
            StructOf(*context, "context", depth, out.mutable_context());
        !s.ok()) {
      return s;
    }
  }
  return out;
}

absl::Status FrameBatch(const Json& body, const RequestFrame& frame,
                        v1::CheckBatchRequest* out) {
  if (frame.has_credentials) *out->mutable_credentials() = frame.credentials;
  out->set_request_id(frame.request_id);
  out->set_traceparent(frame.traceparent);
  out->set_tracestate(frame.tracestate);
  if (const Json* subject = Find(body, "subject"); subject != nullptr) {
    if (absl::Status s = SubjectOf(*subject, frame.max_context_depth,
                                   out->mutable_subject());
        !s.ok()) {
      return s;
    }
  }
  if (const Json* context = Find(body, "context"); context != nullptr) {
    return StructOf(*context, "context", frame.max_context_depth,
                    out->mutable_context());
  }
  return absl::OkStatus();
}

// page {token, limit}: the token is the offset this API handed out.
absl::Status PageOf(const Json& body, size_t max_limit, Search* out) {
  const Json* page = Find(body, "page");
  if (page == nullptr) return absl::OkStatus();
  if (!page->is_object()) return Invalid("page", "must be an object");
  if (absl::Status s = OnlyMembers(*page, "page", {"token", "limit"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> token =
      StringMember(*page, "page", "token", false);
  if (!token.ok()) return token.status();
  if (!token->empty()) {
    uint32_t offset = 0;
    if (token->size() > 7 ||
        !std::all_of(token->begin(), token->end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(*token, &offset)) {
      return Invalid("page.token", "is not a token this PDP handed out");
    }
    out->offset = offset;
  }
  if (const Json* limit = Find(*page, "limit"); limit != nullptr) {
    if (!limit->is_number_integer() && !limit->is_number_unsigned()) {
      return Invalid("page.limit", "must be an integer");
    }
    const int64_t n = limit->get<int64_t>();
    if (n < 1 || n > static_cast<int64_t>(max_limit)) {
      return Invalid("page.limit", absl::StrCat("must be 1 to ", max_limit));
    }
    out->limit = static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

Json ValueJson(const google::protobuf::Value& value);

Json StructJson(const google::protobuf::Struct& s) {
  Json out = Json::object();
  for (const auto& [name, value] : s.fields()) out[name] = ValueJson(value);
  return out;
}

Json ValueJson(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kBoolValue:
      return value.bool_value();
    case google::protobuf::Value::kNumberValue:
      return value.number_value();
    case google::protobuf::Value::kStringValue:
      return value.string_value();
    case google::protobuf::Value::kStructValue:
      return StructJson(value.struct_value());
    case google::protobuf::Value::kListValue: {
      Json list = Json::array();
      for (const auto& v : value.list_value().values()) {
        list.push_back(ValueJson(v));
      }
      return list;
    }
    default:
      return nullptr;
  }
}

Json ReasonJson(const v1::Reason& reason) {
  Json out = {{"code", reason.code()},
              {"message", reason.message()},
              {"category", decision::CategoryNameOnWire(reason.category())}};
  if (!reason.policy().empty()) out["policy"] = reason.policy();
  if (!reason.rule().empty()) out["rule"] = reason.rule();
  return out;
}

Json ChallengeJson(const v1::Challenge& challenge) {
  Json out = {{"http_status", challenge.http_status()}};
  if (!challenge.www_authenticate().empty()) {
    out["www_authenticate"] = challenge.www_authenticate();
  }
  if (challenge.required_scopes_size() > 0) {
    out["required_scopes"] = std::vector<std::string>(
        challenge.required_scopes().begin(), challenge.required_scopes().end());
  }
  if (challenge.retry_after_seconds() > 0) {
    out["retry_after_seconds"] = challenge.retry_after_seconds();
  }
  if (!challenge.resource_metadata().empty()) {
    out["resource_metadata"] = challenge.resource_metadata();
  }
  return out;
}

Json IdentityJson(const v1::Identity& identity) {
  Json out = {{"subject", identity.subject()}, {"method", identity.method()}};
  if (!identity.issuer().empty()) out["issuer"] = identity.issuer();
  if (identity.delegation_chain_size() > 0) {
    out["delegation_chain"] = std::vector<std::string>(
        identity.delegation_chain().begin(), identity.delegation_chain().end());
  }
  return out;
}

int64_t Millis(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}

// The listing of the call `action` asks about, for items of `type`; empty
// when the action is neither that call nor its listing.
std::string_view ListingFor(std::string_view type, std::string_view action) {
  if (type == kMcpTool && (action == "tools/call" || action == "tools/list")) {
    return "tools/list";
  }
  if (type == kMcpPrompt &&
      (action == "prompts/get" || action == "prompts/list")) {
    return "prompts/list";
  }
  if (type == kMcpResource &&
      (action == "resources/read" || action == "resources/list")) {
    return "resources/list";
  }
  return {};
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseBody(std::string_view body,
                                         int max_context_depth) {
  absl::StatusOr<Json> json =
      authn::ParseStrictJsonObject(body, max_context_depth + kEnvelopeDepth);
  if (!json.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body: ", json.status().message()));
  }
  return json;
}

absl::StatusOr<v1::CheckRequest> TranslateEvaluation(
    const nlohmann::json& body, const RequestFrame& frame) {
  if (absl::Status s =
          OnlyMembers(body, "evaluation request",
                      {"subject", "action", "resource", "context"});
      !s.ok()) {
    return s;
  }
  return CheckOf(Find(body, "subject"), Find(body, "action"),
                 Find(body, "resource"), Find(body, "context"), frame);
}

absl::StatusOr<Evaluations> TranslateEvaluations(const nlohmann::json& body,
                                                 const RequestFrame& frame,
                                                 size_t max_items) {
  if (absl::Status s = OnlyMembers(body, "evaluations request",
                                   {"subject", "action", "resource", "context",
                                    "evaluations", "options"});
      !s.ok()) {
    return s;
  }
  Evaluations out;
  if (const Json* options = Find(body, "options"); options != nullptr) {
    if (!options->is_object()) return Invalid("options", "must be an object");
    if (absl::Status s =
            OnlyMembers(*options, "options", {"evaluations_semantic"});
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> semantic =
        StringMember(*options, "options", "evaluations_semantic", false);
    if (!semantic.ok()) return semantic.status();
    if (*semantic == "deny_on_first_deny") {
      out.semantic = Semantic::kDenyOnFirstDeny;
    } else if (*semantic == "permit_on_first_permit") {
      out.semantic = Semantic::kPermitOnFirstPermit;
    } else if (!semantic->empty() && *semantic != "execute_all") {
      return Invalid("options.evaluations_semantic",
                     "must be execute_all, deny_on_first_deny or "
                     "permit_on_first_permit");
    }
  }
  const Json* subject = Find(body, "subject");
  const Json* action = Find(body, "action");
  const Json* resource = Find(body, "resource");
  const Json* context = Find(body, "context");
  const Json* evaluations = Find(body, "evaluations");
  if (evaluations != nullptr && !evaluations->is_array()) {
    return Invalid("evaluations", "must be an array");
  }
  if (evaluations == nullptr || evaluations->empty()) {
    absl::StatusOr<v1::CheckRequest> check =
        CheckOf(subject, action, resource, context, frame);
    if (!check.ok()) return check.status();
    out.checks.push_back(*std::move(check));
    return out;
  }
  if (evaluations->size() > max_items) {
    return Invalid("evaluations",
                   absl::StrCat("holds at most ", max_items,
                                " evaluations, not ", evaluations->size()));
  }
  out.checks.reserve(evaluations->size());
  for (size_t i = 0; i < evaluations->size(); ++i) {
    const Json& item = (*evaluations)[i];
    const std::string where = absl::StrCat("evaluations[", i, "]");
    if (!item.is_object()) return Invalid(where, "must be an object");
    if (absl::Status s = OnlyMembers(
            item, where, {"subject", "action", "resource", "context"});
        !s.ok()) {
      return s;
    }
    const Json* own_subject = Find(item, "subject");
    const Json* own_action = Find(item, "action");
    const Json* own_resource = Find(item, "resource");
    const Json* own_context = Find(item, "context");
    absl::StatusOr<v1::CheckRequest> check =
        CheckOf(own_subject != nullptr ? own_subject : subject,
                own_action != nullptr ? own_action : action,
                own_resource != nullptr ? own_resource : resource,
                own_context != nullptr ? own_context : context, frame);
    if (!check.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", check.status().message()));
    }
    out.checks.push_back(*std::move(check));
  }
  return out;
}

absl::StatusOr<Search> TranslateActionSearch(const nlohmann::json& body,
                                             const RequestFrame& frame) {
  if (absl::Status s = OnlyMembers(body, "action search request",
                                   {"subject", "resource", "context", "page"});
      !s.ok()) {
    return s;
  }
  Search out;
  if (absl::Status s = FrameBatch(body, frame, &out.batch); !s.ok()) return s;
  const Json* resource = Find(body, "resource");
  if (resource == nullptr) return Invalid("resource", "is required");
  Target target;
  if (absl::Status s = TargetOf(*resource, frame.max_context_depth,
                                /*require_id=*/true, &target);
      !s.ok()) {
    return s;
  }
  static constexpr std::string_view kToolMethods[] = {"tools/call",
                                                      "tools/list"};
  static constexpr std::string_view kPromptMethods[] = {
      "prompts/get", "prompts/list", "completion/complete"};
  static constexpr std::string_view kResourceMethods[] = {
      "resources/read", "resources/subscribe", "resources/unsubscribe",
      "resources/list"};
  absl::Span<const std::string_view> methods;
  if (target.type == kMcpTool) {
    methods = kToolMethods;
  } else if (target.type == kMcpPrompt) {
    methods = kPromptMethods;
  } else if (target.type == kMcpResource) {
    methods = kResourceMethods;
  } else {
    return Invalid("resource.type",
                   "action search needs mcp_tool, mcp_prompt or mcp_resource");
  }
  for (const std::string_view method : methods) {
    v1::CheckBatchItem* item = out.batch.add_items();
    *item->mutable_tool() = target.tool;
    item->set_action(std::string(method));
    if (target.has_resource) *item->mutable_resource() = target.resource;
    out.entities.push_back(Json{{"name", method}});
  }
  if (absl::Status s = PageOf(body, out.entities.size(), &out); !s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<Search> TranslateResourceSearch(const nlohmann::json& body,
                                               const RequestFrame& frame,
                                               size_t max_items) {
  if (absl::Status s =
          OnlyMembers(body, "resource search request",
                      {"subject", "action", "resource", "context", "page"});
      !s.ok()) {
    return s;
  }
  Search out;
  if (absl::Status s = FrameBatch(body, frame, &out.batch); !s.ok()) return s;
  const Json* action = Find(body, "action");
  if (action == nullptr) return Invalid("action", "is required");
  absl::StatusOr<std::string> name = ActionOf(*action);
  if (!name.ok()) return name.status();
  const Json* resource = Find(body, "resource");
  if (resource == nullptr) return Invalid("resource", "is required");
  Target target;
  if (absl::Status s = TargetOf(*resource, frame.max_context_depth,
                                /*require_id=*/false, &target);
      !s.ok()) {
    return s;
  }
  const std::string_view listing = ListingFor(target.type, *name);
  if (listing.empty()) {
    return Invalid("action.name",
                   "resource search asks tools/call or tools/list of "
                   "mcp_tool, prompts/get or prompts/list of mcp_prompt, "
                   "resources/read or resources/list of mcp_resource");
  }
  const Json* properties = Find(*resource, "properties");
  const Json* candidates =
      properties != nullptr ? Find(*properties, "candidates") : nullptr;
  if (candidates == nullptr) {
    return Invalid("resource.properties.candidates",
                   "is required: the names to choose from (verdictd cannot "
                   "enumerate what policy globs match)");
  }
  if (!candidates->is_array()) {
    return Invalid("resource.properties.candidates",
                   "must be an array of strings");
  }
  if (candidates->size() > max_items) {
    return Invalid("resource.properties.candidates",
                   absl::StrCat("holds at most ", max_items, " names"));
  }
  for (const Json& candidate : *candidates) {
    if (!candidate.is_string() ||
        candidate.get_ref<const std::string&>().empty()) {
      return Invalid("resource.properties.candidates",
                     "must be an array of non-empty strings");
    }
    const std::string& id = candidate.get_ref<const std::string&>();
    v1::CheckBatchItem* item = out.batch.add_items();
    item->set_action(std::string(listing));
    item->mutable_tool()->set_server(target.tool.server());
    if (target.type == kMcpResource) {
      item->mutable_resource()->set_kind("resource");
      item->mutable_resource()->set_id(id);
    } else {
      item->mutable_tool()->set_name(id);
    }
    out.entities.push_back(Json{{"type", target.type}, {"id", id}});
  }
  if (absl::Status s = PageOf(body, max_items, &out); !s.ok()) return s;
  return out;
}

nlohmann::json DecisionJson(const v1::CheckResponse& response) {
  Json context = {{"decision_id", response.decision_id()},
                  {"policy_revision", response.policy_revision()}};
  Json reasons = Json::array();
  for (const v1::Reason& reason : response.reasons()) {
    reasons.push_back(ReasonJson(reason));
  }
  context["reasons"] = std::move(reasons);
  if (response.obligations().fields_size() > 0) {
    context["obligations"] = StructJson(response.obligations());
  }
  if (response.has_identity()) {
    context["identity"] = IdentityJson(response.identity());
  }
  if (response.conditional()) {
    context["conditional"] = true;
    context["depends_on"] = std::vector<std::string>(
        response.depends_on().begin(), response.depends_on().end());
  }
  if (response.has_challenge()) {
    context["challenge"] = ChallengeJson(response.challenge());
  }
  if (response.has_cache_ttl() && Millis(response.cache_ttl()) > 0) {
    context["cache_ttl_ms"] = Millis(response.cache_ttl());
  }
  return Json{{"decision", response.decision() == v1::ALLOW},
              {"context", std::move(context)}};
}

nlohmann::json EvaluationsJson(const std::vector<v1::CheckResponse>& answers) {
  Json evaluations = Json::array();
  for (const v1::CheckResponse& answer : answers) {
    evaluations.push_back(DecisionJson(answer));
  }
  return Json{{"evaluations", std::move(evaluations)}};
}

nlohmann::json SearchJson(const Search& search,
                          const v1::CheckBatchResponse& response) {
  std::vector<Json> found;
  const int n = std::min<int>(response.results_size(),
                              static_cast<int>(search.entities.size()));
  for (int i = 0; i < n; ++i) {
    const v1::CheckResponse& result = response.results(i);
    if (result.decision() == v1::ALLOW) {
      found.push_back(search.entities[i]);
    } else if (result.conditional()) {
      Json entity = search.entities[i];
      entity["properties"] = {
          {"conditional", true},
          {"depends_on", std::vector<std::string>(result.depends_on().begin(),
                                                  result.depends_on().end())}};
      found.push_back(std::move(entity));
    }
  }
  const size_t begin = std::min(search.offset, found.size());
  const size_t end = search.limit == 0
                         ? found.size()
                         : std::min(found.size(), begin + search.limit);
  Json results = Json::array();
  for (size_t i = begin; i < end; ++i) results.push_back(found[i]);
  Json context = {{"policy_revision", response.policy_revision()}};
  if (response.has_identity()) {
    context["identity"] = IdentityJson(response.identity());
  }
  if (response.has_refusal()) {
    context["refusal"] = ReasonJson(response.refusal());
    if (response.has_challenge()) {
      context["challenge"] = ChallengeJson(response.challenge());
    }
  }
  if (response.has_cache_hint()) {
    context["cache_ttl_ms"] = response.cache_hint().ttl_ms();
  }
  return Json{{"results", std::move(results)},
              {"page",
               {{"next_token", end < found.size() ? std::to_string(end) : ""},
                {"count", end - begin},
                {"total", found.size()}}},
              {"context", std::move(context)}};
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  return Json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
}

nlohmann::json MetadataJson(std::string_view base) {
  const std::string root(base);
  return Json{
      {"policy_decision_point", root},
      {"access_evaluation_endpoint", root + "/access/v1/evaluation"},
      {"access_evaluations_endpoint", root + "/access/v1/evaluations"},
      {"search_resource_endpoint", root + "/access/v1/search/resource"},
      {"search_action_endpoint", root + "/access/v1/search/action"},
  };
}

}  // namespace verdict::authzen
