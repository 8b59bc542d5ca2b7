#include "server/service/result_translation.h"

#include <string>
#include <string_view>

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

}  // namespace

void FillEngineRequest(const v1::Tool& tool, std::string_view action,
                       const v1::Resource* resource,
                       const google::protobuf::Struct* context,
                       engine::Request* out) {
  out->tool.server = tool.server();
  out->tool.name = tool.name();
  out->tool.arguments = tool.has_arguments() ? &tool.arguments() : nullptr;
  out->tool.annotations =
      tool.has_annotations() ? &tool.annotations() : nullptr;
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
