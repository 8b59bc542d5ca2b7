#include "server/service/grants_service.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/decision/proto_time.h"
#include "server/decision/translation.h"
#include "server/grants/grant.h"
#include "server/model/reason.h"

namespace verdict::service {
namespace {

using decision::FromProto;
using decision::SetTimestamp;
using model::ReasonCode;

constexpr absl::Duration kActiveRefreshPeriod = absl::Seconds(5);

grants::ScopeItem FromProto(const v1::ScopeItem& item) {
  return grants::ScopeItem{.tool_server = item.tool_server(),
                           .tool_name = item.tool_name(),
                           .action = item.action(),
                           .resource = item.resource()};
}

void ToProto(const grants::ScopeItem& item, v1::ScopeItem* out) {
  out->set_tool_server(item.tool_server);
  out->set_tool_name(item.tool_name);
  out->set_action(item.action);
  out->set_resource(item.resource);
}

void ToProto(const grants::Task& task, v1::Task* out) {
  out->set_id(task.id);
  out->set_purpose(task.purpose);
  out->set_environment(task.environment);
}

void SetReason(ReasonCode code, std::string_view message, v1::Reason* out) {
  out->set_code(std::string(model::ReasonCodeName(code)));
  out->set_message(std::string(message));
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// The batch item that asks whether the requester may do `item`.
void ToBatchItem(const grants::ScopeItem& item, v1::CheckBatchItem* out) {
  out->mutable_tool()->set_server(item.tool_server);
  out->mutable_tool()->set_name(item.tool_name);
  out->set_action(item.action.empty() ? std::string(grants::kDefaultAction)
                                      : item.action);
  if (!item.resource.empty()) {
    const size_t colon = item.resource.find(':');
    out->mutable_resource()->set_kind(item.resource.substr(0, colon));
    out->mutable_resource()->set_id(item.resource.substr(colon + 1));
  }
}

// The context the items are decided in: the request's, with `task_id` and
// `environment` from the task where it lacks them.
void TaskContext(const v1::IssueGrantRequest& issue, const grants::Task& task,
                 google::protobuf::Struct* context) {
  if (issue.has_context()) *context = issue.context();
  auto& fields = *context->mutable_fields();
  if (!fields.contains("task_id")) fields["task_id"].set_string_value(task.id);
  if (!task.environment.empty() && !fields.contains("environment")) {
    fields["environment"].set_string_value(task.environment);
  }
}

}  // namespace

GrantsService::GrantsService(const decision::Decider* decider,
                             const CallerTrust* callers,
                             const GrantsOptions& options)
    : decider_(decider),
      callers_(callers),
      options_(options),
      issue_{&service_, &Async::RequestIssue,
             [this](IssueCall* call) { Issue(call); }},
      revoke_{&service_, &Async::RequestRevoke,
              [this](RevokeCall* call) { Revoke(call); }},
      introspect_{&service_, &Async::RequestIntrospect,
                  [this](IntrospectCall* call) { Introspect(call); }},
      refresher_([this] { RefreshEvery(kActiveRefreshPeriod); }) {}

GrantsService::~GrantsService() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  refresher_.join();
}

void GrantsService::Start(const CompletionQueues& queues) {
  for (const auto& queue : queues.queues()) {
    IssueCall::Post(&issue_, queue.get());
    RevokeCall::Post(&revoke_, queue.get());
    IntrospectCall::Post(&introspect_, queue.get());
  }
}

bool GrantsService::Permitted(const grpc::ServerContextBase& context,
                              decision::CallerInfo* caller) const {
  Caller resolved = callers_->Resolve(context);
  if (!resolved.may.grants) return false;
  *caller =
      decision::CallerInfo{.trusted = true,
                           .id = std::move(resolved.id),
                           .may_assert_identity = resolved.may.assert_identity,
                           .refusal = {}};
  return true;
}

template <typename Call>
bool GrantsService::Admitted(Call* call, decision::CallerInfo* caller) const {
  if (Permitted(call->context(), caller)) return true;
  call->Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                            callers_->RefusalMessage("Grants", "grants")));
  return false;
}

void GrantsService::Issue(IssueCall* call) {
  decision::CallerInfo caller;
  if (!Admitted(call, &caller)) return;
  const v1::IssueGrantRequest& request = call->request();
  v1::IssueGrantResponse* response = call->response();
  // Whole seconds, as the token records them, so expires_at below is the
  // token's exp.
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  const grants::Task task{.id = request.task().id(),
                          .purpose = request.task().purpose(),
                          .environment = request.task().environment()};
  std::vector<grants::ScopeItem> scope;
  scope.reserve(request.scope_size());
  for (const v1::ScopeItem& item : request.scope()) {
    scope.push_back(FromProto(item));
  }
  absl::Status valid = grants::ValidateTask(task);
  if (valid.ok()) valid = grants::ValidateScope(scope);
  // A negative TTL is a client bug, not a request for the longest grant.
  if (valid.ok() &&
      (request.ttl().seconds() < 0 || request.ttl().nanos() < 0)) {
    valid = absl::InvalidArgumentError("ttl must not be negative");
  }
  if (!valid.ok()) {
    SetReason(ReasonCode::kInvalidRequest, std::string(valid.message()),
              response->add_reasons());
    call->Finish(grpc::Status::OK);
    return;
  }
  // A replica that may have missed revocations must not hand out grants
  // another replica would refuse.
  if (options_.shared != nullptr &&
      !options_.issue_without_shared_revocations && !options_.shared->up()) {
    call->Finish(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "this replica is not following the fleet's shared revocations "
        "(Redis unreachable or resyncing), so it issues no grants; retry "
        "or ask another replica"));
    return;
  }
  if (options_.revocations->IsRevoked({}, task.id)) {
    SetReason(ReasonCode::kGrantRevoked,
              absl::StrCat("task ", task.id, " is revoked"),
              response->add_reasons());
    call->Finish(grpc::Status::OK);
    return;
  }
  const decision::Authenticated requester = decider_->Identify(
      request.has_credentials() ? &request.credentials() : nullptr,
      request.subject(), caller, call->received());
  if (!requester.ok) {
    SetReason(requester.code, requester.message, response->add_reasons());
    call->Finish(grpc::Status::OK);
    return;
  }

  google::protobuf::RepeatedPtrField<v1::CheckBatchItem> items;
  items.Reserve(static_cast<int>(scope.size()));
  for (const grants::ScopeItem& item : scope) ToBatchItem(item, items.Add());
  google::protobuf::Struct context;
  TaskContext(request, task, &context);
  grants::GrantClaims claims;
  size_t index = 0;
  decider_->DecideBatch(
      requester,
      decision::BatchInput{.subject = &request.subject(),
                           .context = &context,
                           .items = &items,
                           .source = "Grants.Issue"},
      caller, call->received(), [&](const decision::Outcome& outcome) {
        const grants::ScopeItem& item = scope[index++];
        response->set_policy_revision(std::string(outcome.policy_revision()));
        if (outcome.allowed()) {
          claims.scope.push_back(item);
          ToProto(item, response->add_granted());
          return;
        }
        v1::RefusedItem* refused = response->add_refused();
        ToProto(item, refused->mutable_item());
        decision::TranslateReasons(outcome, refused->mutable_reasons());
      });
  if (claims.scope.empty()) {
    call->Finish(grpc::Status::OK);
    return;
  }

  absl::Duration ttl = FromProto(request.ttl());
  if (ttl == absl::ZeroDuration()) ttl = options_.max_ttl;
  ttl = std::min(ttl, options_.max_ttl);
  absl::StatusOr<std::string> id = grants::NewGrantId();
  if (!id.ok()) {
    call->Finish(ToGrpc(id.status()));
    return;
  }
  const authn::Identity& identity = *requester.requester;
  claims.id = *std::move(id);
  claims.subject = identity.subject;
  claims.roles = identity.roles;
  claims.scopes = identity.scopes;
  claims.attributes = identity.attributes;
  claims.trust_domain = identity.trust_domain;
  claims.auth_method = identity.method;
  claims.task = task;
  claims.issued_at = now;
  // A grant never outlives the credential that earned it.
  claims.expires_at = absl::FromUnixSeconds(
      absl::ToUnixSeconds(std::min(now + ttl, identity.expires_at)));
  if (claims.expires_at <= now) {
    SetReason(ReasonCode::kTokenExpired,
              "the requester's credential expires within a second",
              response->add_reasons());
    call->Finish(grpc::Status::OK);
    return;
  }
  absl::StatusOr<std::string> token = options_.signer->Sign(claims);
  if (!token.ok()) {
    call->Finish(ToGrpc(token.status()));
    return;
  }
  active_.Issued(claims.id, claims.task.id, claims.expires_at, now);
  if (options_.metrics != nullptr) options_.metrics->CountGrantIssued();
  RefreshActive();
  Log(LogLevel::kInfo, "issued grant ", claims.id, " for task ", task.id,
      " to ", claims.subject, ": ", claims.scope.size(), " of ", scope.size(),
      " items, until ", absl::FormatTime(claims.expires_at));
  response->set_grant_token(*std::move(token));
  response->set_grant_id(claims.id);
  SetTimestamp(claims.expires_at, response->mutable_expires_at());
  call->Finish(grpc::Status::OK);
}

void GrantsService::Revoke(RevokeCall* call) {
  decision::CallerInfo caller;
  if (!Admitted(call, &caller)) return;
  const v1::RevokeGrantRequest& request = call->request();
  const absl::Time now = absl::Now();
  const size_t revocations_before = options_.revocations->revoked_grants() +
                                    options_.revocations->revoked_tasks();
  // With a fleet, Redis says whether the revocation is new: this replica's
  // follower may have applied it to the local list first.
  bool new_in_fleet = false;
  auto revoke = [&](grants::RevocationList::Kind kind,
                    const std::string& id) -> absl::Status {
    if (options_.shared == nullptr) {
      return options_.revocations->Record(kind, id, now).status();
    }
    absl::StatusOr<bool> shared = options_.shared->Revoke(kind, id, now);
    if (!shared.ok()) return shared.status();
    new_in_fleet = *shared;
    return absl::OkStatus();
  };
  absl::Status revoked;
  switch (request.target_case()) {
    case v1::RevokeGrantRequest::kGrantId:
      revoked =
          revoke(grants::RevocationList::Kind::kGrant, request.grant_id());
      if (revoked.ok()) active_.RevokeGrant(request.grant_id());
      break;
    case v1::RevokeGrantRequest::kTaskId:
      revoked = revoke(grants::RevocationList::Kind::kTask, request.task_id());
      if (revoked.ok()) active_.RevokeTask(request.task_id());
      break;
    case v1::RevokeGrantRequest::TARGET_NOT_SET:
      revoked = absl::InvalidArgumentError("grant_id or task_id is required");
      break;
  }
  // Revoking again is fine and changes nothing, so it is not counted.
  const bool written =
      new_in_fleet || options_.revocations->revoked_grants() +
                              options_.revocations->revoked_tasks() >
                          revocations_before;
  if (revoked.ok() && written) {
    if (options_.metrics != nullptr) options_.metrics->CountGrantRevoked();
    RefreshActive();
    Log(LogLevel::kInfo, "revoked ",
        request.has_grant_id() ? "grant " : "task ",
        request.has_grant_id() ? request.grant_id() : request.task_id(),
        " for ", caller.id);
  }
  call->Finish(ToGrpc(revoked));
}

void GrantsService::Introspect(IntrospectCall* call) {
  decision::CallerInfo caller;
  if (!Admitted(call, &caller)) return;
  v1::IntrospectGrantResponse* response = call->response();
  const absl::Time now = absl::Now();
  const grants::GrantOutcome outcome =
      options_.signer->verifier().Verify(call->request().grant_token(), now);
  const grants::GrantClaims* claims =
      outcome.ok() ? &outcome.grant->claims() : outcome.claims.get();
  if (!outcome.ok()) {
    SetReason(outcome.code, outcome.message, response->mutable_reason());
  } else if (options_.revocations->IsRevoked(claims->id, claims->task.id)) {
    SetReason(ReasonCode::kGrantRevoked,
              absl::StrCat("grant ", claims->id, " of task ", claims->task.id,
                           " is revoked"),
              response->mutable_reason());
  } else {
    response->set_active(true);
  }
  if (claims != nullptr) {
    response->set_grant_id(claims->id);
    ToProto(claims->task, response->mutable_task());
    response->set_subject_id(claims->subject);
    for (const grants::ScopeItem& item : claims->scope) {
      ToProto(item, response->add_scope());
    }
    SetTimestamp(claims->issued_at, response->mutable_issued_at());
    SetTimestamp(claims->expires_at, response->mutable_expires_at());
  }
  call->Finish(grpc::Status::OK);
}

void GrantsService::RefreshActive() {
  if (options_.metrics == nullptr) return;
  options_.metrics->SetGrantsActive(
      static_cast<int64_t>(active_.Count(absl::Now())));
}

void GrantsService::RefreshEvery(absl::Duration period) {
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) {
    mu_.Unlock();
    RefreshActive();
    mu_.Lock();
  }
}

}  // namespace verdict::service
