#include "server/limits/limit_key.h"

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "openssl/evp.h"
#include "server/engine/interpreter.h"

namespace verdict::limits {
namespace {

// Key values are hashed to this many bytes: 128 bits, so that no request
// can choose values that meet another's count.
constexpr unsigned int kDigestBytes = 16;

// A SHA-256 context that frees itself.
class Digest {
 public:
  Digest() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  // One part, tagged with its kind and length-prefixed, so that no two
  // different value lists hash the same bytes.
  void Add(char kind, std::string_view bytes) {
    unsigned char header[9];
    header[0] = static_cast<unsigned char>(kind);
    const uint64_t size = bytes.size();
    for (int i = 0; i < 8; ++i) {
      header[1 + i] = static_cast<unsigned char>(size >> (8 * i));
    }
    ok_ = ok_ && EVP_DigestUpdate(ctx_, header, sizeof(header)) &&
          EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
  }

  // Appends the hex digest to `out`; false when OpenSSL failed.
  bool Finish(std::string* out) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (!ok_ || !EVP_DigestFinal_ex(ctx_, digest, &size) ||
        size < kDigestBytes) {
      return false;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < kDigestBytes; ++i) {
      out->push_back(kHex[digest[i] >> 4]);
      out->push_back(kHex[digest[i] & 0xF]);
    }
    return true;
  }

 private:
  EVP_MD_CTX* const ctx_;
  bool ok_ = false;
};

absl::string_view Absl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

}  // namespace

absl::StatusOr<std::string> LimitKeyOf(const policy::Rule& rule,
                                       const model::Request& request,
                                       model::EvalScratch* scratch) {
  const policy::RuleLimit& limit = *rule.limit;
  Digest digest;
  for (size_t i = 0; i < limit.per.size(); ++i) {
    // The value may live in the scratch: hashed before the next evaluation.
    const model::Value value =
        engine::EvaluateValue(limit.per[i], request, scratch);
    switch (value.kind()) {
      case model::Kind::kString:
        digest.Add('s', value.string_value());
        continue;
      case model::Kind::kInt:
        digest.Add('i', absl::StrCat(value.int_value()));
        continue;
      case model::Kind::kDouble:
        digest.Add('d', absl::StrFormat("%.17g", value.double_value()));
        continue;
      default:
        break;
    }
    std::string why =
        value.is_error()
            ? std::string(Absl(model::ErrorText(value.error_code())))
            : "its value is not a string or a number";
    if (value.is_error() && !value.error_detail().empty()) {
      absl::StrAppend(&why, " (", Absl(value.error_detail()), ")");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("limit key ", limit.per_text[i], ": ", why));
  }
  std::string key = absl::StrCat(limit.identity, ":");
  if (!digest.Finish(&key)) {
    return absl::InternalError("cannot hash the limit key");
  }
  return key;
}

}  // namespace verdict::limits
