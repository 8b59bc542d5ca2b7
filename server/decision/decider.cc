#include "server/decision/decider.h"

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/authn/identity.h"
#include "server/decision/decision_id.h"
#include "server/decision/proto_time.h"
#include "server/decision/request_validation.h"
#include "server/decision/translation.h"
#include "server/engine/engine.h"
#include "server/grants/grant.h"
#include "server/model/decision.h"
#include "server/model/request.h"

namespace verdict::decision {
namespace {

using ::verdict::model::kMaxIdBytes;

using google::protobuf::Struct;
using model::ReasonCode;

// Actor tokens beyond this many are an invalid request: each costs a
// signature verification and an evaluation.
constexpr int kMaxActorTokens = 8;

absl::string_view Absl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

Authenticated Refused(ReasonCode code, std::string message) {
  Authenticated out;
  out.ok = false;
  out.code = code;
  out.message = std::move(message);
  return out;
}

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
         absl::StrCat(Absl(what), ": no issuer configured"), method, options,
         out);
    return nullptr;
  }
  authn::AuthOutcome outcome = authenticator->Authenticate(credential, now);
  if (!outcome.ok()) {
    Fail(outcome.code, absl::StrCat(Absl(what), ": ", outcome.message), method,
         options, out);
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

// Who `auth` (or, without a credential, the asserted `subject`) proved,
// until when, and through which delegation chain.
IdentityView IdentityOf(const Authenticated& auth, const v1::Subject& subject) {
  IdentityView identity;
  if (auth.grant != nullptr) {
    identity.subject = auth.grant->claims().subject;
    identity.method = grants::kGrantAuthMethod;
    identity.issuer = grants::kGrantIssuer;
  } else if (auth.subject != nullptr) {
    identity.subject = auth.subject->subject;
    identity.method = auth.subject->method;
    identity.issuer = auth.subject->issuer;
  } else {
    identity.subject = subject.id();
    identity.method = kAssertedMethod;
  }
  identity.expires_at = auth.expires_at;
  if (!auth.chain.empty()) identity.delegation_chain = &auth.chain;
  return identity;
}

// What every decision of one request shares.
struct Shared {
  const PolicySnapshot& snapshot;
  const Authenticated& auth;
  const CallerInfo& caller;
  const v1::Subject& subject;
  const Struct* context;                           // null: absent
  const google::protobuf::Timestamp* evaluate_at;  // null: unset
  bool explain;
  absl::Time received;
  Correlation correlation;
};

// The parts of one decision of its own.
struct Item {
  const v1::Tool& tool;
  std::string_view action;
  const v1::Resource* resource;  // null: absent
};

// Decides `item` into `*outcome`, which comes in as a deny without a reason.
void DecideItem(const Shared& shared, const Item& item,
                const DeciderOptions& options, Outcome* outcome) {
  const Authenticated& auth = shared.auth;
  if (!auth.ok) {
    outcome->Deny(auth.code, auth.message);
    return;
  }
  const bool asserted = auth.subject == nullptr && auth.grant == nullptr;
  if (asserted && !shared.caller.may_assert_identity) {
    if (shared.subject.id().empty()) {
      outcome->Deny(ReasonCode::kUnauthenticated, "a credential is required");
    } else {
      outcome->Deny(ReasonCode::kCallerNotTrusted,
                    "the caller may not assert identities: send a credential");
    }
    return;
  }
  if (std::string problem = RequestProblem(
          RequestParts{
              .subject = asserted ? &shared.subject : nullptr,
              .tool = &item.tool,
              .action = item.action,
              .resource = item.resource,
              .context = shared.context,
              .evaluate_at = shared.evaluate_at,
          },
          options.max_context_depth);
      !problem.empty()) {
    outcome->DenyOwning(ReasonCode::kInvalidRequest, std::move(problem));
    return;
  }
  if (auth.grant != nullptr &&
      !grants::ScopeAllows(
          auth.grant->claims().scope, item.tool.server(), item.tool.name(),
          item.action,
          item.resource != nullptr ? item.resource->kind() : std::string_view(),
          item.resource != nullptr ? item.resource->id()
                                   : std::string_view())) {
    outcome->DenyOwning(
        ReasonCode::kGrantScope,
        absl::StrCat("the request is outside the scope of grant ",
                     auth.grant->claims().id));
    return;
  }
  const policy::PolicySet* set = shared.snapshot.set.get();
  if (set == nullptr) {
    outcome->Deny(ReasonCode::kEvaluationError, "no policy set is loaded");
    return;
  }
  outcome->set_identity(IdentityOf(auth, shared.subject));

  model::Request request;
  if (asserted) {
    request.subject = AssertedPrincipal(shared.subject);
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
  thread_local Struct annotations_scratch;
  FillEngineRequest(item.tool, item.action, item.resource, shared.context,
                    &annotations_scratch, &request);
  request.now = shared.evaluate_at != nullptr ? FromProto(*shared.evaluate_at)
                                              : shared.received;

  engine::EvalOptions eval_options;
  eval_options.explain = shared.explain;
  thread_local model::EvalScratch scratch;
  // Read in place by the Outcome until the next evaluation on this thread,
  // which comes only after the Outcome was handed out.
  thread_local engine::Result result;
  engine::Evaluate(*set, request, eval_options, &scratch, &result);
  // Answers that depend on the clock, or that were asked about another time,
  // are not reusable; a reused allow must not outlive the credentials that
  // earned it. Denies are re-asked, so that a fixed policy takes effect at
  // once.
  const absl::Duration cache_ttl =
      result.time_dependent || shared.evaluate_at != nullptr
          ? absl::ZeroDuration()
          : std::clamp(auth.expires_at - shared.received, absl::ZeroDuration(),
                       options.cache_ttl);
  outcome->Decide(result, cache_ttl);
  if (!outcome->allowed()) return;

  // Delegation narrows (spec section 5): each actor must be allowed too.
  thread_local engine::Result actor_result;
  for (const model::Principal& actor : auth.actor_principals) {
    model::Request as_actor = request;
    as_actor.subject = actor;
    eval_options.explain = false;
    engine::Evaluate(*set, as_actor, eval_options, &scratch, &actor_result);
    if (actor_result.decision == model::Decision::kAllow) {
      if (actor_result.time_dependent) {
        outcome->set_cache_ttl(absl::ZeroDuration());
      }
      continue;
    }
    const std::string_view why =
        actor_result.reasons.empty()
            ? model::ReasonCodeName(ReasonCode::kNoMatchingRule)
            : model::ReasonCodeName(actor_result.reasons.front().code);
    // The id comes from a token: a batch repeats this message per item.
    outcome->DenyOwning(
        ReasonCode::kDelegationDenied,
        absl::StrCat("actor ", Absl(actor.id.substr(0, kMaxIdBytes)),
                     " is not allowed (", Absl(why), ")"));
    return;
  }
}

// The subject a decision is about, for the decision log.
std::string_view SubjectIdOf(const Shared& shared) {
  if (shared.auth.subject != nullptr) return shared.auth.subject->subject;
  if (shared.auth.grant != nullptr) return shared.auth.grant->claims().subject;
  return shared.subject.id();
}

// How the subject was authenticated, or which credential failed, for the
// decision log.
std::string_view AuthMethodOf(const Authenticated& auth) {
  if (!auth.ok) return auth.failed_method;
  if (auth.subject != nullptr) return auth.subject->method;
  if (auth.grant != nullptr) return grants::kGrantAuthMethod;
  return kAssertedMethod;
}

template <typename R>
Correlation CorrelationOf(const R& request) {
  return {.request_id = request.request_id(),
          .traceparent = request.traceparent(),
          .tracestate = request.tracestate()};
}

// Decides, records and hands out one decision.
void Decide(const Shared& shared, const Item& item,
            const audit::BatchPosition& batch, const DeciderOptions& options,
            const Clock& clock, OutcomeCallback emit) {
  const policy::PolicySet* set = shared.snapshot.set.get();
  Outcome outcome(shared.received,
                  set != nullptr ? std::string_view(set->revision()) : "");
  DecideItem(shared, item, options, &outcome);
  outcome.set_decided(clock.Now());
  if (options.observer != nullptr) {
    const Authenticated& auth = shared.auth;
    options.observer->Record(
        DecisionEvent{
            .rule_counters = shared.snapshot.rule_counters.get(),
            .caller = shared.caller.id,
            .subject_id = SubjectIdOf(shared),
            .auth_method = AuthMethodOf(auth),
            .auth_error = auth.failed_method.empty()
                              ? std::string_view()
                              : std::string_view(auth.message),
            .delegation = auth.chain.empty() ? nullptr : &auth.chain,
            .tool_server = item.tool.server(),
            .tool_name = item.tool.name(),
            .action = item.action,
            .resource = item.resource,
            .context = shared.context,
            .correlation = shared.correlation,
            .batch = batch,
            .deny_unrecorded = options.deny_unrecorded,
        },
        &outcome);
  }
  emit(outcome);
}

}  // namespace

Authenticated Decider::Admit(const v1::Credentials* credentials,
                             const google::protobuf::Timestamp* evaluate_at,
                             const CallerInfo& caller, absl::Time now) const {
  if (!caller.trusted) {
    return Refused(ReasonCode::kCallerNotTrusted,
                   caller.refusal.empty() ? "the caller may not call Check"
                                          : std::string(caller.refusal));
  }
  if (evaluate_at != nullptr && !caller.may_assert_identity) {
    return Refused(ReasonCode::kCallerNotTrusted,
                   "the caller may not set evaluate_at: that needs the "
                   "assert_identity permission");
  }
  return Authenticate(credentials, options_, now);
}

void Decider::Check(const v1::CheckRequest& request, const CallerInfo& caller,
                    absl::Time received, OutcomeCallback emit) const {
  const PolicySnapshot& snapshot = snapshots_->CurrentSnapshot();
  const google::protobuf::Timestamp* evaluate_at =
      request.has_evaluate_at() ? &request.evaluate_at() : nullptr;
  const Authenticated auth =
      Admit(request.has_credentials() ? &request.credentials() : nullptr,
            evaluate_at, caller, received);
  const Shared shared{
      .snapshot = snapshot,
      .auth = auth,
      .caller = caller,
      .subject = request.subject(),
      .context = request.has_context() ? &request.context() : nullptr,
      .evaluate_at = evaluate_at,
      .explain = request.explain(),
      .received = received,
      .correlation = CorrelationOf(request),
  };
  Decide(shared,
         Item{request.tool(), request.action(),
              request.has_resource() ? &request.resource() : nullptr},
         audit::BatchPosition{}, options_, clock_, emit);
}

absl::Status Decider::CheckBatch(const v1::CheckBatchRequest& request,
                                 const CallerInfo& caller, absl::Time received,
                                 OutcomeCallback emit) const {
  if (request.items_size() > kMaxBatchItems) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch holds at most ", kMaxBatchItems, " items, not ",
                     request.items_size()));
  }
  const BatchInput batch{
      .subject = &request.subject(),
      .context = request.has_context() ? &request.context() : nullptr,
      .items = &request.items(),
      .explain = request.explain(),
      .evaluate_at =
          request.has_evaluate_at() ? &request.evaluate_at() : nullptr,
      .correlation = CorrelationOf(request),
  };
  // Credentials are shared by the items: verified (and counted) once.
  const Authenticated auth =
      Admit(request.has_credentials() ? &request.credentials() : nullptr,
            batch.evaluate_at, caller, received);
  DecideBatch(auth, batch, caller, received, emit);
  return absl::OkStatus();
}

Authenticated Decider::Identify(const v1::Credentials* credentials,
                                const v1::Subject& subject,
                                const CallerInfo& caller,
                                absl::Time received) const {
  if (credentials != nullptr) {
    if (credentials->has_grant_token()) {
      return Refused(ReasonCode::kInvalidRequest,
                     "a grant token cannot ask for grants");
    }
    if (!credentials->actor_tokens().empty()) {
      return Refused(ReasonCode::kInvalidRequest,
                     "grants are issued to their requester alone: "
                     "actor_tokens are not accepted");
    }
  }
  Authenticated auth = Authenticate(credentials, options_, received);
  if (!auth.ok) return auth;
  if (auth.subject != nullptr) {
    auth.requester = auth.subject;
    return auth;
  }
  if (subject.id().empty()) {
    return Refused(ReasonCode::kUnauthenticated, "a credential is required");
  }
  if (!caller.may_assert_identity) {
    return Refused(ReasonCode::kCallerNotTrusted,
                   "the caller may not assert identities: send a credential");
  }
  auto asserted = std::make_shared<authn::Identity>();
  asserted->subject = subject.id();
  asserted->roles = subject.roles();
  asserted->attributes = subject.attributes();
  asserted->method = std::string(kAssertedMethod);
  asserted->expires_at = absl::InfiniteFuture();
  auth.requester = std::move(asserted);
  return auth;
}

void Decider::DecideBatch(const Authenticated& auth, const BatchInput& batch,
                          const CallerInfo& caller, absl::Time received,
                          OutcomeCallback emit) const {
  // One snapshot for the whole batch, so every item sees the same revision.
  const Shared shared{
      .snapshot = snapshots_->CurrentSnapshot(),
      .auth = auth,
      .caller = caller,
      .subject = *batch.subject,
      .context = batch.context,
      .evaluate_at = batch.evaluate_at,
      .explain = batch.explain,
      .received = received,
      .correlation = batch.correlation,
  };
  const DecisionId batch_id = DecisionId::Next();
  const int size = batch.items->size();
  for (int i = 0; i < size; ++i) {
    const v1::CheckBatchItem& item = batch.items->Get(i);
    Decide(shared,
           Item{item.tool(), item.action(),
                item.has_resource() ? &item.resource() : nullptr},
           audit::BatchPosition{.id = batch_id.view(),
                                .index = i,
                                .size = size,
                                .source = batch.source},
           options_, clock_, emit);
  }
}

}  // namespace verdict::decision
