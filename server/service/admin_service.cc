#include "server/service/admin_service.h"

#include "server/service/caller_trust.h"

namespace verdict::service {
namespace {

constexpr char kVersion[] = "0.1.0";

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::Refuse(
    grpc::CallbackServerContext* context) const {
  if (callers_->Resolve(*context).may.admin) return nullptr;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status(
      grpc::StatusCode::PERMISSION_DENIED,
      callers_->tls() ? "the caller may not use the Admin service (callers: "
                        "admin)"
                      : "without TLS only loopback callers may use the Admin "
                        "service"));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Status(
    grpc::CallbackServerContext* context, const v1::StatusRequest* request,
    v1::StatusResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context)) return refused;
  const StoreStatus status = store_->Status();
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
  const absl::Duration uptime = absl::Now() - start_time_;
  response->mutable_uptime()->set_seconds(absl::ToInt64Seconds(uptime));
  response->mutable_uptime()->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(uptime % absl::Seconds(1))));
  response->set_version(kVersion);
  response->set_policy_dir(status.dir);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Reload(
    grpc::CallbackServerContext* context, const v1::ReloadRequest* request,
    v1::ReloadResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context)) return refused;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The response and reactor stay valid until Finish, which the reloader
  // calls exactly once.
  reloader_->Request([reactor, response](const ReloadOutcome& outcome) {
    response->set_ok(outcome.ok);
    response->set_policy_revision(outcome.revision);
    for (const std::string& error : outcome.errors) {
      response->add_errors(error);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace verdict::service
