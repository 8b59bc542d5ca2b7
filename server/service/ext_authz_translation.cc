#include "server/service/ext_authz_translation.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"
#include "server/authn/strict_json.h"
#include "server/model/mcp_method.h"

namespace verdict::service {
namespace {

namespace envoy_auth = ::envoy::service::auth::v3;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;

constexpr std::string_view kParamHeaderPrefix = "mcp-param-";

// google.rpc.Code values Envoy reads.
constexpr int kRpcOk = 0;
constexpr int kRpcPermissionDenied = 7;
constexpr int kRpcUnauthenticated = 16;

// The methods whose target the MCP server, not the gateway, knows: a
// session method or a listing, which the server filters with CheckBatch.
bool AuthenticateOnly(std::string_view method) {
  return method == "initialize" || method == "ping" ||
         method == "server/discover" || method.starts_with("notifications/") ||
         !model::ListedCall(method).empty();
}

std::string_view Header(const envoy_auth::AttributeContext::HttpRequest& http,
                        std::string_view name) {
  const auto it = http.headers().find(std::string(name));
  return it == http.headers().end() ? std::string_view() : it->second;
}

// The token of `Authorization: Bearer <token>` (the scheme is
// case-insensitive, RFC 9110 section 11.1); empty for any other value.
std::string_view BearerToken(std::string_view authorization) {
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(
          absl::string_view(authorization.data(), kScheme.size()), kScheme)) {
    return {};
  }
  const absl::string_view token = absl::StripAsciiWhitespace(
      absl::string_view(authorization.data() + kScheme.size(),
                        authorization.size() - kScheme.size()));
  return std::string_view(token.data(), token.size());
}

// What a JSON-RPC body names, before it is compared with the headers.
struct BodyCall {
  std::string method;
  std::string target;  // params.name, or params.uri for resources/read
  bool target_is_uri = false;
  const nlohmann::json* arguments = nullptr;  // params.arguments, an object
};

void SetTarget(std::string_view method, std::string_view target,
               v1::CheckRequest* check) {
  if (target.empty()) return;
  if (method == "resources/read") {
    check->mutable_resource()->set_kind("resource");
    check->mutable_resource()->set_id(std::string(target));
  } else {
    check->mutable_tool()->set_name(std::string(target));
  }
}

void CopyArguments(const nlohmann::json& arguments, Struct* out) {
  Value value;
  authn::JsonToProtoValue(arguments, &value);
  *out = std::move(*value.mutable_struct_value());
}

// Reads a JSON-RPC request (or notification) into `body` and its id into
// `*id`; false when `message` is not one (a response, a bad version, a
// method or params of the wrong type).
bool ReadBody(const nlohmann::json& message, BodyCall* body, std::string* id) {
  const auto version = message.find("jsonrpc");
  const auto method = message.find("method");
  if (version == message.end() || *version != "2.0" ||
      method == message.end() || !method->is_string()) {
    return false;
  }
  if (const auto it = message.find("id"); it != message.end()) {
    if (!it->is_string() && !it->is_number_integer()) return false;
    *id = it->dump();
  }
  body->method = method->get<std::string>();
  const auto params = message.find("params");
  if (params == message.end()) return true;
  if (!params->is_object()) return false;
  const bool by_uri = body->method == "resources/read";
  if (const auto it = params->find(by_uri ? "uri" : "name");
      it != params->end()) {
    if (!it->is_string()) return false;
    body->target = it->get<std::string>();
    body->target_is_uri = by_uri;
  }
  if (const auto it = params->find("arguments"); it != params->end()) {
    if (!it->is_object()) return false;
    body->arguments = &*it;
  }
  return true;
}

// The ReasonCategory's name as docs/reasons.md spells it.
std::string_view CategoryName(v1::ReasonCategory category) {
  switch (category) {
    case v1::REASON_CATEGORY_AUTHENTICATION:
      return "authentication";
    case v1::REASON_CATEGORY_AUTHORIZATION:
      return "authorization";
    case v1::REASON_CATEGORY_INVALID_REQUEST:
      return "invalid_request";
    default:
      return "unavailable";
  }
}

// The JSON-RPC error of docs/mcp.md and a message that names the category
// only: the reason's own text may quote policy the agent need not read.
std::pair<int, std::string_view> JsonRpcError(v1::ReasonCategory category) {
  switch (category) {
    case v1::REASON_CATEGORY_AUTHENTICATION:
      return {-32001, "authentication required"};
    case v1::REASON_CATEGORY_AUTHORIZATION:
      return {-32003, "denied by policy"};
    case v1::REASON_CATEGORY_INVALID_REQUEST:
      return {-32602, "invalid request"};
    default:
      return {-32603, "authorization unavailable"};
  }
}

void AddHeader(std::string_view key, std::string_view value,
               google::protobuf::RepeatedPtrField<
                   envoy::config::core::v3::HeaderValueOption>* headers) {
  envoy::config::core::v3::HeaderValue* header =
      headers->Add()->mutable_header();
  header->set_key(std::string(key));
  header->set_value(std::string(value));
}

// One answer, decided or authenticated, as both translate it.
struct Answer {
  bool allowed = false;
  const v1::Reason* reason = nullptr;  // null: none given
  const v1::Challenge* challenge = nullptr;
  std::string_view decision_id;  // empty: nothing decided
  std::string_view policy_revision;
  std::string_view subject;  // empty: not identified
};

void Translate(const Answer& answer, std::string_view jsonrpc_id,
               const ExtAuthzOptions& options, envoy_auth::CheckResponse* out) {
  Struct* metadata = out->mutable_dynamic_metadata();
  auto& fields = *metadata->mutable_fields();
  if (!answer.decision_id.empty()) {
    fields["decision_id"].set_string_value(std::string(answer.decision_id));
  }
  fields["policy_revision"].set_string_value(
      std::string(answer.policy_revision));
  if (!answer.subject.empty()) {
    fields["subject"].set_string_value(std::string(answer.subject));
  }
  if (answer.allowed) {
    out->mutable_status()->set_code(kRpcOk);
    envoy_auth::OkHttpResponse* ok = out->mutable_ok_response();
    if (answer.decision_id.empty()) {
      // Else an agent's own header would reach the MCP server as ours.
      ok->add_headers_to_remove(std::string(kDecisionIdHeader));
    } else {
      // Replaces any the agent sent (append is unset: false).
      AddHeader(kDecisionIdHeader, answer.decision_id, ok->mutable_headers());
    }
    if (options.remove_authorization) {
      ok->add_headers_to_remove("authorization");
    }
    return;
  }
  const v1::Reason& reason = answer.reason != nullptr
                                 ? *answer.reason
                                 : v1::Reason::default_instance();
  const v1::ReasonCategory category = reason.category();
  fields["reason"].set_string_value(reason.code());
  out->mutable_status()->set_code(category == v1::REASON_CATEGORY_AUTHENTICATION
                                      ? kRpcUnauthenticated
                                      : kRpcPermissionDenied);
  out->mutable_status()->set_message(reason.message());
  envoy_auth::DeniedHttpResponse* denied = out->mutable_denied_response();
  const v1::Challenge& challenge = answer.challenge != nullptr
                                       ? *answer.challenge
                                       : v1::Challenge::default_instance();
  // Fail closed on an answer without a status: a plain refusal.
  const int status =
      challenge.http_status() != 0 ? challenge.http_status() : 403;
  denied->mutable_status()->set_code(
      static_cast<envoy::type::v3::StatusCode>(status));
  AddHeader("content-type", "application/json", denied->mutable_headers());
  if (!challenge.www_authenticate().empty()) {
    AddHeader("www-authenticate", challenge.www_authenticate(),
              denied->mutable_headers());
  }
  if (!answer.decision_id.empty()) {
    AddHeader(kDecisionIdHeader, answer.decision_id, denied->mutable_headers());
  }
  const auto [code, message] = JsonRpcError(category);
  nlohmann::json data = {{"reason", reason.code()},
                         {"category", CategoryName(category)}};
  if (!answer.decision_id.empty()) data["decision_id"] = answer.decision_id;
  nlohmann::json id = nlohmann::json::parse(jsonrpc_id, nullptr,
                                            /*allow_exceptions=*/false);
  if (id.is_discarded()) id = nullptr;
  const nlohmann::json body = {
      {"jsonrpc", "2.0"},
      {"id", std::move(id)},
      {"error", {{"code", code}, {"message", message}, {"data", data}}}};
  denied->set_body(body.dump());
}

}  // namespace

ExtAuthzRequest TranslateExtAuthzRequest(
    const envoy_auth::CheckRequest& request, bool may_assert_identity,
    const ExtAuthzOptions& options) {
  ExtAuthzRequest out;
  v1::CheckRequest& check = out.check;
  const envoy_auth::AttributeContext& attributes = request.attributes();
  const envoy_auth::AttributeContext::HttpRequest& http =
      attributes.request().http();

  if (const std::string_view token = BearerToken(Header(http, "authorization"));
      !token.empty()) {
    check.mutable_credentials()->set_bearer_token(std::string(token));
  } else if (may_assert_identity && !attributes.source().principal().empty()) {
    // The gateway authenticated the peer (mTLS) and may vouch for it. A
    // token, when sent, always speaks for the agent instead.
    check.mutable_subject()->set_id(attributes.source().principal());
  }
  if (const auto it = attributes.context_extensions().find(options.server_key);
      it != attributes.context_extensions().end()) {
    check.mutable_tool()->set_server(it->second);
  }
  const std::string_view request_id = Header(http, "x-request-id");
  check.set_request_id(
      std::string(request_id.empty() ? http.id() : request_id));
  check.set_traceparent(std::string(Header(http, "traceparent")));
  check.set_tracestate(std::string(Header(http, "tracestate")));

  const std::string_view header_method = Header(http, "mcp-method");
  const std::string_view header_name = Header(http, "mcp-name");
  const std::string& body_text =
      http.raw_body().empty() ? http.body() : http.raw_body();

  if (body_text.empty()) {
    check.set_action(std::string(header_method));
    SetTarget(header_method, header_name, &check);
    // Without the tool's inputSchema the header names are all Verdict
    // knows of the x-mcp-header mapping: arguments by header name.
    for (const auto& [key, value] : http.headers()) {
      if (!key.starts_with(kParamHeaderPrefix)) continue;
      (*check.mutable_tool()
            ->mutable_arguments()
            ->mutable_fields())[key.substr(kParamHeaderPrefix.size())]
          .set_string_value(value);
    }
    // Without a method, a GET opens the session's event stream and a
    // DELETE ends the session (Streamable HTTP): no call to decide.
    out.authenticate_only =
        AuthenticateOnly(header_method) ||
        (header_method.empty() &&
         (http.method() == "GET" || http.method() == "DELETE"));
    return out;
  }
  if (body_text.size() > kMaxExtAuthzBodyBytes) {
    out.problem = absl::StrCat("the request body is over ",
                               kMaxExtAuthzBodyBytes, " bytes");
    return out;
  }
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(body_text), "[")) {
    check.set_action(std::string(kJsonRpcBatchAction));
    return out;
  }
  BodyCall body;
  const absl::StatusOr<nlohmann::json> message =
      authn::ParseStrictJsonObject(body_text);
  if (!message.ok() || !ReadBody(*message, &body, &out.jsonrpc_id)) {
    check.set_action(std::string(kJsonRpcInvalidAction));
    return out;
  }
  if (!header_method.empty() && header_method != body.method) {
    out.problem_code = model::ReasonCode::kMcpHeaderMismatch;
    out.problem = absl::StrCat("the Mcp-Method header says \"",
                               std::string(header_method), "\", the body \"",
                               body.method, "\"");
  } else if (!header_name.empty() && header_name != body.target) {
    out.problem_code = model::ReasonCode::kMcpHeaderMismatch;
    out.problem = absl::StrCat(
        "the Mcp-Name header says \"", std::string(header_name),
        "\", the body's params.", body.target_is_uri ? "uri" : "name", " \"",
        body.target, "\"");
  }
  check.set_action(body.method);
  SetTarget(body.method, body.target, &check);
  if (body.arguments != nullptr) {
    CopyArguments(*body.arguments, check.mutable_tool()->mutable_arguments());
  }
  out.authenticate_only = out.problem.empty() && AuthenticateOnly(body.method);
  return out;
}

void TranslateCheckAnswer(const v1::CheckResponse& answer,
                          std::string_view jsonrpc_id,
                          const ExtAuthzOptions& options,
                          envoy_auth::CheckResponse* out) {
  Translate(
      Answer{.allowed = answer.decision() == v1::ALLOW,
             .reason = answer.reasons().empty() ? nullptr : &answer.reasons(0),
             .challenge = &answer.challenge(),
             .decision_id = answer.decision_id(),
             .policy_revision = answer.policy_revision(),
             .subject = answer.identity().subject()},
      jsonrpc_id, options, out);
}

void TranslateAuthenticateAnswer(const v1::AuthenticateResponse& answer,
                                 std::string_view jsonrpc_id,
                                 const ExtAuthzOptions& options,
                                 envoy_auth::CheckResponse* out) {
  Translate(Answer{.allowed = answer.authenticated(),
                   .reason = &answer.refusal(),
                   .challenge = &answer.challenge(),
                   .decision_id = {},
                   .policy_revision = answer.policy_revision(),
                   .subject = answer.identity().subject()},
            jsonrpc_id, options, out);
}

}  // namespace verdict::service
