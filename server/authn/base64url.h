// Strict base64url (RFC 4648 section 5) as JWS compact serialization uses it.
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

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_BASE64URL_H_
