#include "server/service/ext_authz_translation.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"
#include "server/authn/strict_json.h"
#include "server/common/utf8.h"
#include "server/decision/translation.h"
#include "server/model/mcp_method.h"

namespace verdict::service {
namespace {

namespace envoy_auth = ::envoy::service::auth::v3;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;

constexpr std::string_view kParamHeaderPrefix = "mcp-param-";

// The Streamable HTTP transport's form of a header value that is not plain
// visible ASCII: the standard Base64 of its UTF-8 bytes between these
// (case-sensitive) markers.
constexpr std::string_view kBase64Prefix = "=?base64?";
constexpr std::string_view kBase64Suffix = "?=";

// Names from the request appear in messages cut to this many bytes.
constexpr size_t kMaxShownBytes = 64;

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

// At most kMaxShownBytes of `text`, for a message: names come from the
// request, and a message must not grow with it.
std::string Shown(std::string_view text) {
  if (text.size() <= kMaxShownBytes) return std::string(text);
  return absl::StrCat(absl::string_view(text.data(), kMaxShownBytes), "...");
}

bool IsBase64Text(std::string_view text) {
  if (text.size() % 4 != 0) return false;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() &&
         text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  for (size_t i = 0; i < text.size() - padding; ++i) {
    const char c = text[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' &&
        c != '/') {
      return false;
    }
  }
  return true;
}

// Decodes an Mcp-Param-* value into `*out` as the transport encodes it
// (MCP 2026-07-28, Value Encoding): a value between the Base64 markers is
// Base64 of UTF-8 text; any other is plain visible ASCII, spaces and tabs.
// False for a value that is neither: a server that recognises the header
// must reject it.
bool DecodeParamValue(std::string_view value, std::string* out) {
  if (value.size() >= kBase64Prefix.size() + kBase64Suffix.size() &&
      value.starts_with(kBase64Prefix) && value.ends_with(kBase64Suffix)) {
    const std::string_view encoded =
        value.substr(kBase64Prefix.size(), value.size() - kBase64Prefix.size() -
                                               kBase64Suffix.size());
    return IsBase64Text(encoded) &&
           absl::Base64Unescape(
               absl::string_view(encoded.data(), encoded.size()), out) &&
           FindInvalidUtf8(*out) == std::string_view::npos;
  }
  for (const char c : value) {
    if ((c < 0x20 || c > 0x7e) && c != '\t') return false;
  }
  out->assign(value);
  return true;
}

// Whether `header` (decoded) states `value`, a body argument, as the
// transport converts one: a string as it is, an integer compared
// numerically (42 and 42.0 agree), a boolean as true or false.
bool HeaderStates(std::string_view header, const nlohmann::json& value) {
  if (value.is_string()) return header == value.get_ref<const std::string&>();
  if (value.is_boolean())
    return header == (value.get<bool>() ? "true" : "false");
  if (value.is_number()) {
    double number = 0;
    return absl::SimpleAtod(absl::string_view(header.data(), header.size()),
                            &number) &&
           number == value.get<double>();
  }
  return false;
}

// Whether `arguments` (an object, at any depth of objects) holds a member
// named `name` (case-insensitively, as header names compare), and whether
// one of those states `header`.
struct ArgumentMatch {
  bool named = false;
  bool agrees = false;
};

void MatchArgument(const nlohmann::json& arguments, std::string_view name,
                   std::string_view header, ArgumentMatch* match) {
  for (const auto& [key, value] : arguments.items()) {
    if (value.is_object()) {
      MatchArgument(value, name, header, match);
    } else if (absl::EqualsIgnoreCase(
                   key, absl::string_view(name.data(), name.size()))) {
      match->named = true;
      match->agrees |= HeaderStates(header, value);
    }
    if (match->agrees) return;
  }
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

// Why the MCP headers disagree with the body; empty when they agree.
// Without the tool's inputSchema an Mcp-Param-* header is matched to the
// arguments of its name (any depth): one of them must state it. A header no
// argument is named after is the MCP server's to check, which knows the
// schema's x-mcp-header names. Values are never quoted: arguments may be
// secrets.
std::string MismatchOf(
    std::string_view header_method, std::string_view header_name,
    const std::vector<std::pair<std::string_view, std::string>>& params,
    const BodyCall& body) {
  if (!header_method.empty() && header_method != body.method) {
    return absl::StrCat("the Mcp-Method header says \"", Shown(header_method),
                        "\", the body \"", Shown(body.method), "\"");
  }
  if (!header_name.empty() && header_name != body.target) {
    return absl::StrCat("the Mcp-Name header says \"", Shown(header_name),
                        "\", the body's params.",
                        body.target_is_uri ? "uri" : "name", " \"",
                        Shown(body.target), "\"");
  }
  for (const auto& [name, value] : params) {
    ArgumentMatch match;
    if (body.arguments != nullptr) {
      MatchArgument(*body.arguments, name, value, &match);
    }
    if (match.named && !match.agrees) {
      return absl::StrCat("the Mcp-Param-", Shown(name),
                          " header disagrees with the body's "
                          "params.arguments");
    }
  }
  return "";
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
    case v1::REASON_CATEGORY_RATE_LIMITED:
      return {-32029, "rate limited"};
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
  if (challenge.retry_after_seconds() > 0) {
    AddHeader("retry-after", absl::StrCat(challenge.retry_after_seconds()),
              denied->mutable_headers());
  }
  if (!answer.decision_id.empty()) {
    AddHeader(kDecisionIdHeader, answer.decision_id, denied->mutable_headers());
  }
  const auto [code, message] = JsonRpcError(category);
  nlohmann::json data = {{"reason", reason.code()},
                         {"category", decision::CategoryNameOnWire(category)}};
  if (challenge.retry_after_seconds() > 0) {
    data["retry_after_seconds"] = challenge.retry_after_seconds();
  }
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
    const decision::McpServers* servers, const ExtAuthzOptions& options) {
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
    // verdictd cannot see the gateway's routes: a route naming a server it
    // does not know is refused here rather than decided without the
    // server's audience and challenge.
    if (servers != nullptr && !servers->empty() &&
        servers->Find(it->second) == nullptr) {
      out.problem =
          absl::StrCat("context_extensions[", Shown(options.server_key),
                       "] names no configured MCP server");
    }
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

  // The Mcp-Param-* headers, decoded: every one must be well formed.
  std::vector<std::pair<std::string_view, std::string>> params;
  for (const auto& [key, value] : http.headers()) {
    if (!key.starts_with(kParamHeaderPrefix)) continue;
    std::string decoded;
    if (!DecodeParamValue(value, &decoded)) {
      if (out.problem.empty()) {
        out.problem = absl::StrCat("the ", Shown(key),
                                   " header is neither visible ASCII nor "
                                   "valid =?base64?...?= UTF-8");
      }
      continue;
    }
    params.emplace_back(std::string_view(key).substr(kParamHeaderPrefix.size()),
                        std::move(decoded));
  }

  if (body_text.empty()) {
    check.set_action(std::string(header_method));
    SetTarget(header_method, header_name, &check);
    // Without the tool's inputSchema the header names are all Verdict
    // knows of the x-mcp-header mapping: arguments by header name.
    for (auto& [name, value] : params) {
      (*check.mutable_tool()
            ->mutable_arguments()
            ->mutable_fields())[std::string(name)]
          .set_string_value(std::move(value));
    }
    // Without a method, a GET opens the session's event stream and a
    // DELETE ends the session (Streamable HTTP): no call to decide.
    out.authenticate_only =
        out.problem.empty() &&
        (AuthenticateOnly(header_method) ||
         (header_method.empty() &&
          (http.method() == "GET" || http.method() == "DELETE")));
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
  if (out.problem.empty()) {
    out.problem = MismatchOf(header_method, header_name, params, body);
    if (!out.problem.empty()) {
      out.problem_code = model::ReasonCode::kMcpHeaderMismatch;
    }
  }
  check.set_action(body.method);
  SetTarget(body.method, body.target, &check);
  if (body.arguments != nullptr) {
    CopyArguments(*body.arguments, check.mutable_tool()->mutable_arguments());
  }
  out.authenticate_only = out.problem.empty() && AuthenticateOnly(body.method);
  return out;
}

void TranslateOutcome(const decision::Outcome& outcome,
                      std::string_view jsonrpc_id,
                      const ExtAuthzOptions& options,
                      envoy_auth::CheckResponse* out) {
  Answer answer{.allowed = outcome.allowed(),
                .decision_id = outcome.decision_id(),
                .policy_revision = outcome.policy_revision(),
                .subject = outcome.identity() != nullptr
                               ? outcome.identity()->subject
                               : std::string_view()};
  if (answer.allowed) {
    Translate(answer, jsonrpc_id, options, out);
    return;
  }
  google::protobuf::RepeatedPtrField<v1::Reason> reasons;
  decision::TranslateReasons(outcome, &reasons);
  v1::Challenge challenge;
  decision::TranslateOutcomeChallenge(outcome, &challenge);
  answer.reason = reasons.empty() ? nullptr : &reasons.Get(0);
  answer.challenge = &challenge;
  Translate(answer, jsonrpc_id, options, out);
}

void TranslateAdmission(const decision::Admission& admission,
                        std::string_view jsonrpc_id,
                        const ExtAuthzOptions& options,
                        envoy_auth::CheckResponse* out) {
  Answer answer{.allowed = !admission.refused,
                .policy_revision = admission.policy_revision,
                .subject = admission.identity != nullptr
                               ? admission.identity->subject
                               : std::string_view()};
  if (answer.allowed) {
    Translate(answer, jsonrpc_id, options, out);
    return;
  }
  v1::Reason reason;
  reason.set_code(std::string(model::ReasonCodeName(admission.refusal)));
  reason.set_category(decision::CategoryOnWire(admission.refusal));
  reason.set_message(std::string(admission.message));
  v1::Challenge challenge;
  decision::TranslateChallenge(
      admission.refusal, admission.credential_presented,
      /*required_scopes=*/{}, admission.mcp_server, &challenge);
  answer.reason = &reason;
  answer.challenge = &challenge;
  Translate(answer, jsonrpc_id, options, out);
}

}  // namespace verdict::service
