// AuthZenService: the OpenID AuthZEN Authorization API 1.0 served by
// verdictd over HTTP(S)/JSON (docs/gateways.md, "AuthZEN"), an edge of the
// Decider like Authorizer and Envoy ext_authz: it only translates
// (authzen_translation.h), so policies, metrics, the decision log, grants
// and delegation are Authorizer.Check's.
//
// Endpoints (HttpRoutes for an HttpListener):
// - POST /access/v1/evaluation: one Decider::Check.
// - POST /access/v1/evaluations: one Check per evaluation, in order; with
//   deny_on_first_deny the first deny ends the batch, with
//   permit_on_first_permit the first permit does, and the answer holds the
//   evaluations decided up to there.
// - POST /access/v1/search/action and /access/v1/search/resource: one
//   Decider::CheckBatch each (resource search as a listing).
// - POST /access/v1/search/subject: 501, subjects cannot be enumerated.
// - GET /.well-known/authzen-configuration: the metadata, with absolute
//   URLs on the request's Host when it is a well-formed authority, else on
//   the listener's bound address.
// - GET /.well-known/jwks.json: what `grant_jwks` returns (404 without it).
//
// The caller is named by CallerTrust from the HTTP peer (its SPIFFE ID over
// TLS); one without the `check` permission gets 403 and nothing is decided.
// The agent's credential is an HTTP header: Authorization: Bearer <JWT>, or
// Verdict-Grant-Token: <grant token>, with Verdict-Actor-Tokens: <JWT>, ...
// for a delegation chain (nearest actor first). It wins over an asserted
// subject exactly as in Check, and is never echoed or logged. The Decider
// and CallerTrust must outlive the service; safe from any thread.

#ifndef VERDICT_SERVER_AUTHZEN_AUTHZEN_SERVICE_H_
#define VERDICT_SERVER_AUTHZEN_AUTHZEN_SERVICE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/authzen/authzen_translation.h"
#include "server/authzen/http_listener.h"
#include "server/decision/decider.h"
#include "server/service/caller_trust.h"

namespace verdict::authzen {

struct AuthZenOptions {
  int max_context_depth = 16;  // limits.max_context_depth
  // The grant key set (a JWK Set) served at /.well-known/jwks.json; null:
  // 404.
  std::function<std::string()> grant_jwks;
};

class AuthZenService {
 public:
  AuthZenService(const decision::Decider* decider,
                 const service::CallerTrust* callers, AuthZenOptions options);
  AuthZenService(const AuthZenService&) = delete;
  AuthZenService& operator=(const AuthZenService&) = delete;

  // The routes, which point to this service.
  std::vector<HttpRoute> Routes() const;

 private:
  HttpResponse Evaluation(const HttpRequest& request) const;
  HttpResponse EvaluationsEndpoint(const HttpRequest& request) const;
  HttpResponse ActionSearch(const HttpRequest& request) const;
  HttpResponse ResourceSearch(const HttpRequest& request) const;
  HttpResponse Metadata(const HttpRequest& request) const;
  HttpResponse Jwks(const HttpRequest& request) const;

  // What every POST handler starts from.
  struct Prepared {
    decision::CallerInfo caller;
    RequestFrame frame;
    nlohmann::json body;
    absl::Time received;
  };
  // False with the answer in `*refusal` (403 for an untrusted caller, 400
  // for bad credential headers or a malformed body).
  bool Prepare(const HttpRequest& request, Prepared* out,
               HttpResponse* refusal) const;
  HttpResponse Answer(const HttpRequest& request,
                      const nlohmann::json& answer) const;
  HttpResponse Searched(const HttpRequest& request, const Prepared& prepared,
                        absl::StatusOr<Search> search) const;

  const decision::Decider* const decider_;
  const service::CallerTrust* const callers_;
  const AuthZenOptions options_;
};

}  // namespace verdict::authzen

#endif  // VERDICT_SERVER_AUTHZEN_AUTHZEN_SERVICE_H_
