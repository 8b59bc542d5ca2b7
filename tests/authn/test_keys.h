// Test-only key material, made at test time: key pairs, their public JWKs, a
// small JWS signer (including the hostile variants tests need) and a test
// certificate authority for X.509-SVIDs. No private key is ever written to
// the repository. Shared by tests/authn and bench/authn_bench.cc.

#ifndef VERDICT_TESTS_AUTHN_TEST_KEYS_H_
#define VERDICT_TESTS_AUTHN_TEST_KEYS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "server/authn/jwk.h"
#include "server/authn/openssl_util.h"

namespace verdict::authn::testing {

enum class KeyKind { kRsa2048, kEcP256, kEcP384, kEd25519 };

struct TestKey {
  KeyKind kind = KeyKind::kRsa2048;
  std::string kid;
  EvpPkeyPtr key;  // private key
};

TestKey GenerateKey(KeyKind kind, std::string kid);

// The kind of key `algorithm` needs.
KeyKind KeyKindFor(JwsAlgorithm algorithm);

// The public JWK of `key` (kid included when non-empty; alg when given).
nlohmann::json PublicJwk(const TestKey& key, std::string_view alg = "");

// {"keys": [...]} as text.
std::string Jwks(const std::vector<nlohmann::json>& keys);

// The JWS signature of `signing_input` with `key` under `algorithm`, as it
// appears (decoded) in a token: raw r||s for ECDSA.
std::string Sign(JwsAlgorithm algorithm, const TestKey& key,
                 std::string_view signing_input);

// HMAC-SHA256/384/512 of `input` with `secret` (for algorithm confusion).
std::string Hmac(std::string_view digest, std::string_view secret,
                 std::string_view input);

// The DER SubjectPublicKeyInfo of `key`: what a confused verifier would use
// as the HMAC secret.
std::string PublicKeyDer(const TestKey& key);

// base64url(header) "." base64url(claims), the JWS signing input.
std::string SigningInput(const nlohmann::json& header,
                         const nlohmann::json& claims);

// A complete compact JWS: the header gets "alg" and, when the key has one,
// "kid", unless `header` already sets them.
std::string SignJwt(JwsAlgorithm algorithm, const TestKey& key,
                    nlohmann::json header, const nlohmann::json& claims);

// Writes `contents` to `path` by replacing it (write to a temporary file in
// the same directory, then rename), as deployment tools do.
void ReplaceFile(const std::string& path, std::string_view contents);

// A certificate with its private key.
struct TestCert {
  X509Ptr cert;
  EvpPkeyPtr key;

  std::string Pem() const;
};

struct CertOptions {
  std::string common_name = "test";
  std::vector<std::string> uris;  // URI SANs
  bool is_ca = false;
  absl::Time not_before;
  absl::Time not_after;
};

// A self-signed root CA when `issuer` is null, else a certificate signed by
// `issuer`. EC P-256 keys, SHA-256 signatures.
TestCert MakeCert(const CertOptions& options, const TestCert* issuer);

}  // namespace verdict::authn::testing

#endif  // VERDICT_TESTS_AUTHN_TEST_KEYS_H_
