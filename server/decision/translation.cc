#include "server/decision/translation.h"

#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include "server/decision/proto_time.h"
#include "server/model/reason.h"

namespace verdict::decision {
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
                       model::Request* out) {
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

model::Principal AssertedPrincipal(const v1::Subject& subject) {
  model::Principal principal;
  principal.id = subject.id();
  principal.roles = &subject.roles();
  principal.attributes =
      subject.has_attributes() ? &subject.attributes() : nullptr;
  principal.auth = kAssertedMethod;
  return principal;
}

void TranslateReasons(const Outcome& outcome,
                      google::protobuf::RepeatedPtrField<v1::Reason>* out) {
  out->Reserve(static_cast<int>(outcome.reasons().size()));
  for (const engine::Reason& reason : outcome.reasons()) {
    v1::Reason* added = out->Add();
    added->set_code(std::string(model::ReasonCodeName(reason.code)));
    SetJoined(reason.message, reason.detail, added->mutable_message());
    if (reason.rule != nullptr) {
      added->set_policy(reason.rule->policy);
      added->set_rule(reason.rule->id);
    }
  }
}

void TranslateIdentity(const IdentityView& identity, v1::Identity* out) {
  out->set_subject(std::string(identity.subject));
  out->set_method(std::string(identity.method));
  out->set_issuer(std::string(identity.issuer));
  if (identity.expires_at != absl::InfiniteFuture()) {
    SetTimestamp(identity.expires_at, out->mutable_expires_at());
  }
  if (identity.delegation_chain != nullptr) {
    *out->mutable_delegation_chain() = *identity.delegation_chain;
  }
}

void TranslateOutcome(const Outcome& outcome, bool with_identity,
                      v1::CheckResponse* response) {
  response->set_decision(outcome.allowed() ? v1::ALLOW : v1::DENY);
  TranslateReasons(outcome, response->mutable_reasons());
  response->set_decision_id(std::string(outcome.decision_id()));
  response->set_policy_revision(std::string(outcome.policy_revision()));
  if (with_identity && outcome.identity() != nullptr) {
    TranslateIdentity(*outcome.identity(), response->mutable_identity());
  }
  if (outcome.allowed()) {
    auto* fields = response->mutable_obligations()->mutable_fields();
    for (const policy::Rule* rule : outcome.obligations_from()) {
      // Map::insert keeps an existing key: the first rule wins.
      for (const auto& entry : rule->obligations.fields()) {
        fields->insert(entry);
      }
    }
  }
  SetDuration(outcome.cache_ttl(), response->mutable_cache_ttl());
  for (const engine::TraceStep& step : outcome.trace()) {
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

}  // namespace verdict::decision
