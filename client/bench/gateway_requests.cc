#include "client/bench/gateway_requests.h"

#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace verdict::bench {
namespace {

namespace envoy_auth = ::envoy::service::auth::v3;

// A Struct as JSON; the empty object when absent.
nlohmann::json JsonOf(const google::protobuf::Struct& value) {
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(value, &text).ok()) {
    return nlohmann::json::object();
  }
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_object() ? parsed : nlohmann::json::object();
}

bool IsListing(const std::string& action) {
  return action.size() > 5 &&
         action.compare(action.size() - 5, 5, "/list") == 0;
}

}  // namespace

envoy_auth::CheckRequest ToExtAuthzRequest(const v1::CheckRequest& request,
                                           int jsonrpc_id) {
  envoy_auth::CheckRequest out;
  envoy_auth::AttributeContext* attributes = out.mutable_attributes();
  envoy_auth::AttributeContext::HttpRequest* http =
      attributes->mutable_request()->mutable_http();
  http->set_method("POST");
  http->set_path("/mcp");
  http->set_host("mcp.example");
  auto& headers = *http->mutable_headers();
  headers["content-type"] = "application/json";
  headers["mcp-protocol-version"] = "2026-07-28";
  headers["mcp-method"] = request.action();
  nlohmann::json body = {
      {"jsonrpc", "2.0"}, {"id", jsonrpc_id}, {"method", request.action()}};
  // A listing names no target: the MCP server filters it.
  if (!IsListing(request.action())) {
    nlohmann::json params = nlohmann::json::object();
    if (request.action() == "resources/read") {
      headers["mcp-name"] = request.resource().id();
      params["uri"] = request.resource().id();
    } else if (!request.tool().name().empty()) {
      headers["mcp-name"] = request.tool().name();
      params["name"] = request.tool().name();
      params["arguments"] = JsonOf(request.tool().arguments());
    }
    body["params"] = std::move(params);
  }
  http->set_body(body.dump());
  if (request.credentials().has_bearer_token()) {
    headers["authorization"] = "Bearer " + request.credentials().bearer_token();
  } else {
    attributes->mutable_source()->set_principal(request.subject().id());
  }
  (*attributes->mutable_context_extensions())["mcp_server"] =
      request.tool().server();
  return out;
}

std::string ToAuthzenEvaluation(const v1::CheckRequest& request) {
  const v1::Subject& subject = request.subject();
  nlohmann::json properties = {
      {"roles", nlohmann::json(std::vector<std::string>(
                    subject.roles().begin(), subject.roles().end()))}};
  if (subject.has_attributes()) {
    properties["attributes"] = JsonOf(subject.attributes());
  }
  nlohmann::json resource_properties = {{"server", request.tool().server()}};
  if (request.tool().has_arguments()) {
    resource_properties["arguments"] = JsonOf(request.tool().arguments());
  }
  if (request.tool().has_annotations()) {
    resource_properties["annotations"] = JsonOf(request.tool().annotations());
  }
  nlohmann::json body = {
      {"subject",
       {{"type", "agent"}, {"id", subject.id()}, {"properties", properties}}},
      {"action", {{"name", request.action()}}},
      {"resource",
       {{"type", "mcp_tool"},
        {"id", request.tool().name()},
        {"properties", resource_properties}}}};
  if (request.has_context()) body["context"] = JsonOf(request.context());
  return body.dump();
}

}  // namespace verdict::bench
