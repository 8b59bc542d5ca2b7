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
// (protobuf rejects it at parse time), so bytes >= 0x80 pass through. Runs of
// plain characters are appended at once: this is on the request path.
void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  size_t plain_from = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + plain_from, i - plain_from);
    plain_from = i + 1;
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
      default: {
        char escape[8];
        std::snprintf(escape, sizeof(escape), "\\u%04x", c);
        out->append(escape);
      }
    }
  }
  out->append(text.data() + plain_from, text.size() - plain_from);
  out->push_back('"');
}

// RFC 3339 UTC with microseconds. absl::FormatTime costs about a
// microsecond, so each thread formats the seconds once per second.
void AppendTime(absl::Time time, std::string* out) {
  struct Cache {
    int64_t second = -1;
    std::string prefix;  // "2026-11-26T06:00:00"
  };
  thread_local Cache cache;
  const int64_t micros = absl::ToUnixMicros(time);
  const int64_t second =
      micros >= 0 ? micros / 1000000 : (micros - 999999) / 1000000;
  if (second != cache.second) {
    cache.second = second;
    cache.prefix =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second),
                         absl::UTCTimeZone());
  }
  char fraction[16];
  std::snprintf(fraction, sizeof(fraction), ".%06dZ",
                static_cast<int>(micros - second * 1000000));
  out->push_back('"');
  out->append(cache.prefix);
  out->append(fraction);
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
  thread_local std::string bytes;  // keeps its capacity between requests
  bytes.clear();
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    value->SerializeToCodedStream(&coded);
  }
  static const EVP_MD* const kSha256 = EVP_sha256();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, kSha256,
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
  AppendJsonString("time", out);
  out->push_back(':');
  AppendTime(input.time, out);
  out->push_back(',');
  AppendField("caller", input.caller, out);
  out->append(",\"subject\":{");
  AppendField(
      "id", identity.subject().empty() ? input.subject_id : identity.subject(),
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
  absl::StrAppend(
      out, ",\"latency_us\":", absl::ToDoubleMicroseconds(input.latency), "}");
}

}  // namespace verdict::audit
