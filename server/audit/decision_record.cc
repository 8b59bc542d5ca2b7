#include "server/audit/decision_record.h"

#include <openssl/evp.h>

#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace verdict::audit {
namespace {

// Appends `text` as a JSON string literal. Invalid UTF-8 never reaches here
// (protobuf rejects it at parse time), so bytes >= 0x80 pass through.
void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", c);
          out->append(escape);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendField(std::string_view key, std::string_view value,
                 std::string* out) {
  AppendJsonString(key, out);
  out->push_back(':');
  AppendJsonString(value, out);
}

}  // namespace

std::string StructDigest(const google::protobuf::Struct* value) {
  if (value == nullptr) return "";
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    value->SerializeToCodedStream(&coded);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(),
                 nullptr) != 1) {
    return "";
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 8));
}

void AppendDecisionRecord(const DecisionContext& decision,
                          const engine::Request& request,
                          const engine::Result& result, std::string* out) {
  out->push_back('{');
  AppendField("decision_id", decision.decision_id, out);
  out->push_back(',');
  AppendField("time", absl::FormatTime(absl::RFC3339_full, decision.time,
                                       absl::UTCTimeZone()),
              out);
  out->push_back(',');
  AppendField("caller", decision.caller, out);
  out->append(",\"subject\":{");
  AppendField("id", request.subject.id, out);
  out->push_back(',');
  AppendField("auth", request.subject.auth, out);
  out->append("},\"delegation\":[");
  if (request.delegation.chain != nullptr) {
    bool first = true;
    for (const std::string& actor : *request.delegation.chain) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(actor, out);
    }
  }
  out->append("],\"tool\":{");
  AppendField("server", request.tool.server, out);
  out->push_back(',');
  AppendField("name", request.tool.name, out);
  out->push_back(',');
  AppendField("arguments_digest", StructDigest(request.tool.arguments), out);
  out->append("},");
  AppendField("action", request.action, out);
  if (request.resource.present) {
    out->append(",\"resource\":{");
    AppendField("kind", request.resource.kind, out);
    out->push_back(',');
    AppendField("id", request.resource.id, out);
    out->push_back('}');
  }
  out->push_back(',');
  AppendField("context_digest", StructDigest(request.context), out);
  out->push_back(',');
  AppendField("decision",
              result.decision == engine::Decision::kAllow ? "allow" : "deny",
              out);
  out->append(",\"reasons\":[");
  for (size_t i = 0; i < result.reasons.size(); ++i) {
    const engine::Reason& reason = result.reasons[i];
    if (i > 0) out->push_back(',');
    out->push_back('{');
    AppendField("code", engine::ReasonCodeName(reason.code), out);
    if (reason.rule != nullptr) {
      out->push_back(',');
      AppendField("policy", reason.rule->policy, out);
      out->push_back(',');
      AppendField("rule", reason.rule->id, out);
    }
    out->push_back('}');
  }
  out->append("],");
  AppendField("policy_revision", decision.policy_revision, out);
  absl::StrAppend(out, ",\"latency_us\":",
                  absl::ToDoubleMicroseconds(decision.latency), "}");
}

}  // namespace verdict::audit
