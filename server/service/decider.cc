#include "server/service/decider.h"

#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "server/engine/engine.h"
#include "server/engine/reason.h"
#include "server/engine/request.h"
#include "server/service/decision_id.h"

namespace verdict::service {
namespace {

using engine::ReasonCode;
using google::protobuf::Struct;

constexpr std::string_view kToolsCall = "tools/call";
constexpr std::string_view kAsserted = "asserted";

// The parts of one decision; a batch shares subject, context and credentials.
struct Item {
  const v1::Credentials* credentials;  // null: none
  const v1::Subject& subject;
  const Struct* context;  // null: absent
  const v1::Tool& tool;
  std::string_view action;
  const v1::Resource* resource;  // null: absent
  bool explain;
};

bool HasCredential(const v1::Credentials* credentials) {
  return credentials != nullptr && (credentials->credential_case() !=
                                        v1::Credentials::CREDENTIAL_NOT_SET ||
                                    !credentials->actor_tokens().empty());
}

// True when no value in `root` is nested deeper than `limit` (the struct's
// own fields are at depth 1). Iterative: the depth is the client's choice.
bool WithinDepth(const Struct& root, int limit) {
  struct Frame {
    const google::protobuf::Value* value;
    int depth;
  };
  absl::InlinedVector<Frame, 32> stack;
  for (const auto& [key, value] : root.fields()) stack.push_back({&value, 1});
  while (!stack.empty()) {
    const Frame frame = stack.back();
    stack.pop_back();
    if (frame.depth > limit) return false;
    if (frame.value->has_struct_value()) {
      for (const auto& [key, value] : frame.value->struct_value().fields()) {
        stack.push_back({&value, frame.depth + 1});
      }
    } else if (frame.value->has_list_value()) {
      for (const auto& value : frame.value->list_value().values()) {
        stack.push_back({&value, frame.depth + 1});
      }
    }
  }
  return true;
}

// A static message naming the first malformed field, or "".
std::string_view Problem(const Item& item, int max_depth) {
  if (item.action.empty()) return "action is required";
  if (item.action == kToolsCall && item.tool.name().empty()) {
    return "tool.name is required for tools/call";
  }
  if (item.subject.id().empty()) return "subject.id is required";
  struct Named {
    const Struct* value;
    std::string_view problem;
  };
  const Named structs[] = {
      {item.context, "context is nested deeper than limits.max_context_depth"},
      {item.tool.has_arguments() ? &item.tool.arguments() : nullptr,
       "tool.arguments is nested deeper than limits.max_context_depth"},
      {item.tool.has_annotations() ? &item.tool.annotations() : nullptr,
       "tool.annotations is nested deeper than limits.max_context_depth"},
      {item.subject.has_attributes() ? &item.subject.attributes() : nullptr,
       "subject.attributes is nested deeper than limits.max_context_depth"},
      {item.resource != nullptr && item.resource->has_attributes()
           ? &item.resource->attributes()
           : nullptr,
       "resource.attributes is nested deeper than limits.max_context_depth"},
  };
  for (const Named& named : structs) {
    if (named.value != nullptr && !WithinDepth(*named.value, max_depth)) {
      return named.problem;
    }
  }
  return {};
}

void Deny(ReasonCode code, std::string_view message,
          v1::CheckResponse* response) {
  response->set_decision(v1::DENY);
  v1::Reason* reason = response->add_reasons();
  reason->set_code(std::string(engine::ReasonCodeName(code)));
  reason->set_message(std::string(message));
}

// "message: detail", either part possibly empty.
void SetJoined(std::string_view message, std::string_view detail,
               std::string* out) {
  if (message.empty() || detail.empty()) {
    out->assign(message.empty() ? detail : message);
  } else {
    out->reserve(message.size() + 2 + detail.size());
    out->assign(message);
    out->append(": ");
    out->append(detail);
  }
}

void SetDuration(absl::Duration duration, google::protobuf::Duration* out) {
  const int64_t seconds =
      absl::IDivDuration(duration, absl::Seconds(1), &duration);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(duration)));
}

void FillFromResult(const engine::Result& result, bool explain,
                    absl::Duration cache_ttl, v1::CheckResponse* response) {
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
      for (const auto& entry : rule->obligations.fields())
        fields->insert(entry);
    }
  }
  // Clock-dependent answers are not reusable; denies are re-asked so that a
  // fixed policy or condition takes effect at once.
  SetDuration(
      allowed && !result.time_dependent ? cache_ttl : absl::ZeroDuration(),
      response->mutable_cache_ttl());
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

// Decides `item` into `*response`; returns the engine's result, or null
// when the request was decided before the engine.
const engine::Result* DecideItem(const policy::PolicySet* set, const Item& item,
                                 const CallerInfo& caller,
                                 const DeciderOptions& options, absl::Time now,
                                 v1::CheckResponse* response) {
  NextDecisionId(response->mutable_decision_id());
  if (set != nullptr) response->set_policy_revision(set->revision());
  if (!caller.trusted) {
    Deny(ReasonCode::kCallerNotTrusted,
         "without TLS only loopback callers are accepted", response);
    return nullptr;
  }
  if (HasCredential(item.credentials)) {
    Deny(ReasonCode::kUnauthenticated,
         "credential verification is not configured", response);
    return nullptr;
  }
  if (std::string_view problem = Problem(item, options.max_context_depth);
      !problem.empty()) {
    Deny(ReasonCode::kInvalidRequest, problem, response);
    return nullptr;
  }
  if (set == nullptr) {
    Deny(ReasonCode::kEvaluationError, "no policy set is loaded", response);
    return nullptr;
  }
  v1::Identity* identity = response->mutable_identity();
  identity->set_subject(item.subject.id());
  identity->set_method(std::string(kAsserted));

  engine::Request request;
  request.subject.id = item.subject.id();
  request.subject.roles = &item.subject.roles();
  request.subject.attributes =
      item.subject.has_attributes() ? &item.subject.attributes() : nullptr;
  request.subject.auth = kAsserted;
  request.tool.server = item.tool.server();
  request.tool.name = item.tool.name();
  request.tool.arguments =
      item.tool.has_arguments() ? &item.tool.arguments() : nullptr;
  request.tool.annotations =
      item.tool.has_annotations() ? &item.tool.annotations() : nullptr;
  request.action = item.action;
  if (item.resource != nullptr) {
    request.resource.present = true;
    request.resource.kind = item.resource->kind();
    request.resource.id = item.resource->id();
    request.resource.attributes = item.resource->has_attributes()
                                      ? &item.resource->attributes()
                                      : nullptr;
  }
  request.context = item.context;
  request.now = now;

  engine::EvalOptions eval_options;
  eval_options.explain = item.explain;
  eval_options.max_value_depth = options.max_context_depth;
  thread_local engine::EvalScratch scratch;
  thread_local engine::Result result;
  engine::Evaluate(*set, request, eval_options, &scratch, &result);
  FillFromResult(result, item.explain, options.cache_ttl, response);
  return &result;
}

void Decide(const policy::PolicySet* set, const Item& item,
            const CallerInfo& caller, const DeciderOptions& options,
            v1::CheckResponse* response) {
  const absl::Time start = absl::Now();
  const engine::Result* result =
      DecideItem(set, item, caller, options, start, response);
  if (options.observer == nullptr) return;
  options.observer->OnDecision(DecisionEvent{
      .response = *response,
      .result = result,
      .subject_id = item.subject.id(),
      .tool_server = item.tool.server(),
      .tool_name = item.tool.name(),
      .action = item.action,
      .resource = item.resource,
      .context = item.context,
      .latency = absl::Now() - start,
  });
}

}  // namespace

void Decider::Check(const v1::CheckRequest& request, const CallerInfo& caller,
                    v1::CheckResponse* response) const {
  const std::shared_ptr<const policy::PolicySet>& set = store_->Current();
  const Item item{
      request.has_credentials() ? &request.credentials() : nullptr,
      request.subject(),
      request.has_context() ? &request.context() : nullptr,
      request.tool(),
      request.action(),
      request.has_resource() ? &request.resource() : nullptr,
      request.explain(),
  };
  Decide(set.get(), item, caller, options_, response);
}

absl::Status Decider::CheckBatch(const v1::CheckBatchRequest& request,
                                 const CallerInfo& caller,
                                 v1::CheckBatchResponse* response) const {
  if (request.items_size() > kMaxBatchItems) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch holds at most ", kMaxBatchItems, " items, not ",
                     request.items_size()));
  }
  // One set for the whole batch, so every item sees the same revision.
  const std::shared_ptr<const policy::PolicySet>& set = store_->Current();
  const v1::Credentials* credentials =
      request.has_credentials() ? &request.credentials() : nullptr;
  const Struct* context = request.has_context() ? &request.context() : nullptr;
  response->mutable_results()->Reserve(request.items_size());
  for (const v1::CheckBatchItem& batch_item : request.items()) {
    const Item item{
        credentials,
        request.subject(),
        context,
        batch_item.tool(),
        batch_item.action(),
        batch_item.has_resource() ? &batch_item.resource() : nullptr,
        request.explain(),
    };
    Decide(set.get(), item, caller, options_, response->add_results());
  }
  if (set != nullptr) response->set_policy_revision(set->revision());
  for (const v1::CheckResponse& result : response->results()) {
    if (result.has_identity()) {
      *response->mutable_identity() = result.identity();
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace verdict::service
