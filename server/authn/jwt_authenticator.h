// JwtAuthenticator: verifies compact JWS tokens (OAuth access tokens, RFC
// 9068, and SPIFFE JWT-SVIDs) against the issuers it is configured with, and
// maps their claims to an Identity.
//
// Promises, in this order of checks: a size cap before any parsing; exactly
// three strict-base64url segments; header and claims are JSON objects
// without duplicate members or deep nesting; "alg" is one of RS/PS
// 256/384/512, ES256, ES384, EdDSA and allowed for the issuer ("none" and
// HMAC never are); a "crit" header is refused (no extension is understood);
// "iss" selects the issuer by exact match; the key is the JWKS entry whose
// kid is the header's kid (never another key; without a kid, the JWKS's only
// key); the key's type and alg must fit "alg"; the signature verifies; then
// exp, nbf, iat (with clock skew), the maximum lifetime and the audience
// (RFC 8707: "aud" must contain an accepted audience). Header members jku,
// x5u, jwk and x5c are ignored: keys come only from the configured JWKS file.
// The identity of a verified token carries its accepted "aud" values, in
// token order without repeats (Identity::audiences).
//
// Verified tokens are cached by SHA-256 until exp plus skew, identity and
// all; a change of any JWKS clears the cache. JWKS files are re-read when their
// stamp changes (ReloadChangedKeys, or automatically after StartWatching); a
// file that no longer parses keeps its previous keys.
//
// Thread-safe: Authenticate runs concurrently with itself and with reloads.

#ifndef VERDICT_SERVER_AUTHN_JWT_AUTHENTICATOR_H_
#define VERDICT_SERVER_AUTHN_JWT_AUTHENTICATOR_H_

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/authn/authenticator.h"
#include "server/authn/jwk.h"
#include "server/authn/key_file.h"
#include "server/authn/openssl_util.h"
#include "server/common/digest_cache.h"
#include "server/common/dir_watcher.h"

namespace verdict::authn {

// Which claims become which parts of the Identity.
struct JwtClaimMapping {
  std::string subject = "sub";  // must be a non-empty string
  std::string roles;            // empty: no roles; a list, or one string
  // A space-separated string or a list of strings. When this is "scope" and
  // the token has no "scope", "scp" is read instead.
  std::string scopes = "scope";
  std::vector<std::string> attributes;  // copied as they are, when present
};

struct JwtIssuerOptions {
  std::string issuer;     // matched exactly against "iss"
  std::string jwks_file;  // local file, re-read when it changes
  // Accepted "aud" values, at least one. verdictd passes the issuer's own
  // and every MCP server's resource; which audience fits which MCP server is
  // decided later (decision/mcp_servers.h), not here.
  std::vector<std::string> audiences;
  std::vector<std::string> algorithms = {"RS256", "ES256", "EdDSA"};
  absl::Duration clock_skew = absl::Seconds(30);
  absl::Duration max_lifetime = absl::Hours(1);  // zero: no cap
  JwtClaimMapping claims;
};

struct JwtAuthenticatorOptions {
  std::vector<JwtIssuerOptions> issuers;
  size_t cache_capacity = 10000;  // zero: no cache
  size_t max_token_bytes = 16 * 1024;
};

class JwtAuthenticator final : public Authenticator {
 public:
  // Validates `options` and loads every JWKS file; any error fails creation.
  static absl::StatusOr<std::unique_ptr<JwtAuthenticator>> Create(
      JwtAuthenticatorOptions options);

  ~JwtAuthenticator() override;

  [[nodiscard]] AuthOutcome Authenticate(std::string_view token,
                                         absl::Time now) const override;

  // Re-reads each JWKS file whose stamp changed since it was last read. A
  // file that fails keeps its previous keys and is named in the error; the
  // others are still reloaded. Clears the cache when any key set changed.
  absl::Status ReloadChangedKeys();

  // From now on, calls ReloadChangedKeys after a change in the directory of
  // any JWKS file (DirWatcher, debounced); failures go to the server log.
  absl::Status StartWatching(absl::Duration debounce = absl::Milliseconds(200));

  // Number of tokens in the verified-token cache.
  size_t cached_tokens() const;

 private:
  struct Issuer;

  explicit JwtAuthenticator(JwtAuthenticatorOptions options);

  AuthOutcome VerifyNoThrow(std::string_view token, absl::Time now) const;
  AuthOutcome Verify(std::string_view token, absl::Time now) const;

  const JwtAuthenticatorOptions options_;
  const JwsVerifier verifier_;
  const Sha256Hasher sha256_;
  mutable DigestCache<Identity> cache_;
  absl::flat_hash_map<std::string, std::unique_ptr<Issuer>> issuers_;
  absl::Mutex reload_mu_;  // serializes reloads
  // Last: destroyed first, so no watcher callback outlives the issuers.
  std::vector<std::unique_ptr<DirWatcher>> watchers_;
};

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_JWT_AUTHENTICATOR_H_
