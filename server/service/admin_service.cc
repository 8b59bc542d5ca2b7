#include "server/service/admin_service.h"

#include "server/decision/proto_time.h"
#include "server/service/caller_trust.h"

namespace verdict::service {
namespace {

using decision::SetDuration;
using decision::SetTimestamp;

constexpr char kVersion[] = "0.1.0";

v1::StatusResponse::WatchState WatchStateProto(WatchState state) {
  switch (state) {
    case WatchState::kOff:
      return v1::StatusResponse::WATCH_OFF;
    case WatchState::kWatching:
      return v1::StatusResponse::WATCHING;
    case WatchState::kDirectoryMissing:
      return v1::StatusResponse::WATCH_DIRECTORY_MISSING;
    case WatchState::kError:
      break;
  }
  return v1::StatusResponse::WATCH_ERROR;
}

}  // namespace

AdminService::AdminService(const decision::PolicyStore* store,
                           Reloader* reloader, const CallerTrust* callers,
                           absl::Time start_time,
                           const fleet::SharedRevocations* shared,
                           bool issue_without_shared)
    : store_(store),
      reloader_(reloader),
      callers_(callers),
      start_time_(start_time),
      shared_(shared),
      issue_without_shared_(issue_without_shared),
      status_{&service_, &Async::RequestStatus,
              [this](StatusCall* call) { Status(call); }},
      reload_{&service_, &Async::RequestReload,
              [this](ReloadCall* call) { Reload(call); }} {}

void AdminService::Start(const CompletionQueues& queues) {
  for (const auto& queue : queues.queues()) {
    StatusCall::Post(&status_, queue.get());
    ReloadCall::Post(&reload_, queue.get());
  }
}

grpc::Status AdminService::Permission(
    const grpc::ServerContextBase& context) const {
  if (callers_->Resolve(context).may.admin) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      callers_->RefusalMessage("Admin", "admin"));
}

void AdminService::Status(StatusCall* call) const {
  if (grpc::Status refused = Permission(call->context()); !refused.ok()) {
    call->Finish(refused);
    return;
  }
  v1::StatusResponse* response = call->response();
  const decision::StoreStatus status = store_->Status();
  response->set_policy_revision(status.revision);
  response->set_rule_count(status.rule_count);
  response->set_policy_count(status.policy_count);
  if (status.last_reload_time != absl::InfinitePast()) {
    SetTimestamp(status.last_reload_time, response->mutable_last_reload_time());
  }
  response->set_last_reload_ok(status.last_reload_ok);
  for (const std::string& error : status.last_reload_errors) {
    response->add_last_reload_errors(error);
  }
  SetDuration(absl::Now() - start_time_, response->mutable_uptime());
  response->set_version(kVersion);
  response->set_policy_dir(status.dir);
  response->set_watch_state(WatchStateProto(status.watch.state));
  response->set_watch_error(status.watch.message);
  if (shared_ != nullptr) {
    const fleet::SharedStateStatus shared = shared_->Status();
    v1::SharedState* out = response->mutable_shared_state();
    out->set_configured(true);
    out->set_address(shared.address);
    out->set_up(shared.up);
    SetDuration(shared.lag, out->mutable_lag());
    out->set_last_error(shared.last_error);
    if (shared.last_error_time != absl::InfinitePast()) {
      SetTimestamp(shared.last_error_time, out->mutable_last_error_time());
    }
    out->set_revocations_applied(shared.applied);
    out->set_resyncs(shared.resyncs);
    out->set_issues_grants(shared.up || issue_without_shared_);
  }
  call->Finish(grpc::Status::OK);
}

void AdminService::Reload(ReloadCall* call) const {
  if (grpc::Status refused = Permission(call->context()); !refused.ok()) {
    call->Finish(refused);
    return;
  }
  // The call stays valid until Finish, which the reloader calls exactly once
  // (also when it shuts down with the request still queued).
  reloader_->Request([call](const decision::ReloadOutcome& outcome) {
    v1::ReloadResponse* response = call->response();
    response->set_ok(outcome.ok);
    response->set_policy_revision(outcome.revision);
    for (const std::string& error : outcome.errors) {
      response->add_errors(error);
    }
    call->Finish(grpc::Status::OK);
  });
}

}  // namespace verdict::service
