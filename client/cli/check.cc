#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/verdict_client.h"
#include "google/protobuf/util/json_util.h"
#include "server/common/flags.h"
#include "server/yaml/value.h"

namespace verdict::cli {
namespace {

constexpr char kUsage[] =
    "usage: verdict check --tool NAME [flags]\n"
    "\n"
    "Asks a running verdictd for one decision and prints it with its reasons.\n"
    "V in K=V is YAML: 3 is a number, true a bool, [a, b] a list, {k: v} a "
    "map.\n"
    "A listing (--action tools/list, ...) may answer CONDITIONAL: the item is\n"
    "shown and its call decided when it comes, on the paths printed.\n"
    "Exit status: 0 allow, 1 deny or conditional, 2 error.\n"
    "\n"
    "flags:\n";

const std::vector<FlagSpec>& CheckFlags() {
  static const std::vector<FlagSpec>* const kFlags = new std::vector<FlagSpec>{
      {"server", "ADDR", "verdictd address (default 127.0.0.1:50051)"},
      {"ca", "FILE", "connect over TLS: PEM CA of the server"},
      {"cert", "FILE", "PEM client certificate (with --ca)"},
      {"key", "FILE", "PEM client private key (with --ca)"},
      {"server-id", "SPIFFE_ID",
       "the server certificate's SPIFFE ID (with --ca)"},
      {"subject", "ID", "asserted subject id"},
      {"role", "R", "a role of the subject", Repeated::kCollect},
      {"scope", "S", "an OAuth scope of the asserted subject",
       Repeated::kCollect},
      {"attr", "K=V", "a subject attribute", Repeated::kCollect},
      {"token", "JWT", "a bearer token credential"},
      {"grant", "TOKEN", "a task grant credential"},
      {"tool-server", "S", "the MCP server of the tool"},
      {"tool", "NAME", "the tool name (required)"},
      {"annotation", "K=V", "a tool annotation, e.g. readOnlyHint=true",
       Repeated::kCollect},
      {"action", "A", "the action (default tools/call)"},
      {"arg", "K=V", "a tool argument", Repeated::kCollect},
      {"resource", "KIND:ID", "the resource touched"},
      {"resource-attr", "K=V", "a resource attribute", Repeated::kCollect},
      {"context", "K=V", "a request context field", Repeated::kCollect},
      {"explain", "", "print every rule considered"},
      {"json", "", "print the CheckResponse as JSON"},
      {"help", "", "print this help"},
  };
  return *kFlags;
}

// Adds every K=V of `pairs` to `*out`, V parsed as YAML.
absl::Status AddPairs(const std::string& flag,
                      const std::vector<std::string>& pairs,
                      google::protobuf::Struct* out) {
  for (const std::string& pair : pairs) {
    const size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " ", pair, ": expected K=V"));
    }
    absl::StatusOr<google::protobuf::Value> value =
        yaml::ParseProtoValue(std::string_view(pair).substr(equals + 1));
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " ", pair, ": ", value.status().message()));
    }
    (*out->mutable_fields())[pair.substr(0, equals)] = *std::move(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CheckRequest> BuildRequest(const ParsedFlags& args) {
  v1::CheckRequest request;
  if (!args.Has("tool")) {
    return absl::InvalidArgumentError("--tool is required");
  }
  if (args.Has("token") && args.Has("grant")) {
    return absl::InvalidArgumentError(
        "--token and --grant are exclusive: a request carries one credential");
  }
  if (args.Has("token")) {
    request.mutable_credentials()->set_bearer_token(args.Get("token", ""));
  }
  if (args.Has("grant")) {
    request.mutable_credentials()->set_grant_token(args.Get("grant", ""));
  }
  v1::Subject* subject = request.mutable_subject();
  subject->set_id(args.Get("subject", ""));
  for (const std::string& role : args.GetAll("role")) subject->add_roles(role);
  for (const std::string& scope : args.GetAll("scope")) {
    subject->add_scopes(scope);
  }
  if (absl::Status s =
          AddPairs("attr", args.GetAll("attr"), subject->mutable_attributes());
      !s.ok()) {
    return s;
  }
  v1::Tool* tool = request.mutable_tool();
  tool->set_server(args.Get("tool-server", ""));
  tool->set_name(args.Get("tool", ""));
  if (args.Has("annotation")) {
    if (absl::Status s = AddPairs("annotation", args.GetAll("annotation"),
                                  tool->mutable_annotations());
        !s.ok()) {
      return s;
    }
  }
  if (args.Has("arg")) {
    if (absl::Status s =
            AddPairs("arg", args.GetAll("arg"), tool->mutable_arguments());
        !s.ok()) {
      return s;
    }
  }
  request.set_action(args.Get("action", "tools/call"));
  if (args.Has("resource-attr") && !args.Has("resource")) {
    return absl::InvalidArgumentError("--resource-attr needs --resource");
  }
  if (args.Has("resource")) {
    v1::Resource* resource = request.mutable_resource();
    const std::string& text = args.Get("resource", "");
    const size_t colon = text.find(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--resource ", text, ": expected KIND:ID"));
    }
    resource->set_kind(text.substr(0, colon));
    resource->set_id(text.substr(colon + 1));
    if (args.Has("resource-attr")) {
      if (absl::Status s =
              AddPairs("resource-attr", args.GetAll("resource-attr"),
                       resource->mutable_attributes());
          !s.ok()) {
        return s;
      }
    }
  }
  if (args.Has("context")) {
    if (absl::Status s = AddPairs("context", args.GetAll("context"),
                                  request.mutable_context());
        !s.ok()) {
      return s;
    }
  }
  request.set_explain(args.Has("explain"));
  return request;
}

std::string RuleName(const std::string& policy, const std::string& rule) {
  if (policy.empty() && rule.empty()) return "-";
  return absl::StrCat(policy, "/", rule);
}

void PrintText(const v1::CheckResponse& response, bool explain,
               std::ostream& out) {
  // A conditional answer travels as a DENY, so that clients that do not
  // know it hide the item; it is not a deny, and says what it waits for.
  const bool conditional =
      response.decision() != v1::ALLOW && response.conditional();
  out << (response.decision() == v1::ALLOW ? "ALLOW"
          : conditional                    ? "CONDITIONAL"
                                           : "DENY")
      << "\n";
  for (const v1::Reason& reason : response.reasons()) {
    out << "  " << reason.code() << "  "
        << RuleName(reason.policy(), reason.rule());
    if (!reason.message().empty()) out << "  " << reason.message();
    out << "\n";
  }
  if (conditional) {
    out << "depends_on: " << absl::StrJoin(response.depends_on(), ", ") << "\n";
  }
  if (!response.obligations().fields().empty()) {
    std::string json;
    if (google::protobuf::util::MessageToJsonString(response.obligations(),
                                                    &json)
            .ok()) {
      out << "obligations: " << json << "\n";
    }
  }
  // Asserted subjects are the caller's own words; verified ones are news.
  if (const v1::Identity& identity = response.identity();
      !identity.method().empty() && identity.method() != "asserted") {
    out << "identity: " << identity.subject() << "  " << identity.method();
    if (!identity.issuer().empty()) out << "  " << identity.issuer();
    if (identity.has_expires_at()) {
      out << "  until "
          << absl::FormatTime(
                 absl::RFC3339_sec,
                 absl::FromUnixSeconds(identity.expires_at().seconds()),
                 absl::UTCTimeZone());
    }
    for (const std::string& actor : identity.delegation_chain()) {
      out << "  via " << actor;
    }
    out << "\n";
  }
  out << "decision_id: " << response.decision_id()
      << "  policy_revision: " << response.policy_revision() << "\n";
  if (!explain) return;
  out << "trace:\n";
  if (response.trace().empty()) out << "  (no candidate rule)\n";
  for (const v1::TraceStep& step : response.trace()) {
    out << "  " << RuleName(step.policy(), step.rule()) << "  " << step.effect()
        << "  " << step.outcome();
    if (!step.detail().empty()) out << "  " << step.detail();
    out << "\n";
  }
}

}  // namespace

int RunCheck(const std::vector<std::string>& argv, std::ostream& out,
             std::ostream& err) {
  for (const std::string& arg : argv) {
    if (arg == "-h") {
      out << kUsage << FlagsUsage(CheckFlags());
      return kExitOk;
    }
  }
  absl::StatusOr<ParsedFlags> args = ParseFlags(CheckFlags(), argv);
  if (!args.ok()) {
    err << "verdict check: " << args.status().message() << "\n"
        << "run 'verdict check --help' for usage\n";
    return kExitError;
  }
  if (args->Has("help")) {
    out << kUsage << FlagsUsage(CheckFlags());
    return kExitOk;
  }
  if (!args->positional().empty()) {
    err << "verdict check: unexpected argument " << args->positional()[0]
        << "\n";
    return kExitError;
  }
  absl::StatusOr<v1::CheckRequest> request = BuildRequest(*args);
  if (!request.ok()) {
    err << "verdict check: " << request.status().message() << "\n";
    return kExitError;
  }
  const std::string address = args->Get("server", "127.0.0.1:50051");
  if (!args->Has("ca") &&
      (args->Has("cert") || args->Has("key") || args->Has("server-id"))) {
    err << "verdict check: --cert, --key and --server-id need --ca\n";
    return kExitError;
  }
  if (args->Has("cert") != args->Has("key")) {
    err << "verdict check: --cert and --key go together\n";
    return kExitError;
  }
  std::unique_ptr<client::VerdictClient> client;
  if (args->Has("ca")) {
    absl::StatusOr<std::unique_ptr<client::VerdictClient>> connected =
        client::VerdictClient::ConnectTls(
            address, client::ClientTlsOptions{
                         .ca_file = args->Get("ca", ""),
                         .cert_file = args->Get("cert", ""),
                         .key_file = args->Get("key", ""),
                         .server_id = args->Get("server-id", ""),
                     });
    if (!connected.ok()) {
      err << "verdict check: " << connected.status().message() << "\n";
      return kExitError;
    }
    client = *std::move(connected);
  } else {
    client = client::VerdictClient::Connect(address);
  }
  absl::StatusOr<v1::CheckResponse> response = client->Check(*request);
  if (!response.ok()) {
    err << "verdict check: " << address << ": "
        << absl::StatusCodeToString(response.status().code()) << ": "
        << response.status().message() << "\n";
    return kExitError;
  }
  if (args->Has("json")) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    // DENY is the enum's zero value: without this it would not be printed.
    options.always_print_primitive_fields = true;
    std::string json;
    if (auto s = google::protobuf::util::MessageToJsonString(*response, &json,
                                                             options);
        !s.ok()) {
      err << "verdict check: cannot print JSON: " << s.ToString() << "\n";
      return kExitError;
    }
    out << json;
    if (json.empty() || json.back() != '\n') out << "\n";
  } else {
    PrintText(*response, args->Has("explain"), out);
  }
  // Conditional is not an allow: like a deny, it exits 1.
  return response->decision() == v1::ALLOW ? kExitOk : kExitDenied;
}

}  // namespace verdict::cli
