#include "server/service/result_translation.h"

#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include "server/engine/reason.h"

namespace verdict::service {
namespace {

// "message: detail", either part possibly empty.
void SetJoined(std::string_view message, std::string_view detail,
               std::string* out) {
  if (message.empty() || detail.empty()) {
    out->assign(message.empty() ? detail : message);
    return;
  }
  out->reserve(message.size() + 2 + detail.size());
  out->assign(message);
  out->append(": ");
  out->append(detail);
}

constexpr std::string_view kAsserted = "asserted";

struct AnnotationDefault {
  std::string_view key;
  bool value;
};

// MCP's ToolAnnotations: what a client must assume of a hint left out.
constexpr AnnotationDefault kAnnotationDefaults[] = {
    {"readOnlyHint", false},
    {"destructiveHint", true},
    {"idempotentHint", false},
    {"openWorldHint", true},
};

void AddMissingDefaults(google::protobuf::Struct* annotations) {
  auto* fields = annotations->mutable_fields();
  for (const AnnotationDefault& hint : kAnnotationDefaults) {
    // Map::insert keeps a hint the request set.
    google::protobuf::Value value;
    value.set_bool_value(hint.value);
    fields->insert({std::string(hint.key), std::move(value)});
  }
}

// Built once and never freed: it is read by every request without hints.
const google::protobuf::Struct& DefaultAnnotations() {
  static const google::protobuf::Struct* const defaults = [] {
    auto* annotations = new google::protobuf::Struct;
    AddMissingDefaults(annotations);
    return annotations;
  }();
  return *defaults;
}

const google::protobuf::Struct* AnnotationsOf(
    const v1::Tool& tool, google::protobuf::Struct* scratch) {
  if (!tool.has_annotations() || tool.annotations().fields().empty()) {
    return &DefaultAnnotations();
  }
  // Annotations hold a handful of keys: a scan allocates nothing.
  size_t hints = 0;
  for (const auto& [key, value] : tool.annotations().fields()) {
    for (const AnnotationDefault& hint : kAnnotationDefaults) {
      if (key == hint.key) ++hints;
    }
  }
  if (hints == std::size(kAnnotationDefaults)) return &tool.annotations();
  *scratch = tool.annotations();
  AddMissingDefaults(scratch);
  return scratch;
}

}  // namespace

void FillEngineRequest(const v1::Tool& tool, std::string_view action,
                       const v1::Resource* resource,
                       const google::protobuf::Struct* context,
                       google::protobuf::Struct* annotations_scratch,
                       engine::Request* out) {
  out->tool.server = tool.server();
  out->tool.name = tool.name();
  out->tool.arguments = tool.has_arguments() ? &tool.arguments() : nullptr;
  out->tool.annotations = AnnotationsOf(tool, annotations_scratch);
  out->action = action;
  if (resource != nullptr) {
    out->resource.present = true;
    out->resource.kind = resource->kind();
    out->resource.id = resource->id();
    out->resource.attributes =
        resource->has_attributes() ? &resource->attributes() : nullptr;
  }
  out->context = context;
}

engine::Principal AssertedPrincipal(const v1::Subject& subject) {
  engine::Principal principal;
  principal.id = subject.id();
  principal.roles = &subject.roles();
  principal.attributes =
      subject.has_attributes() ? &subject.attributes() : nullptr;
  principal.auth = kAsserted;
  return principal;
}

void FillResponseFromResult(const engine::Result& result, bool explain,
                            v1::CheckResponse* response) {
  const bool allowed = result.decision == engine::Decision::kAllow;
  response->set_decision(allowed ? v1::ALLOW : v1::DENY);
  for (const engine::Reason& reason : result.reasons) {
    v1::Reason* out = response->add_reasons();
    out->set_code(std::string(engine::ReasonCodeName(reason.code)));
    SetJoined(reason.message, reason.detail, out->mutable_message());
    if (reason.rule != nullptr) {
      out->set_policy(reason.rule->policy);
      out->set_rule(reason.rule->id);
    }
  }
  if (allowed) {
    auto* fields = response->mutable_obligations()->mutable_fields();
    for (const policy::Rule* rule : result.obligations_from) {
      // Map::insert keeps an existing key: the first rule wins.
      for (const auto& entry : rule->obligations.fields()) {
        fields->insert(entry);
      }
    }
  }
  if (!explain) return;
  for (const engine::TraceStep& step : result.trace) {
    v1::TraceStep* out = response->add_trace();
    if (step.rule != nullptr) {
      out->set_policy(step.rule->policy);
      out->set_rule(step.rule->id);
      out->set_effect(step.rule->effect == policy::Effect::kAllow ? "allow"
                                                                  : "deny");
    }
    out->set_outcome(std::string(engine::RuleOutcomeName(step.outcome)));
    SetJoined(step.error, step.detail, out->mutable_detail());
  }
}

}  // namespace verdict::service
