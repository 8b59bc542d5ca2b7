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

void AppendDecisionRecord(const DecisionRecordInput& input, std::string* out) {
  const v1::CheckResponse& response = *input.response;
  const v1::Identity& identity = response.identity();
  out->push_back('{');
  AppendField("decision_id", response.decision_id(), out);
  out->push_back(',');
  AppendField("time",
              absl::FormatTime(absl::RFC3339_full, input.time,
                               absl::UTCTimeZone()),
              out);
  out->push_back(',');
  AppendField("caller", input.caller, out);
  out->append(",\"subject\":{");
  AppendField("id", identity.subject().empty() ? input.subject_id
                                                : identity.subject(),
              out);
  out->push_back(',');
  AppendField("auth", identity.method(), out);
  out->append("},\"delegation\":[");
  for (int i = 0; i < identity.delegation_chain_size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(identity.delegation_chain(i), out);
  }
  out->append("],\"tool\":{");
  AppendField("server", input.tool_server, out);
  out->push_back(',');
  AppendField("name", input.tool_name, out);
  out->append("},");
  AppendField("action", input.action, out);
  if (input.resource != nullptr) {
    out->append(",\"resource\":{");
    AppendField("kind", input.resource->kind(), out);
    out->push_back(',');
    AppendField("id", input.resource->id(), out);
    out->push_back('}');
  }
  out->push_back(',');
  AppendField("context_digest", StructDigest(input.context), out);
  out->push_back(',');
  AppendField("decision", response.decision() == v1::ALLOW ? "allow" : "deny",
              out);
  out->append(",\"reasons\":[");
  for (int i = 0; i < response.reasons_size(); ++i) {
    const v1::Reason& reason = response.reasons(i);
    if (i > 0) out->push_back(',');
    out->push_back('{');
    AppendField("code", reason.code(), out);
    if (!reason.rule().empty()) {
      out->push_back(',');
      AppendField("policy", reason.policy(), out);
      out->push_back(',');
      AppendField("rule", reason.rule(), out);
    }
    out->push_back('}');
  }
  out->append("],");
  AppendField("policy_revision", response.policy_revision(), out);
  absl::StrAppend(out, ",\"latency_us\":",
                  absl::ToDoubleMicroseconds(input.latency), "}");
}

}  // namespace verdict::audit
