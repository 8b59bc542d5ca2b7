#include "server/audit/decision_record.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/model/reason.h"

namespace verdict::audit {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// The most a record can take: every string at its limit and its quotes, and
// 1 KiB for every key, separator, number and the time.
constexpr size_t kRecordBound =
    1024 + (kMaxIdBytes + 2) * (1 + 1 + 2 + 2 + 1 + 2 + 1 + kMaxDelegation) +
    (kMaxRequestIdBytes + 2) + (kMaxTraceparentBytes + 2) +
    (kMaxTracestateBytes + 2) + 2 * (kMaxBatchFieldBytes + 2) +
    (kMaxMessageBytes + 2) + kMaxReasons * (3 * (kMaxMessageBytes + 2) + 40) +
    kMaxReasons * (kMaxMessageBytes + 3) + 16;
static_assert(kRecordBound <= kMaxDecisionRecordBytes);

// A cursor into a buffer of kMaxDecisionRecordBytes: the field limits bound
// the record, so no write checks the end.
struct Out {
  char* p;

  void Put(char c) { *p++ = c; }
  void Put(std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    p += text.size();
  }
};

bool IsPlain(unsigned char c) {
  // 0xf8 to 0xff never occur in UTF-8.
  return c >= 0x20 && c != '"' && c != '\\' && c < 0xf8;
}

// Writes `text` as a JSON string literal of at most `limit` bytes between
// the quotes; returns false when it had to cut. Runs of plain characters
// are copied at once: this is on the request path.
bool PutJsonString(std::string_view text, size_t limit, Out& out) {
  out.Put('"');
  const char* const s = text.data();
  const size_t n = text.size();
  size_t used = 0;
  size_t i = 0;
  bool cut = false;
  while (i < n) {
    size_t run = i;
    const size_t run_end = std::min(n, i + (limit - used));
    while (run < run_end && IsPlain(static_cast<unsigned char>(s[run]))) {
      ++run;
    }
    out.Put(std::string_view(s + i, run - i));
    used += run - i;
    i = run;
    if (i == n) break;
    if (i == run_end) {
      cut = true;
      break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const char* escape;
    char unicode[6] = {
        '\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xf]};
    size_t length = 2;
    switch (c) {
      case '"':
        escape = "\\\"";
        break;
      case '\\':
        escape = "\\\\";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      case '\t':
        escape = "\\t";
        break;
      default:
        escape = c >= 0xf8 ? "\\ufffd" : unicode;
        length = 6;
    }
    if (used + length > limit) {
      cut = true;
      break;
    }
    out.Put(std::string_view(escape, length));
    used += length;
    ++i;
  }
  if (cut) {
    // Never split a character: the bytes of a multi-byte one are plain and
    // were copied one for one, so backing up removes them.
    while (i > 0 && i < n &&
           (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) {
      --i;
      --out.p;
    }
  }
  out.Put('"');
  return !cut;
}

// `n` as exactly `width` decimal digits.
void PutDigits(int64_t n, int width, Out& out) {
  for (int i = width - 1; i >= 0; --i) {
    out.p[i] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
  out.p += width;
}

// RFC 3339 UTC with microseconds. absl::FormatTime costs about a
// microsecond, so each thread formats the seconds once per second.
void PutTime(absl::Time time, Out& out) {
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
  out.Put('"');
  out.Put(cache.prefix);
  out.Put('.');
  PutDigits(micros - second * 1000000, 6, out);
  out.Put("Z\"");
}

// Microseconds with one decimal ("4.2"): a decision's latency.
void PutMicros(absl::Duration latency, Out& out) {
  int64_t tenths = absl::ToInt64Nanoseconds(latency) / 100;
  if (tenths < 0) tenths = 0;
  char digits[24];
  int length = 0;
  const int64_t whole = tenths / 10;
  int64_t rest = whole;
  do {
    digits[length++] = static_cast<char>('0' + rest % 10);
    rest /= 10;
  } while (rest > 0);
  while (length > 0) out.Put(digits[--length]);
  if (tenths % 10 != 0) {
    out.Put('.');
    out.Put(static_cast<char>('0' + tenths % 10));
  }
}

void PutCount(int64_t n, Out& out) {
  char digits[24];
  int length = 0;
  do {
    digits[length++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  while (length > 0) out.Put(digits[--length]);
}

// `"key":"value"`; the key is trusted text.
bool PutField(std::string_view key, std::string_view value, size_t limit,
              Out& out) {
  out.Put('"');
  out.Put(key);
  out.Put("\":");
  return PutJsonString(value, limit, out);
}

bool IsLowerHex(std::string_view text) {
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view text) {
  return text.find_first_not_of('0') == std::string_view::npos;
}

// The 16 hex digits of AppendStructDigest, or false.
bool StructDigest(const google::protobuf::Struct& value, char hex[16]) {
  thread_local std::string bytes;  // keeps its capacity between requests
  bytes.clear();
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    value.SerializeToCodedStream(&coded);
  }
  // Fetched once: EVP_sha256() would be looked up in the provider on every
  // digest, which costs more than hashing a small context.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context context;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (kSha256 == nullptr || context.ctx == nullptr ||
      EVP_DigestInit_ex2(context.ctx, kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, digest, &length) != 1 || length < 8) {
    return false;
  }
  for (int i = 0; i < 8; ++i) {
    hex[2 * i] = kHexDigits[digest[i] >> 4];
    hex[2 * i + 1] = kHexDigits[digest[i] & 0xf];
  }
  return true;
}

}  // namespace

bool IsValidTraceparent(std::string_view value) {
  constexpr size_t kVersion00Length = 55;  // 2+1+32+1+16+1+2
  if (value.size() < kVersion00Length || value[2] != '-' || value[35] != '-' ||
      value[52] != '-') {
    return false;
  }
  const std::string_view version = value.substr(0, 2);
  const std::string_view trace_id = value.substr(3, 32);
  const std::string_view parent_id = value.substr(36, 16);
  const std::string_view flags = value.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace_id) ||
      AllZero(trace_id) || !IsLowerHex(parent_id) || AllZero(parent_id) ||
      !IsLowerHex(flags)) {
    return false;
  }
  if (version == "00") return value.size() == kVersion00Length;
  return value.size() == kVersion00Length || value[kVersion00Length] == '-';
}

void AppendStructDigest(const google::protobuf::Struct* value,
                        std::string* out) {
  char hex[16];
  if (value != nullptr && StructDigest(*value, hex)) out->append(hex, 16);
}

size_t FormatDecisionRecord(const DecisionRecordInput& input, char* buffer,
                            bool* whole_out) {
  Out out{buffer};
  bool whole = true;
  out.Put('{');
  whole &= PutField("decision_id", input.decision_id, kMaxIdBytes, out);
  out.Put(",\"time\":");
  PutTime(input.time, out);
  if (!input.request_id.empty()) {
    out.Put(',');
    whole &= PutField("request_id", input.request_id, kMaxRequestIdBytes, out);
  }
  if (input.traceparent.size() <= kMaxTraceparentBytes &&
      IsValidTraceparent(input.traceparent)) {
    out.Put(",\"trace\":{");
    PutField("traceparent", input.traceparent, kMaxTraceparentBytes, out);
    // W3C lets a vendor discard a tracestate longer than 512 characters.
    if (!input.tracestate.empty() &&
        input.tracestate.size() <= kMaxTracestateBytes) {
      out.Put(',');
      PutField("tracestate", input.tracestate, kMaxTracestateBytes, out);
    }
    out.Put('}');
  }
  if (!input.batch.id.empty()) {
    out.Put(",\"batch\":{");
    whole &= PutField("id", input.batch.id, kMaxBatchFieldBytes, out);
    out.Put(",\"index\":");
    PutCount(input.batch.index, out);
    out.Put(",\"size\":");
    PutCount(input.batch.size, out);
    if (!input.batch.source.empty()) {
      out.Put(',');
      whole &= PutField("source", input.batch.source, kMaxBatchFieldBytes, out);
    }
    out.Put('}');
  } else if (!input.batch.source.empty()) {
    // A single decision asked through another protocol (ext_authz).
    out.Put(',');
    whole &= PutField("source", input.batch.source, kMaxBatchFieldBytes, out);
  }
  out.Put(',');
  whole &= PutField("caller", input.caller, kMaxIdBytes, out);
  out.Put(",\"subject\":{");
  whole &= PutField("id", input.subject_id, kMaxIdBytes, out);
  out.Put(',');
  whole &= PutField("auth", input.auth_method, kMaxIdBytes, out);
  if (!input.auth_error.empty()) {
    out.Put(',');
    whole &= PutField("error", input.auth_error, kMaxMessageBytes, out);
  }
  out.Put("},\"delegation\":[");
  const int actors = input.delegation == nullptr ? 0 : input.delegation->size();
  for (int i = 0; i < actors && i < kMaxDelegation; ++i) {
    if (i > 0) out.Put(',');
    whole &= PutJsonString(input.delegation->Get(i), kMaxIdBytes, out);
  }
  whole &= actors <= kMaxDelegation;
  out.Put("],\"tool\":{");
  whole &= PutField("server", input.tool_server, kMaxIdBytes, out);
  out.Put(',');
  whole &= PutField("name", input.tool_name, kMaxIdBytes, out);
  out.Put("},");
  whole &= PutField("action", input.action, kMaxIdBytes, out);
  if (input.resource != nullptr) {
    out.Put(",\"resource\":{");
    whole &= PutField("kind", input.resource->kind(), kMaxIdBytes, out);
    out.Put(',');
    whole &= PutField("id", input.resource->id(), kMaxIdBytes, out);
    out.Put('}');
  }
  out.Put(",\"context_digest\":\"");
  char hex[16];
  if (input.context != nullptr && StructDigest(*input.context, hex)) {
    out.Put(std::string_view(hex, sizeof(hex)));
  }
  switch (input.decision) {
    case model::Decision::kAllow:
      out.Put("\",\"decision\":\"allow\"");
      break;
    case model::Decision::kConditional:
      out.Put("\",\"decision\":\"conditional\"");
      break;
    case model::Decision::kDeny:
      out.Put("\",\"decision\":\"deny\"");
      break;
  }
  if (!input.depends_on.empty()) {
    out.Put(",\"depends_on\":[");
    const int paths = static_cast<int>(input.depends_on.size());
    for (int i = 0; i < paths && i < kMaxReasons; ++i) {
      if (i > 0) out.Put(',');
      whole &= PutJsonString(input.depends_on[i], kMaxMessageBytes, out);
    }
    out.Put(']');
  }
  out.Put(",\"reasons\":[");
  const int reasons = static_cast<int>(input.reasons.size());
  for (int i = 0; i < reasons && i < kMaxReasons; ++i) {
    const engine::Reason& reason = input.reasons[i];
    if (i > 0) out.Put(',');
    out.Put('{');
    whole &= PutField("code", model::ReasonCodeName(reason.code),
                      kMaxMessageBytes, out);
    if (reason.rule != nullptr) {
      out.Put(',');
      whole &= PutField("policy", reason.rule->policy, kMaxMessageBytes, out);
      out.Put(',');
      whole &= PutField("rule", reason.rule->id, kMaxMessageBytes, out);
    }
    out.Put('}');
  }
  out.Put(']');
  if (reasons > kMaxReasons) {
    out.Put(",\"reasons_omitted\":");
    PutCount(reasons - kMaxReasons, out);
  }
  out.Put(',');
  whole &= PutField("policy_revision", input.policy_revision, kMaxIdBytes, out);
  out.Put(",\"latency_us\":");
  PutMicros(input.latency, out);
  if (!whole) out.Put(",\"truncated\":true");
  out.Put('}');
  if (whole_out != nullptr) *whole_out = whole;
  return static_cast<size_t>(out.p - buffer);
}

bool AppendDecisionRecord(const DecisionRecordInput& input, std::string* out) {
  thread_local std::unique_ptr<char[]> buffer(
      new char[kMaxDecisionRecordBytes]);
  bool whole = true;
  const size_t length = FormatDecisionRecord(input, buffer.get(), &whole);
  out->append(buffer.get(), length);
  return whole;
}

}  // namespace verdict::audit
