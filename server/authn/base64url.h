// Strict base64url (RFC 4648 section 5) as JWS compact serialization uses it,
// and the split of a compact JWS into its decoded segments.
//
// Decoding accepts only the unpadded alphabet [A-Za-z0-9_-]: padding,
// whitespace, the standard alphabet's '+' and '/', an impossible length
// (1 mod 4) and non-zero trailing bits are all errors, so every byte string
// has exactly one accepted encoding. Pure functions; thread-safe.

#ifndef VERDICT_SERVER_AUTHN_BASE64URL_H_
#define VERDICT_SERVER_AUTHN_BASE64URL_H_

#include <optional>
#include <string>
#include <string_view>

namespace verdict::authn {

// The decoded bytes, or nullopt when `text` is not canonical base64url.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Unpadded base64url of `bytes`.
std::string Base64UrlEncode(std::string_view bytes);

// A compact JWS (header.payload.signature), its segments decoded.
struct CompactJws {
  std::string_view signing_input;  // "header.payload" as sent: what is signed
  std::string header;              // JSON text
  std::string payload;
  std::string signature;
};

// Splits `token` into exactly three segments of canonical base64url. The
// error is a phrase that follows the token's name ("is not a compact JWS
// (three segments)", "segment is not canonical base64url") and never quotes
// the token.
std::optional<CompactJws> DecodeCompactJws(std::string_view token,
                                           std::string_view* error);

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_BASE64URL_H_
