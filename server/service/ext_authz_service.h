// envoy.service.auth.v3.Authorization: Envoy's ext_authz gRPC service, an
// edge of the Decider for MCP servers behind an Envoy gateway
// (docs/gateways.md), served on verdictd's gRPC port.
//
// Like AuthorizerService it is served on the asynchronous API with its
// method registered raw, and only translates (ext_authz_translation.h): a
// call is decided by the Decider's Check (its record's source "ext_authz"),
// or for a session or listing method verified by its Authenticate, so
// metrics, the decision log and the answer are Authorizer.Check's. The
// caller is the gateway: CallerTrust names it, and its `assert_identity`
// permission decides whether source.principal is honoured, as the subject
// of a decision and as the identity of a session. The Decider and
// CallerTrust must outlive the service.

#ifndef VERDICT_SERVER_SERVICE_EXT_AUTHZ_SERVICE_H_
#define VERDICT_SERVER_SERVICE_EXT_AUTHZ_SERVICE_H_

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "server/decision/decider.h"
#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "server/service/ext_authz_translation.h"

namespace verdict::service {

class ExtAuthzService {
 public:
  ExtAuthzService(const decision::Decider* decider, const CallerTrust* callers,
                  ExtAuthzOptions options);
  ExtAuthzService(const ExtAuthzService&) = delete;
  ExtAuthzService& operator=(const ExtAuthzService&) = delete;

  grpc::Service* grpc_service() { return &service_; }
  // Posts requests for the first calls on every queue.
  void Start(const CompletionQueues& queues);

 private:
  using Async = envoy::service::auth::v3::Authorization::WithRawMethod_Check<
      envoy::service::auth::v3::Authorization::Service>;
  using CheckCall =
      AsyncUnaryCall<Async, envoy::service::auth::v3::CheckRequest,
                     envoy::service::auth::v3::CheckResponse, Wire::kRaw>;

  void Check(CheckCall* call) const;

  const decision::Decider* const decider_;
  const CallerTrust* const callers_;
  const ExtAuthzOptions options_;
  Async service_;
  const CheckCall::Method check_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_EXT_AUTHZ_SERVICE_H_
