#include "server/decision/decider.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/authn/identity.h"
#include "server/decision/decision_id.h"
#include "server/decision/proto_time.h"
#include "server/decision/request_validation.h"
#include "server/decision/translation.h"
#include "server/engine/engine.h"
#include "server/grants/grant.h"
#include "server/limits/in_process_counter.h"
#include "server/limits/limit_key.h"
#include "server/model/decision.h"
#include "server/model/mcp_method.h"
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
Authenticated VerifyCredentials(const v1::Credentials* credentials,
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

// Why a request is refused as a whole; the message borrows from the
// Authenticated, static text or a ServerBinding.
struct Refusal {
  ReasonCode code;
  std::string_view message;
};

// The refusal of a request that Admit accepted or not, before its items:
// the caller, the credentials, or an asserted subject from a caller that may
// not assert one.
std::optional<Refusal> RefusalOf(const Authenticated& auth,
                                 const v1::Subject& subject,
                                 const CallerInfo& caller) {
  if (!auth.ok) return Refusal{auth.code, auth.message};
  const bool asserted = auth.subject == nullptr && auth.grant == nullptr;
  if (!asserted) return std::nullopt;
  // Nobody is named: whoever may assert identities, this is a 401.
  if (subject.id().empty()) {
    return Refusal{ReasonCode::kUnauthenticated, "a credential is required"};
  }
  if (!caller.may_assert_identity) {
    return Refusal{ReasonCode::kCallerNotTrusted,
                   "the caller may not assert identities: send a credential"};
  }
  return std::nullopt;
}

// Whether a request's caller and credentials may be used for one MCP
// server (mcp_servers.h), remembered for the next item naming the same
// server, so that a batch checks (and counts) each server once.
class ServerBinding {
 public:
  ServerBinding(const Authenticated& auth, const CallerInfo& caller,
                const DeciderOptions& options)
      : auth_(auth), caller_(caller), options_(options) {}

  std::optional<Refusal> RefusalFor(std::string_view server) {
    if (options_.mcp_servers == nullptr || options_.mcp_servers->empty()) {
      return std::nullopt;
    }
    if (!checked_ || server != server_) Check(server);
    if (!refused_) return std::nullopt;
    return Refusal{code_, message_};
  }

 private:
  void Check(std::string_view server) {
    checked_ = true;
    server_ = server;
    refused_ = false;
    const McpServers& servers = *options_.mcp_servers;
    if (!servers.MaySpeakFor(caller_.id, server)) {
      refused_ = true;
      code_ = ReasonCode::kCallerNotTrusted;
      message_ = absl::StrCat("the caller may not ask about MCP server \"",
                              Absl(server.substr(0, kMaxShownName)), "\"");
      return;
    }
    if (auth_.subject == nullptr) return;
    message_ = servers.AudienceProblem(*auth_.subject, server);
    if (message_.empty()) return;
    refused_ = true;
    code_ = ReasonCode::kAudienceMismatch;
    if (options_.metrics != nullptr) {
      options_.metrics->CountAuthnFailure(metrics::AuthMethod::kJwt, code_);
    }
  }

  // Server names come from the request; messages show this much of them.
  static constexpr size_t kMaxShownName = 256;

  const Authenticated& auth_;
  const CallerInfo& caller_;
  const DeciderOptions& options_;
  bool checked_ = false;
  std::string_view server_;  // in the request, which outlives the binding
  bool refused_ = false;
  ReasonCode code_ = ReasonCode::kUnauthenticated;
  std::string message_;
};

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
  ServerBinding* binding;
  bool count_limits = false;  // an allowed call takes from its limits
};

// The parts of one decision of its own.
struct Item {
  const v1::Tool& tool;
  std::string_view action;
  const v1::Resource* resource;  // null: absent
  bool credential_presented;
  const ProtocolProblem* problem = nullptr;  // null: none
};

// Takes one call from the limit of every allow rule `outcome` rests on that
// has one, all or none, or turns the allow into a deny.
void TakeLimits(const Shared& shared, const model::Request& request,
                const DeciderOptions& options, Outcome* outcome) {
  absl::InlinedVector<const policy::Rule*, 4> rules;
  for (const policy::Rule* rule : outcome->obligations_from()) {
    if (rule->limit.has_value()) rules.push_back(rule);
  }
  if (rules.empty()) return;
  // Apart from the engine's: the Outcome still reads what that one holds.
  thread_local model::EvalScratch scratch;
  absl::InlinedVector<std::string, 4> keys;
  for (const policy::Rule* rule : rules) {
    absl::StatusOr<std::string> key =
        limits::LimitKeyOf(*rule, request, &scratch);
    if (!key.ok()) {
      outcome->DenyForRule(ReasonCode::kEvaluationError, rule,
                           absl::StrCat("rule ", rule->policy, "/", rule->id,
                                        ": ", key.status().message()));
      return;
    }
    keys.push_back(*std::move(key));
  }
  absl::InlinedVector<limits::LimitTake, 4> takes;
  for (size_t i = 0; i < rules.size(); ++i) {
    takes.push_back(limits::LimitTake{.key = keys[i],
                                      .calls = rules[i]->limit->calls,
                                      .window = rules[i]->limit->window});
  }
  const absl::StatusOr<limits::TakeResult> taken =
      options.limits->Take(takes, shared.received);
  if (!taken.ok()) {
    if (options.metrics != nullptr) options.metrics->CountLimitStoreError();
    outcome->DenyForRule(
        ReasonCode::kLimitUnavailable, rules.front(),
        absl::StrCat("the limit of rule ", rules.front()->policy, "/",
                     rules.front()->id,
                     " could not be counted: ", taken.status().message()));
    return;
  }
  if (!taken->allowed) {
    const policy::Rule& rule = *rules[taken->exhausted];
    if (shared.snapshot.rule_counters != nullptr) {
      shared.snapshot.rule_counters->CountLimitExceeded(rule);
    }
    outcome->DenyLimitExceeded(
        &rule,
        absl::StrCat("rule ", rule.policy, "/", rule.id, " allows ",
                     rule.limit->text, ": none left until ",
                     absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", taken->resets_at,
                                      absl::UTCTimeZone())),
        taken->resets_at);
    return;
  }
  outcome->set_counted();
}

// Decides `item` into `*outcome`, which comes in as a deny without a reason.
void DecideItem(const Shared& shared, const Item& item,
                const DeciderOptions& options, Outcome* outcome) {
  const Authenticated& auth = shared.auth;
  if (options.mcp_servers != nullptr) {
    outcome->set_mcp_server(options.mcp_servers->Find(item.tool.server()));
  }
  if (std::optional<Refusal> refusal =
          RefusalOf(auth, shared.subject, shared.caller);
      refusal.has_value()) {
    outcome->Deny(refusal->code, refusal->message);
    return;
  }
  if (std::optional<Refusal> refusal =
          shared.binding->RefusalFor(item.tool.server());
      refusal.has_value()) {
    outcome->DenyOwning(refusal->code, std::string(refusal->message));
    return;
  }
  if (item.problem != nullptr) {
    outcome->Deny(item.problem->code, item.problem->message);
    return;
  }
  const bool asserted = auth.subject == nullptr && auth.grant == nullptr;
  // A listed item is decided as the call it lists (model/mcp_method.h).
  const std::string_view listed_call = model::ListedCall(item.action);
  const std::string_view call = listed_call.empty() ? item.action : listed_call;
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
          call,
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
    outcome->Deny(ReasonCode::kPolicyUnavailable, "no policy set is loaded");
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
  if (!listed_call.empty()) {
    request.listing = item.action;
    request.action = listed_call;
    request.arguments_unknown = true;
    request.resource_unknown = item.resource == nullptr;
  }

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
  if (!outcome->allowed() && !outcome->conditional()) return;

  // Delegation narrows (spec section 5): each actor must be allowed too.
  thread_local engine::Result actor_result;
  for (const model::Principal& actor : auth.actor_principals) {
    model::Request as_actor = request;
    as_actor.subject = actor;
    eval_options.explain = false;
    engine::Evaluate(*set, as_actor, eval_options, &scratch, &actor_result);
    if (actor_result.time_dependent) outcome->set_time_dependent();
    if (actor_result.decision == model::Decision::kAllow) continue;
    if (actor_result.decision == model::Decision::kConditional) {
      // A listed item some actor may not use whatever the arguments is
      // hidden below; one an actor may use depending on them stays shown.
      outcome->MakeConditional(actor_result.depends_on);
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
  if (shared.count_limits && outcome->allowed() && listed_call.empty()) {
    TakeLimits(shared, request, options, outcome);
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
  outcome.set_credential_presented(item.credential_presented);
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

template <typename R>
const v1::Credentials* CredentialsOf(const R& request) {
  return request.has_credentials() ? &request.credentials() : nullptr;
}

// Whether a request carried a credential (not only actor tokens): a 401
// for it says invalid_token.
bool Presented(const v1::Credentials* credentials) {
  return credentials != nullptr &&
         credentials->credential_case() != v1::Credentials::CREDENTIAL_NOT_SET;
}

// The Admission of a request whose credentials Admit verified into `auth`,
// for MCP server `server` (empty: none, or several).
void Admitted(const PolicySnapshot& snapshot, const Authenticated& auth,
              const v1::Subject& subject, const v1::Credentials* credentials,
              std::string_view server, const CallerInfo& caller,
              const DeciderOptions& options, ServerBinding* binding,
              std::optional<absl::Duration> listing_ttl,
              AdmissionCallback admitted) {
  Admission admission;
  admission.credential_presented = Presented(credentials);
  if (options.mcp_servers != nullptr && !server.empty()) {
    admission.mcp_server = options.mcp_servers->Find(server);
  }
  if (snapshot.set != nullptr) {
    admission.policy_revision = snapshot.set->revision();
  }
  std::optional<Refusal> refusal = RefusalOf(auth, subject, caller);
  // An asserted subject is named back only when it is well formed.
  std::string subject_problem;
  if (!refusal.has_value() && auth.subject == nullptr &&
      auth.grant == nullptr) {
    subject_problem = SubjectProblem(subject);
    if (!subject_problem.empty()) {
      refusal = Refusal{ReasonCode::kInvalidRequest, subject_problem};
    }
  }
  if (!refusal.has_value() && !server.empty()) {
    refusal = binding->RefusalFor(server);
  }
  IdentityView identity;
  if (refusal.has_value()) {
    admission.refused = true;
    admission.refusal = refusal->code;
    admission.message = refusal->message;
  } else {
    identity = IdentityOf(auth, subject);
    admission.identity = &identity;
    admission.listing_ttl = listing_ttl;
  }
  admitted(admission);
}

// Decides every item of `batch` on `snapshot`, as one batch in the log.
void DecideItems(const PolicySnapshot& snapshot, const Authenticated& auth,
                 const BatchInput& batch, const CallerInfo& caller,
                 absl::Time received, ServerBinding* binding, bool count_limits,
                 const DeciderOptions& options, const Clock& clock,
                 OutcomeCallback emit) {
  // One snapshot for the whole batch, so every item sees the same revision.
  const Shared shared{
      .snapshot = snapshot,
      .auth = auth,
      .caller = caller,
      .subject = *batch.subject,
      .context = batch.context,
      .evaluate_at = batch.evaluate_at,
      .explain = batch.explain,
      .received = received,
      .correlation = batch.correlation,
      .binding = binding,
      .count_limits = count_limits,
  };
  const DecisionId batch_id = DecisionId::Next();
  const int size = batch.items->size();
  for (int i = 0; i < size; ++i) {
    const v1::CheckBatchItem& item = batch.items->Get(i);
    Decide(shared,
           Item{item.tool(), item.action(),
                item.has_resource() ? &item.resource() : nullptr,
                batch.credential_presented},
           audit::BatchPosition{.id = batch_id.view(),
                                .index = i,
                                .size = size,
                                .source = batch.source},
           options, clock, emit);
  }
}

DeciderOptions WithLimits(DeciderOptions options,
                          limits::LimitCounter* own_limits) {
  if (options.limits == nullptr) options.limits = own_limits;
  return options;
}

}  // namespace

Decider::Decider(const SnapshotSource* snapshots, const DeciderOptions& options)
    : snapshots_(snapshots),
      own_limits_(options.limits == nullptr
                      ? std::make_unique<limits::InProcessLimitCounter>()
                      : nullptr),
      options_(WithLimits(options, own_limits_.get())),
      clock_(options.clock != nullptr ? *options.clock : RealClock()) {}

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
  return VerifyCredentials(credentials, options_, now);
}

void Decider::Check(const v1::CheckRequest& request, const CallerInfo& caller,
                    absl::Time received, OutcomeCallback emit) const {
  Check(request, caller, received, EdgeCheck{}, emit);
}

void Decider::Check(const v1::CheckRequest& request, const CallerInfo& caller,
                    absl::Time received, const EdgeCheck& edge,
                    OutcomeCallback emit) const {
  const PolicySnapshot& snapshot = snapshots_->CurrentSnapshot();
  const google::protobuf::Timestamp* evaluate_at =
      request.has_evaluate_at() ? &request.evaluate_at() : nullptr;
  const Authenticated auth =
      Admit(CredentialsOf(request), evaluate_at, caller, received);
  ServerBinding binding(auth, caller, options_);
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
      .binding = &binding,
      .count_limits = true,
  };
  Decide(shared,
         Item{request.tool(), request.action(),
              request.has_resource() ? &request.resource() : nullptr,
              Presented(CredentialsOf(request)), edge.problem},
         audit::BatchPosition{.source = edge.source}, options_, clock_, emit);
}

absl::Status Decider::CheckBatch(const v1::CheckBatchRequest& request,
                                 const CallerInfo& caller, absl::Time received,
                                 OutcomeCallback emit,
                                 AdmissionCallback admitted) const {
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
      .credential_presented = Presented(CredentialsOf(request)),
  };
  // Credentials are shared by the items: verified (and counted) once.
  const Authenticated auth =
      Admit(CredentialsOf(request), batch.evaluate_at, caller, received);
  const PolicySnapshot& snapshot = snapshots_->CurrentSnapshot();
  ServerBinding binding(auth, caller, options_);
  bool time_dependent = false;
  DecideItems(snapshot, auth, batch, caller, received, &binding,
              /*count_limits=*/true, options_, clock_,
              [&](const Outcome& outcome) {
                time_dependent |= outcome.time_dependent();
                emit(outcome);
              });
  bool listing = false;
  bool one_server = true;
  for (const v1::CheckBatchItem& item : request.items()) {
    listing |= !model::ListedCall(item.action()).empty();
    one_server &= item.tool().server() == request.items(0).tool().server();
  }
  std::optional<absl::Duration> listing_ttl;
  if (listing) {
    listing_ttl = time_dependent || batch.evaluate_at != nullptr
                      ? absl::ZeroDuration()
                      : std::clamp(auth.expires_at - received,
                                   absl::ZeroDuration(), options_.cache_ttl);
  }
  const std::string_view server =
      !request.items().empty() && one_server
          ? std::string_view(request.items(0).tool().server())
          : std::string_view();
  Admitted(snapshot, auth, request.subject(), CredentialsOf(request), server,
           caller, options_, &binding, listing_ttl, admitted);
  return absl::OkStatus();
}

void Decider::Authenticate(const v1::Credentials* credentials,
                           std::string_view server, const CallerInfo& caller,
                           absl::Time received,
                           AdmissionCallback admitted) const {
  const Authenticated auth =
      Admit(credentials, /*evaluate_at=*/nullptr, caller, received);
  ServerBinding binding(auth, caller, options_);
  // A session is authenticated by a credential, never by an assertion.
  const Authenticated* checked = &auth;
  Authenticated missing;
  if (auth.ok && auth.subject == nullptr && auth.grant == nullptr) {
    missing = Refused(ReasonCode::kUnauthenticated, "a credential is required");
    checked = &missing;
  }
  Admitted(snapshots_->CurrentSnapshot(), *checked,
           v1::Subject::default_instance(), credentials, server, caller,
           options_, &binding, std::nullopt, admitted);
}

void Decider::Authenticate(const v1::Credentials* credentials,
                           const v1::Subject& asserted, std::string_view server,
                           const CallerInfo& caller, absl::Time received,
                           AdmissionCallback admitted) const {
  const Authenticated auth =
      Admit(credentials, /*evaluate_at=*/nullptr, caller, received);
  ServerBinding binding(auth, caller, options_);
  Admitted(snapshots_->CurrentSnapshot(), auth, asserted, credentials, server,
           caller, options_, &binding, std::nullopt, admitted);
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
  Authenticated auth = VerifyCredentials(credentials, options_, received);
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
  ServerBinding binding(auth, caller, options_);
  // Grants.Issue decides what a grant may cover, not a call: no limit is
  // taken from (the calls made with the grant are counted).
  DecideItems(snapshots_->CurrentSnapshot(), auth, batch, caller, received,
              &binding, /*count_limits=*/false, options_, clock_, emit);
}

}  // namespace verdict::decision
