#include "server/decision/translation.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_split.h"
#include "server/decision/proto_time.h"
#include "server/model/decision.h"
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

constexpr std::string_view kBearer = "Bearer";

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
  principal.scopes = &subject.scopes();
  principal.attributes =
      subject.has_attributes() ? &subject.attributes() : nullptr;
  principal.auth = kAssertedMethod;
  return principal;
}

v1::ReasonCategory CategoryOnWire(model::ReasonCode code) {
  switch (model::CategoryOf(code)) {
    case model::ReasonCategory::kAuthentication:
      return v1::REASON_CATEGORY_AUTHENTICATION;
    case model::ReasonCategory::kAuthorization:
      return v1::REASON_CATEGORY_AUTHORIZATION;
    case model::ReasonCategory::kInvalidRequest:
      return v1::REASON_CATEGORY_INVALID_REQUEST;
    case model::ReasonCategory::kUnavailable:
      return v1::REASON_CATEGORY_UNAVAILABLE;
    case model::ReasonCategory::kRateLimited:
      return v1::REASON_CATEGORY_RATE_LIMITED;
  }
  return v1::REASON_CATEGORY_UNAVAILABLE;
}

void TranslateOutcomeChallenge(const Outcome& outcome, v1::Challenge* out) {
  TranslateChallenge(outcome.primary_reason(), outcome.credential_presented(),
                     outcome.required_scopes(), outcome.mcp_server(), out);
  if (const std::optional<absl::Time> resets_at = outcome.limit_resets_at();
      resets_at.has_value()) {
    // Retry-After is whole seconds (RFC 9110 section 10.2.3), rounded up so
    // that a retry never comes before the reset.
    out->set_retry_after_seconds(std::max<int64_t>(
        1, absl::ToInt64Seconds(
               absl::Ceil(*resets_at - outcome.decided(), absl::Seconds(1)))));
  }
}

std::string_view CategoryNameOnWire(v1::ReasonCategory category) {
  switch (category) {
    case v1::REASON_CATEGORY_AUTHENTICATION:
      return model::ReasonCategoryName(model::ReasonCategory::kAuthentication);
    case v1::REASON_CATEGORY_AUTHORIZATION:
      return model::ReasonCategoryName(model::ReasonCategory::kAuthorization);
    case v1::REASON_CATEGORY_INVALID_REQUEST:
      return model::ReasonCategoryName(model::ReasonCategory::kInvalidRequest);
    case v1::REASON_CATEGORY_RATE_LIMITED:
      return model::ReasonCategoryName(model::ReasonCategory::kRateLimited);
    default:
      return model::ReasonCategoryName(model::ReasonCategory::kUnavailable);
  }
}

void TranslateChallenge(model::ReasonCode code, bool credential_presented,
                        std::string_view required_scopes,
                        const McpServer* server, v1::Challenge* out) {
  std::string* header = out->mutable_www_authenticate();
  // Parameters are quoted-strings (RFC 9110 section 11.2): scope tokens and
  // configured URLs hold neither quotes nor backslashes.
  const auto add = [header](std::string_view name, std::string_view value) {
    header->append(header->size() == kBearer.size() ? " " : ", ");
    header->append(name);
    header->append("=\"");
    header->append(value);
    header->push_back('"');
  };
  switch (model::CategoryOf(code)) {
    case model::ReasonCategory::kAuthentication:
      out->set_http_status(401);
      header->assign(kBearer);
      // RFC 6750 section 3.1: no error code when no credential was sent.
      if (credential_presented) add("error", "invalid_token");
      break;
    case model::ReasonCategory::kAuthorization:
      out->set_http_status(403);
      if (code != model::ReasonCode::kInsufficientScope) return;
      header->assign(kBearer);
      add("error", "insufficient_scope");
      add("scope", required_scopes);
      for (const absl::string_view scope :
           absl::StrSplit(absl::string_view(required_scopes.data(),
                                            required_scopes.size()),
                          ' ', absl::SkipEmpty())) {
        out->add_required_scopes(std::string(scope));
      }
      break;
    case model::ReasonCategory::kInvalidRequest:
      out->set_http_status(400);
      return;
    case model::ReasonCategory::kUnavailable:
      out->set_http_status(503);
      return;
    case model::ReasonCategory::kRateLimited:
      out->set_http_status(429);
      return;
  }
  if (server != nullptr) {
    add("resource_metadata", server->resource_metadata);
    out->set_resource_metadata(server->resource_metadata);
  }
}

void TranslateReasons(const Outcome& outcome,
                      google::protobuf::RepeatedPtrField<v1::Reason>* out) {
  out->Reserve(static_cast<int>(outcome.reasons().size()));
  for (const engine::Reason& reason : outcome.reasons()) {
    v1::Reason* added = out->Add();
    added->set_code(std::string(model::ReasonCodeName(reason.code)));
    added->set_category(CategoryOnWire(reason.code));
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
  if (outcome.conditional()) {
    response->set_conditional(true);
    for (const std::string_view path : outcome.depends_on()) {
      response->add_depends_on(std::string(path));
    }
  }
  response->set_category(CategoryOnWire(outcome.primary_reason()));
  if (outcome.decision() == model::Decision::kDeny) {
    TranslateOutcomeChallenge(outcome, response->mutable_challenge());
  }
  if (const std::optional<absl::Time> resets_at = outcome.limit_resets_at();
      resets_at.has_value()) {
    SetTimestamp(*resets_at, response->mutable_limit_resets_at());
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

namespace {

template <typename Response>
void TranslateRefusal(const Admission& admission, Response* response) {
  v1::Reason* refusal = response->mutable_refusal();
  refusal->set_code(std::string(model::ReasonCodeName(admission.refusal)));
  refusal->set_message(std::string(admission.message));
  refusal->set_category(CategoryOnWire(admission.refusal));
  TranslateChallenge(admission.refusal, admission.credential_presented,
                     /*required_scopes=*/{}, admission.mcp_server,
                     response->mutable_challenge());
}

}  // namespace

void TranslateAdmission(const Admission& admission,
                        v1::CheckBatchResponse* response) {
  response->set_policy_revision(std::string(admission.policy_revision));
  if (admission.refused) {
    TranslateRefusal(admission, response);
    return;
  }
  if (admission.identity != nullptr) {
    TranslateIdentity(*admission.identity, response->mutable_identity());
  }
  if (admission.listing_ttl.has_value()) {
    v1::CacheHint* hint = response->mutable_cache_hint();
    hint->set_ttl_ms(absl::ToInt64Milliseconds(*admission.listing_ttl));
    hint->set_cache_scope("private");
  }
}

void TranslateAdmission(const Admission& admission,
                        v1::AuthenticateResponse* response) {
  response->set_policy_revision(std::string(admission.policy_revision));
  if (admission.refused) {
    TranslateRefusal(admission, response);
    return;
  }
  response->set_authenticated(true);
  if (admission.identity != nullptr) {
    TranslateIdentity(*admission.identity, response->mutable_identity());
  }
}

}  // namespace verdict::decision
