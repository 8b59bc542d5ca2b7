// What the token fuzzers (jwt, grant_token) share: a fixed Ed25519 key, so
// that mutated header.payload pairs can be re-signed and reach the checks
// behind the signature, and the promise that failure messages never quote
// the token.
//
// The private key is SHA-256 of a fixed label (no secret is stored); its
// public half is kFuzzEd25519PublicX. Every failure to set up aborts.

#ifndef VERDICT_FUZZ_FUZZ_TOKENS_H_
#define VERDICT_FUZZ_FUZZ_TOKENS_H_

#include <optional>
#include <string>
#include <string_view>

#include "server/authn/openssl_util.h"

namespace verdict::fuzz {

inline constexpr std::string_view kFuzzEd25519PublicX =
    "XJ4S8dj8Y1VuRd70VvNAewhoo94De8uN8ujhLNYyeZ8";

[[noreturn]] void FixtureFailed(std::string_view what);

// The fixed Ed25519 key, checked against kFuzzEd25519PublicX.
authn::EvpPkeyPtr FuzzEd25519Key();
// The key as a PKCS#8 PEM, for loaders that read key files.
std::string PrivateKeyPem(EVP_PKEY* key);

// `token` with its first two segments signed by `key` (EdDSA), or nothing
// when it does not have the shape header.payload.signature.
std::optional<std::string> Resigned(std::string_view token, EVP_PKEY* key);

// Requires that `message` contains no segment of `token` of 32 or more
// base64url characters (shorter ones could match fixed text by chance).
void RequireTokenNotQuoted(std::string_view message, std::string_view token);

}  // namespace verdict::fuzz

#endif  // VERDICT_FUZZ_FUZZ_TOKENS_H_
