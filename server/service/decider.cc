#include "server/service/decider.h"

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/authn/identity.h"
#include "server/engine/engine.h"
#include "server/engine/reason.h"
#include "server/engine/request.h"
#include "server/grants/grant.h"
#include "server/service/decision_id.h"
#include "server/service/proto_time.h"
#include "server/service/request_validation.h"
#include "server/service/result_translation.h"

namespace verdict::service {
namespace {

using engine::ReasonCode;
using google::protobuf::Struct;

constexpr std::string_view kAsserted = "asserted";

// Actor tokens beyond this many are an invalid request: each costs a
// signature verification and an evaluation.
constexpr int kMaxActorTokens = 8;

// The verified credentials of one request, shared by a batch's items. It owns
// the identities, so the Principals borrowed from them stay valid through
// every evaluation. Without credentials nothing is allocated.
struct Authenticated {
  bool ok = true;
  ReasonCode code = ReasonCode::kUnauthenticated;  // when !ok
  std::string message;                             // when !ok
  std::string_view failed_method;  // when a credential did not verify
  std::shared_ptr<const authn::Identity> subject;  // from a JWT or X.509-SVID
  std::shared_ptr<const grants::VerifiedGrant> grant;  // from a grant token
  std::vector<std::shared_ptr<const authn::Identity>> actors;  // nearest first
  std::vector<engine::Principal> actor_principals;  // borrow from `actors`
  engine::StringList chain;                         // actor ids
  absl::Time expires_at = absl::InfiniteFuture();   // the earliest expiry
};

// The parts of one decision; a batch shares subject, context and credentials.
struct Item {
  const Authenticated& auth;
  const v1::Subject& subject;
  const Struct* context;  // null: absent
  const v1::Tool& tool;
  std::string_view action;
  const v1::Resource* resource;  // null: absent
  bool explain;
  // Whether the response says who the decision is about; not for a batch's
  // items, whose batch says it once.
  bool says_identity;
};

void Fail(ReasonCode code, std::string message, metrics::AuthMethod method,
          const DeciderOptions& options, Authenticated* out) {
  out->ok = false;
  out->code = code;
  out->message = std::move(message);
  out->failed_method = metrics::AuthMethodName(method);
  if (options.metrics != nullptr) {
    options.metrics->CountAuthnFailure(method, code);
  }
}

// Verifies `credential` with `authenticator` (null: not configured); on
// failure fills `out` and returns null. `what` prefixes the message.
std::shared_ptr<const authn::Identity> Verify(
    const authn::Authenticator* authenticator, std::string_view credential,
    metrics::AuthMethod method, std::string_view what,
    const DeciderOptions& options, absl::Time now, Authenticated* out) {
  if (authenticator == nullptr) {
    Fail(ReasonCode::kUnauthenticated,
         absl::StrCat(absl::string_view(what.data(), what.size()),
                      ": no issuer configured"),
         method, options, out);
    return nullptr;
  }
  authn::AuthOutcome outcome = authenticator->Authenticate(credential, now);
  if (!outcome.ok()) {
    Fail(outcome.code,
         absl::StrCat(absl::string_view(what.data(), what.size()), ": ",
                      outcome.message),
         method, options, out);
    return nullptr;
  }
  out->expires_at = std::min(out->expires_at, outcome.identity->expires_at);
  return std::move(outcome.identity);
}

// Verifies a grant token and checks that neither the grant nor its task is
// revoked; on failure fills `out` and returns null.
std::shared_ptr<const grants::VerifiedGrant> VerifyGrant(
    std::string_view token, const DeciderOptions& options, absl::Time now,
    Authenticated* out) {
  if (options.grants == nullptr || options.revocations == nullptr) {
    Fail(ReasonCode::kUnauthenticated, "grant_token: grants are not enabled",
         metrics::AuthMethod::kGrant, options, out);
    return nullptr;
  }
  grants::GrantOutcome outcome = options.grants->Verify(token, now);
  if (!outcome.ok()) {
    Fail(outcome.code, absl::StrCat("grant_token: ", outcome.message),
         metrics::AuthMethod::kGrant, options, out);
    return nullptr;
  }
  const grants::GrantClaims& claims = outcome.grant->claims();
  if (options.revocations->IsRevoked(claims.id, claims.task.id)) {
    Fail(ReasonCode::kGrantRevoked,
         absl::StrCat("grant_token: grant ", claims.id, " of task ",
                      claims.task.id, " is revoked"),
         metrics::AuthMethod::kGrant, options, out);
    return nullptr;
  }
  out->expires_at = std::min(out->expires_at, claims.expires_at);
  return std::move(outcome.grant);
}

// Verifies every credential of a request before any rule runs.
Authenticated Authenticate(const v1::Credentials* credentials,
                           const DeciderOptions& options, absl::Time now) {
  Authenticated out;
  if (credentials == nullptr) return out;
  switch (credentials->credential_case()) {
    case v1::Credentials::kBearerToken:
      out.subject =
          Verify(options.jwt, credentials->bearer_token(),
                 metrics::AuthMethod::kJwt, "bearer_token", options, now, &out);
      break;
    case v1::Credentials::kX509Svid:
      out.subject =
          Verify(options.x509, credentials->x509_svid(),
                 metrics::AuthMethod::kX509, "x509_svid", options, now, &out);
      break;
    case v1::Credentials::kGrantToken:
      out.grant = VerifyGrant(credentials->grant_token(), options, now, &out);
      break;
    case v1::Credentials::CREDENTIAL_NOT_SET:
      break;
  }
  if (!out.ok || credentials->actor_tokens().empty()) return out;
  if (credentials->actor_tokens_size() > kMaxActorTokens) {
    out.ok = false;
    out.code = ReasonCode::kInvalidRequest;
    out.message = absl::StrCat("at most ", kMaxActorTokens,
                               " actor_tokens are accepted, not ",
                               credentials->actor_tokens_size());
    return out;
  }
  out.actors.reserve(credentials->actor_tokens_size());
  for (int i = 0; i < credentials->actor_tokens_size(); ++i) {
    std::shared_ptr<const authn::Identity> actor = Verify(
        options.jwt, credentials->actor_tokens(i), metrics::AuthMethod::kJwt,
        absl::StrCat("actor_tokens[", i, "]"), options, now, &out);
    if (actor == nullptr) return out;
    out.actors.push_back(std::move(actor));
  }
  // Only once `actors` is complete: the Principals point into it.
  out.actor_principals.reserve(out.actors.size());
  for (const std::shared_ptr<const authn::Identity>& actor : out.actors) {
    out.actor_principals.push_back(actor->AsPrincipal());
    out.chain.Add(std::string(actor->subject));
  }
  return out;
}

void Deny(ReasonCode code, std::string_view message,
          v1::CheckResponse* response) {
  response->set_decision(v1::DENY);
  v1::Reason* reason = response->add_reasons();
  reason->set_code(std::string(engine::ReasonCodeName(code)));
  reason->set_message(std::string(message));
}

void FillFromResult(const engine::Result& result, bool explain,
                    absl::Duration cache_ttl, v1::CheckResponse* response) {
  FillResponseFromResult(result, explain, response);
  // Clock-dependent answers are not reusable; denies are re-asked so that a
  // fixed policy or condition takes effect at once.
  SetDuration(
      result.decision == engine::Decision::kAllow && !result.time_dependent
          ? cache_ttl
          : absl::ZeroDuration(),
      response->mutable_cache_ttl());
}

// Says who `auth` (or, without a credential, the asserted `subject`) proved,
// until when, and through which delegation chain.
void DescribeIdentity(const Authenticated& auth, const v1::Subject& subject,
                      v1::Identity* identity) {
  if (auth.grant != nullptr) {
    identity->set_subject(auth.grant->claims().subject);
    identity->set_method(std::string(grants::kGrantAuthMethod));
    identity->set_issuer(std::string(grants::kGrantIssuer));
  } else if (auth.subject != nullptr) {
    identity->set_subject(auth.subject->subject);
    identity->set_method(auth.subject->method);
    identity->set_issuer(auth.subject->issuer);
  } else {
    identity->set_subject(subject.id());
    identity->set_method(std::string(kAsserted));
  }
  if (auth.expires_at != absl::InfiniteFuture()) {
    SetTimestamp(auth.expires_at, identity->mutable_expires_at());
  }
  if (!auth.chain.empty()) *identity->mutable_delegation_chain() = auth.chain;
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
         caller.refusal.empty() ? "the caller may not call Check"
                                : caller.refusal,
         response);
    return nullptr;
  }
  const Authenticated& auth = item.auth;
  if (!auth.ok) {
    Deny(auth.code, auth.message, response);
    return nullptr;
  }
  const bool asserted = auth.subject == nullptr && auth.grant == nullptr;
  if (asserted && !caller.may_assert_identity) {
    if (item.subject.id().empty()) {
      Deny(ReasonCode::kUnauthenticated, "a credential is required", response);
    } else {
      Deny(ReasonCode::kCallerNotTrusted,
           "the caller may not assert identities: send a credential", response);
    }
    return nullptr;
  }
  if (const std::string problem = RequestProblem(
          RequestParts{
              .subject = asserted ? &item.subject : nullptr,
              .tool = &item.tool,
              .action = item.action,
              .resource = item.resource,
              .context = item.context,
          },
          options.max_context_depth);
      !problem.empty()) {
    Deny(ReasonCode::kInvalidRequest, problem, response);
    return nullptr;
  }
  if (auth.grant != nullptr &&
      !grants::ScopeAllows(
          auth.grant->claims().scope, item.tool.server(), item.tool.name(),
          item.action,
          item.resource != nullptr ? item.resource->kind() : std::string_view(),
          item.resource != nullptr ? item.resource->id()
                                   : std::string_view())) {
    Deny(ReasonCode::kGrantScope,
         absl::StrCat("the request is outside the scope of grant ",
                      auth.grant->claims().id),
         response);
    return nullptr;
  }
  if (set == nullptr) {
    Deny(ReasonCode::kEvaluationError, "no policy set is loaded", response);
    return nullptr;
  }
  if (item.says_identity) {
    DescribeIdentity(auth, item.subject, response->mutable_identity());
  }
  engine::Request request;
  if (asserted) {
    request.subject = AssertedPrincipal(item.subject);
  } else if (auth.grant != nullptr) {
    request.subject = auth.grant->AsPrincipal();
    request.grant = auth.grant->AsEngineGrant();
  } else {
    request.subject = auth.subject->AsPrincipal();
  }
  if (!auth.actor_principals.empty()) {
    request.actor = &auth.actor_principals.front();
    request.delegation.depth = static_cast<int>(auth.actor_principals.size());
    request.delegation.chain = &auth.chain;
  }
  thread_local google::protobuf::Struct annotations_scratch;
  FillEngineRequest(item.tool, item.action, item.resource, item.context,
                    &annotations_scratch, &request);
  request.now = now;

  engine::EvalOptions eval_options;
  eval_options.explain = item.explain;
  thread_local engine::EvalScratch scratch;
  thread_local engine::Result result;
  engine::Evaluate(*set, request, eval_options, &scratch, &result);
  // A reused allow must not outlive the credentials that earned it.
  const absl::Duration cache_ttl = std::clamp(
      auth.expires_at - now, absl::ZeroDuration(), options.cache_ttl);
  FillFromResult(result, item.explain, cache_ttl, response);
  if (result.decision != engine::Decision::kAllow) return &result;

  // Delegation narrows (spec section 5): each actor must be allowed too.
  thread_local engine::Result actor_result;
  for (const engine::Principal& actor : auth.actor_principals) {
    engine::Request as_actor = request;
    as_actor.subject = actor;
    eval_options.explain = false;
    engine::Evaluate(*set, as_actor, eval_options, &scratch, &actor_result);
    if (actor_result.decision == engine::Decision::kAllow) {
      if (actor_result.time_dependent) {
        SetDuration(absl::ZeroDuration(), response->mutable_cache_ttl());
      }
      continue;
    }
    response->clear_reasons();
    response->clear_obligations();
    const std::string_view why =
        actor_result.reasons.empty()
            ? std::string_view("no_matching_rule")
            : engine::ReasonCodeName(actor_result.reasons.front().code);
    // The id comes from a token: a batch repeats this message per item.
    const std::string_view actor_id = actor.id.substr(0, kMaxIdBytes);
    Deny(ReasonCode::kDelegationDenied,
         absl::StrCat("actor ",
                      absl::string_view(actor_id.data(), actor_id.size()),
                      " is not allowed (",
                      absl::string_view(why.data(), why.size()), ")"),
         response);
    SetDuration(absl::ZeroDuration(), response->mutable_cache_ttl());
    return &actor_result;
  }
  return &result;
}

// Replaces whatever was decided with a deny that says the decision log
// cannot take it (audit.on_failure: deny).
void DenyUnrecorded(v1::CheckResponse* response) {
  response->clear_reasons();
  response->clear_obligations();
  response->clear_trace();
  Deny(ReasonCode::kAuditUnavailable,
       "the decision log cannot be written and audit.on_failure is deny",
       response);
  SetDuration(absl::ZeroDuration(), response->mutable_cache_ttl());
}

// The subject a decision is about, for the decision log.
std::string_view SubjectIdOf(const Item& item) {
  if (item.auth.subject != nullptr) return item.auth.subject->subject;
  if (item.auth.grant != nullptr) return item.auth.grant->claims().subject;
  return item.subject.id();
}

// How the subject of `item` was authenticated, or which credential failed,
// for the decision log.
std::string_view AuthMethodOf(const Item& item) {
  if (!item.auth.ok) return item.auth.failed_method;
  if (item.auth.subject != nullptr) return item.auth.subject->method;
  if (item.auth.grant != nullptr) return grants::kGrantAuthMethod;
  return kAsserted;
}

template <typename R>
Correlation CorrelationOf(const R& request) {
  return {.request_id = request.request_id(),
          .traceparent = request.traceparent(),
          .tracestate = request.tracestate()};
}

// Decides and records `item`; true when the engine ran, so the request's
// caller, credentials and shape were accepted.
bool Decide(const PolicyStore::Snapshot& snapshot, const Item& item,
            const CallerInfo& caller, const DeciderOptions& options,
            const Correlation& correlation, v1::CheckResponse* response) {
  const absl::Time start = absl::Now();
  const engine::Result* result =
      DecideItem(snapshot.set.get(), item, caller, options, start, response);
  if (options.observer == nullptr) return result != nullptr;
  const bool recorded = options.observer->OnDecision(DecisionEvent{
      .response = *response,
      .result = result,
      .rule_counters =
          result != nullptr ? snapshot.rule_counters.get() : nullptr,
      .caller = caller.id,
      .subject_id = SubjectIdOf(item),
      .auth_method = AuthMethodOf(item),
      .auth_error = item.auth.failed_method.empty()
                        ? std::string_view()
                        : std::string_view(item.auth.message),
      .delegation = item.auth.chain.empty() ? nullptr : &item.auth.chain,
      .tool_server = item.tool.server(),
      .tool_name = item.tool.name(),
      .action = item.action,
      .resource = item.resource,
      .context = item.context,
      .latency = absl::Now() - start,
      .correlation = correlation,
  });
  if (!recorded && options.deny_unrecorded) DenyUnrecorded(response);
  return result != nullptr;
}

}  // namespace

void Decider::Check(const v1::CheckRequest& request, const CallerInfo& caller,
                    v1::CheckResponse* response) const {
  const PolicyStore::Snapshot& snapshot = store_->CurrentSnapshot();
  const Authenticated auth =
      Authenticate(request.has_credentials() ? &request.credentials() : nullptr,
                   options_, absl::Now());
  const Item item{
      auth,
      request.subject(),
      request.has_context() ? &request.context() : nullptr,
      request.tool(),
      request.action(),
      request.has_resource() ? &request.resource() : nullptr,
      request.explain(),
      /*says_identity=*/true,
  };
  Decide(snapshot, item, caller, options_, CorrelationOf(request), response);
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
  const PolicyStore::Snapshot& snapshot = store_->CurrentSnapshot();
  // Credentials are shared by the items: verified (and counted) once.
  const Authenticated auth =
      Authenticate(request.has_credentials() ? &request.credentials() : nullptr,
                   options_, absl::Now());
  const Struct* context = request.has_context() ? &request.context() : nullptr;
  response->mutable_results()->Reserve(request.items_size());
  bool identified = false;
  for (const v1::CheckBatchItem& batch_item : request.items()) {
    const Item item{
        auth,
        request.subject(),
        context,
        batch_item.tool(),
        batch_item.action(),
        batch_item.has_resource() ? &batch_item.resource() : nullptr,
        request.explain(),
        /*says_identity=*/false,
    };
    identified |= Decide(snapshot, item, caller, options_,
                         CorrelationOf(request), response->add_results());
  }
  if (identified) {
    DescribeIdentity(auth, request.subject(), response->mutable_identity());
  }
  if (snapshot.set != nullptr) {
    response->set_policy_revision(snapshot.set->revision());
  }
  if (response->ByteSizeLong() > kMaxBatchResponseBytes) {
    response->Clear();
    return absl::ResourceExhaustedError(
        absl::StrCat("the answer to this batch would exceed ",
                     kMaxBatchResponseBytes, " bytes: send fewer items"));
  }
  return absl::OkStatus();
}

authn::AuthOutcome Decider::Identify(const v1::Credentials* credentials,
                                     const v1::Subject& subject,
                                     const CallerInfo& caller) const {
  if (credentials != nullptr) {
    if (credentials->has_grant_token()) {
      return authn::AuthOutcome::Failure(ReasonCode::kInvalidRequest,
                                         "a grant token cannot ask for grants");
    }
    if (!credentials->actor_tokens().empty()) {
      return authn::AuthOutcome::Failure(
          ReasonCode::kInvalidRequest,
          "grants are issued to their requester alone: actor_tokens are not "
          "accepted");
    }
  }
  const Authenticated auth = Authenticate(credentials, options_, absl::Now());
  if (!auth.ok) return authn::AuthOutcome::Failure(auth.code, auth.message);
  if (auth.subject != nullptr) return authn::AuthOutcome::Success(auth.subject);
  if (subject.id().empty()) {
    return authn::AuthOutcome::Failure(ReasonCode::kUnauthenticated,
                                       "a credential is required");
  }
  if (!caller.may_assert_identity) {
    return authn::AuthOutcome::Failure(
        ReasonCode::kCallerNotTrusted,
        "the caller may not assert identities: send a credential");
  }
  auto asserted = std::make_shared<authn::Identity>();
  asserted->subject = subject.id();
  asserted->roles = subject.roles();
  asserted->attributes = subject.attributes();
  asserted->method = std::string(kAsserted);
  asserted->expires_at = absl::InfiniteFuture();
  return authn::AuthOutcome::Success(std::move(asserted));
}

}  // namespace verdict::service
