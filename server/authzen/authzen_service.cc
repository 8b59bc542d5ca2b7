#include "server/authzen/authzen_service.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/decision/outcome.h"
#include "server/decision/translation.h"

namespace verdict::authzen {
namespace {

using Json = nlohmann::json;

// Debian's Abseil has its own string_view, which std::string_view does not
// convert to.
absl::string_view Sv(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

constexpr std::string_view kBearer = "Bearer ";
constexpr size_t kMaxRequestIdBytes = 128;
// Names the protocol in the decision log's records of evaluations.
constexpr decision::EdgeCheck kEdge{.source = "authzen"};

HttpResponse BadRequest(absl::string_view message) {
  return JsonError(400, "invalid_request",
                   std::string_view(message.data(), message.size()));
}

// The agent's credentials from the request's headers; the error message
// never repeats a header's value.
absl::Status CredentialsOf(const HttpRequest& request, RequestFrame* frame) {
  v1::Credentials& credentials = frame->credentials;
  const std::string_view authorization = request.Header("authorization");
  const std::string_view grant = request.Header("verdict-grant-token");
  const std::string_view actors = request.Header("verdict-actor-tokens");
  if (!authorization.empty()) {
    if (authorization.size() <= kBearer.size() ||
        !absl::StartsWithIgnoreCase(Sv(authorization), Sv(kBearer))) {
      return absl::InvalidArgumentError(
          "Authorization must be \"Bearer <token>\" (the agent's JWT)");
    }
    const absl::string_view token =
        absl::StripAsciiWhitespace(Sv(authorization.substr(kBearer.size())));
    if (token.empty()) {
      return absl::InvalidArgumentError("the bearer token is empty");
    }
    credentials.set_bearer_token(std::string(token));
  }
  if (!grant.empty()) {
    if (credentials.has_bearer_token()) {
      return absl::InvalidArgumentError(
          "at most one credential: Authorization or Verdict-Grant-Token");
    }
    credentials.set_grant_token(
        std::string(absl::StripAsciiWhitespace(Sv(grant))));
  }
  if (!actors.empty()) {
    for (const absl::string_view token : absl::StrSplit(Sv(actors), ',')) {
      const absl::string_view trimmed = absl::StripAsciiWhitespace(token);
      if (trimmed.empty()) {
        return absl::InvalidArgumentError(
            "Verdict-Actor-Tokens holds an empty token");
      }
      credentials.add_actor_tokens(std::string(trimmed));
    }
  }
  frame->has_credentials =
      !authorization.empty() || !grant.empty() || !actors.empty();
  return absl::OkStatus();
}

// X-Request-ID, when it is printable ASCII short enough to keep and echo.
std::string RequestIdOf(const HttpRequest& request) {
  const std::string_view id = request.Header("x-request-id");
  if (id.size() > kMaxRequestIdBytes) return {};
  for (const char c : id) {
    if (c < 0x20 || c > 0x7e) return {};
  }
  return std::string(id);
}

// Whether `host` is a plausible HTTP authority (host[:port], IPv6 in
// brackets), so that the metadata never carries what a client made up
// beyond that.
bool IsAuthority(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
           c == '-' || c == ':' || c == '[' || c == ']';
  });
}

}  // namespace

AuthZenService::AuthZenService(const decision::Decider* decider,
                               const service::CallerTrust* callers,
                               AuthZenOptions options)
    : decider_(decider), callers_(callers), options_(std::move(options)) {}

std::vector<HttpRoute> AuthZenService::Routes() const {
  auto post = [this](std::string path, HttpResponse (AuthZenService::*handler)(
                                           const HttpRequest&) const) {
    return HttpRoute{.path = std::move(path),
                     .method = "POST",
                     .handler = [this, handler](const HttpRequest& request) {
                       return (this->*handler)(request);
                     }};
  };
  std::vector<HttpRoute> routes;
  routes.push_back(post("/access/v1/evaluation", &AuthZenService::Evaluation));
  routes.push_back(
      post("/access/v1/evaluations", &AuthZenService::EvaluationsEndpoint));
  routes.push_back(
      post("/access/v1/search/action", &AuthZenService::ActionSearch));
  routes.push_back(
      post("/access/v1/search/resource", &AuthZenService::ResourceSearch));
  routes.push_back(HttpRoute{
      .path = "/access/v1/search/subject",
      .method = "POST",
      .handler = [](const HttpRequest&) {
        return JsonError(501, "not_supported",
                         "subject search is not supported: verdictd's "
                         "subjects are named by credentials and cannot be "
                         "enumerated");
      }});
  routes.push_back(HttpRoute{
      .path = "/.well-known/authzen-configuration",
      .method = "GET",
      .handler = [this](const HttpRequest& r) { return Metadata(r); }});
  routes.push_back(
      HttpRoute{.path = "/.well-known/jwks.json",
                .method = "GET",
                .handler = [this](const HttpRequest& r) { return Jwks(r); }});
  return routes;
}

bool AuthZenService::Prepare(const HttpRequest& request, Prepared* out,
                             HttpResponse* refusal) const {
  out->received = decider_->clock().Now();
  out->caller = callers_->DecisionCallerOf(request.peer, request.spiffe_id);
  if (!out->caller.trusted) {
    *refusal = JsonError(403, "caller_not_trusted",
                         out->caller.refusal.empty()
                             ? std::string_view("the caller may not check")
                             : out->caller.refusal);
    return false;
  }
  out->frame.max_context_depth = options_.max_context_depth;
  if (absl::Status s = CredentialsOf(request, &out->frame); !s.ok()) {
    *refusal = BadRequest(s.message());
    return false;
  }
  out->frame.request_id = RequestIdOf(request);
  out->frame.traceparent = std::string(request.Header("traceparent"));
  out->frame.tracestate = std::string(request.Header("tracestate"));
  absl::StatusOr<Json> body =
      ParseBody(request.body, options_.max_context_depth);
  if (!body.ok()) {
    *refusal = BadRequest(body.status().message());
    return false;
  }
  out->body = *std::move(body);
  return true;
}

HttpResponse AuthZenService::Answer(const HttpRequest& request,
                                    const Json& answer) const {
  HttpResponse response;
  response.body = answer.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (const std::string id = RequestIdOf(request); !id.empty()) {
    response.headers.emplace_back("X-Request-ID", id);
  }
  return response;
}

HttpResponse AuthZenService::Evaluation(const HttpRequest& request) const {
  Prepared prepared;
  HttpResponse refusal;
  if (!Prepare(request, &prepared, &refusal)) return refusal;
  absl::StatusOr<v1::CheckRequest> check =
      TranslateEvaluation(prepared.body, prepared.frame);
  if (!check.ok()) return BadRequest(check.status().message());
  v1::CheckResponse answer;
  decider_->Check(*check, prepared.caller, prepared.received, kEdge,
                  [&answer](const decision::Outcome& outcome) {
                    decision::TranslateOutcome(outcome, /*with_identity=*/true,
                                               &answer);
                  });
  return Answer(request, DecisionJson(answer));
}

HttpResponse AuthZenService::EvaluationsEndpoint(
    const HttpRequest& request) const {
  Prepared prepared;
  HttpResponse refusal;
  if (!Prepare(request, &prepared, &refusal)) return refusal;
  absl::StatusOr<Evaluations> evaluations = TranslateEvaluations(
      prepared.body, prepared.frame, decision::kMaxBatchItems);
  if (!evaluations.ok()) return BadRequest(evaluations.status().message());
  std::vector<v1::CheckResponse> answers;
  answers.reserve(evaluations->checks.size());
  for (const v1::CheckRequest& check : evaluations->checks) {
    v1::CheckResponse& answer = answers.emplace_back();
    decider_->Check(check, prepared.caller, prepared.received, kEdge,
                    [&answer](const decision::Outcome& outcome) {
                      decision::TranslateOutcome(
                          outcome, /*with_identity=*/true, &answer);
                    });
    const bool allowed = answer.decision() == v1::ALLOW;
    if ((evaluations->semantic == Semantic::kDenyOnFirstDeny && !allowed) ||
        (evaluations->semantic == Semantic::kPermitOnFirstPermit && allowed)) {
      break;
    }
  }
  return Answer(request, EvaluationsJson(answers));
}

HttpResponse AuthZenService::Searched(const HttpRequest& request,
                                      const Prepared& prepared,
                                      absl::StatusOr<Search> search) const {
  if (!search.ok()) return BadRequest(search.status().message());
  v1::CheckBatchResponse response;
  const absl::Status status = decider_->CheckBatch(
      search->batch, prepared.caller, prepared.received,
      [&response](const decision::Outcome& outcome) {
        decision::TranslateOutcome(outcome, /*with_identity=*/false,
                                   response.add_results());
      },
      [&response](const decision::Admission& admission) {
        decision::TranslateAdmission(admission, &response);
      });
  if (!status.ok()) return BadRequest(status.message());
  return Answer(request, SearchJson(*search, response));
}

HttpResponse AuthZenService::ActionSearch(const HttpRequest& request) const {
  Prepared prepared;
  HttpResponse refusal;
  if (!Prepare(request, &prepared, &refusal)) return refusal;
  return Searched(request, prepared,
                  TranslateActionSearch(prepared.body, prepared.frame));
}

HttpResponse AuthZenService::ResourceSearch(const HttpRequest& request) const {
  Prepared prepared;
  HttpResponse refusal;
  if (!Prepare(request, &prepared, &refusal)) return refusal;
  return Searched(request, prepared,
                  TranslateResourceSearch(prepared.body, prepared.frame,
                                          decision::kMaxBatchItems));
}

HttpResponse AuthZenService::Metadata(const HttpRequest& request) const {
  const std::string_view host = request.Header("host");
  const std::string base =
      absl::StrCat(request.tls ? "https://" : "http://",
                   Sv(IsAuthority(host) ? host : request.listener_address));
  return Answer(request, MetadataJson(base));
}

HttpResponse AuthZenService::Jwks(const HttpRequest& /*request*/) const {
  if (!options_.grant_jwks) {
    return JsonError(404, "not_found", "no grant key set is published");
  }
  HttpResponse response;
  response.content_type = "application/jwk-set+json";
  response.body = options_.grant_jwks();
  return response;
}

}  // namespace verdict::authzen
