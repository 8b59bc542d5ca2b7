// JOSE signature algorithms and JSON Web Key Sets (RFC 7517, 7518, 8037), as
// far as verifying signed JWTs needs them.
//
// Only asymmetric signatures exist here: there is no HMAC algorithm and no
// symmetric ("oct") key, so an HS256 token can never be checked against a
// public key used as a secret (algorithm confusion). A key is bound to one key
// type (RSA, EC P-256, EC P-384, Ed25519) and optionally to one algorithm;
// VerifyJws refuses any other pairing.
//
// A parsed JwkSet is immutable and safe to share between threads; a
// JwsVerifier is immutable after construction and safe from any thread.

#ifndef VERDICT_SERVER_AUTHN_JWK_H_
#define VERDICT_SERVER_AUTHN_JWK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/authn/openssl_util.h"

namespace verdict::authn {

enum class JwsAlgorithm : uint8_t {
  kRS256,  // RSASSA-PKCS1-v1_5 with SHA-256
  kRS384,
  kRS512,
  kPS256,  // RSASSA-PSS with SHA-256, MGF1 SHA-256, salt of 32 bytes
  kPS384,
  kPS512,
  kES256,  // ECDSA P-256 with SHA-256, signature raw r||s (64 bytes)
  kES384,  // ECDSA P-384 with SHA-384, signature raw r||s (96 bytes)
  kEdDSA,  // Ed25519 (RFC 8037)
};
inline constexpr int kJwsAlgorithmCount =
    static_cast<int>(JwsAlgorithm::kEdDSA) + 1;

// The algorithm named `name` ("RS256"...), or nullopt for anything else,
// including "none" and the HMAC algorithms.
std::optional<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);
std::string_view JwsAlgorithmName(JwsAlgorithm algorithm);

enum class KeyType : uint8_t { kRsa, kEcP256, kEcP384, kEd25519 };

// The only key type `algorithm` may be used with.
KeyType KeyTypeFor(JwsAlgorithm algorithm);

struct Jwk {
  std::string kid;  // empty: the JWK had none
  KeyType type = KeyType::kRsa;
  std::optional<JwsAlgorithm> alg;  // set: the key verifies only this alg
  EvpPkeyPtr key;                   // public key, never null
};

struct JwkSet {
  std::vector<Jwk> keys;
  absl::flat_hash_map<std::string, size_t> by_kid;  // index into keys

  // The key whose kid is `kid`, or null.
  const Jwk* Find(std::string_view kid) const;
};

// Parses a JWKS document ({"keys": [...]}). Keys that cannot serve signature
// verification are skipped: "use" other than "sig", "key_ops" without
// "verify", kty "oct" or unknown, curves other than P-256, P-384 and
// Ed25519, an "alg" that is not a supported signature algorithm for the key
// type. A malformed supported key, an RSA modulus under 2048 bits, an EC point
// off its curve, private key members, or two keys with one kid make the whole
// document invalid (InvalidArgument).
absl::StatusOr<JwkSet> ParseJwks(std::string_view text);

// Verifies JWS signatures with digests fetched once, so the per-call cost is
// the public-key operation itself.
class JwsVerifier {
 public:
  JwsVerifier();

  // True when `signature` (as carried in the JWS, raw r||s for ECDSA) signs
  // `signing_input` under `key` with `algorithm`. False also when the key's
  // type or alg does not fit `algorithm`; callers check that first to report
  // algorithm_not_allowed rather than signature_invalid.
  bool Verify(JwsAlgorithm algorithm, const Jwk& key,
              std::string_view signing_input, std::string_view signature) const;

 private:
  EvpMdPtr sha256_;
  EvpMdPtr sha384_;
  EvpMdPtr sha512_;
};

// True when `key` may verify `algorithm`: same key type, and the key's alg,
// if any, is `algorithm`.
bool KeyAllowsAlgorithm(const Jwk& key, JwsAlgorithm algorithm);

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_JWK_H_
