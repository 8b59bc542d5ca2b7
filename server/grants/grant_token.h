// Grant tokens: GrantClaims signed as a compact JWS by Verdict's own key, and
// verified back into an immutable VerifiedGrant.
//
// Keys (grant_keys.h): a key set, one key of which (the active one) signs
// new grants while every key of the set verifies, so keys rotate without
// invalidating the grants already issued; a single key file is a set of one.
// The set is re-read on demand or when its files change, and swapped by
// pointer: a grant whose key left the set stops verifying.
//
// Format. Header {"alg","kid","typ":"verdict-grant+jwt"}: alg is ES256 (EC
// P-256, signature R||S as JWS wants it, not DER) or EdDSA (Ed25519), the one
// the signing key allows; kid is the key's RFC 7638 JWK thumbprint. Payload
// {"iss":"verdict","jti","sub","iat","nbf","exp","task":{id,purpose,
// environment},"scope":[{tool_server,tool_name,action,resource}],
// "principal":{roles,scopes,attributes,trust_domain,auth}}, times in whole
// seconds (rounded down), nbf equal to iat.
//
// Verification promises, in this order: a token over kMaxGrantTokenBytes is
// refused before anything else; a cached verification (by the token's
// SHA-256) is reused only while `now` is in [nbf, exp) and only for the key
// set it was verified with; then three canonical base64url segments, a
// strict JSON header (no duplicate members, bounded depth), an alg that some
// key of the set uses (anything else, `none` and HS* included, is
// algorithm_not_allowed), typ, no crit, a kid naming a key of the set (else
// signature_invalid: the token is never tried against another key), alg
// equal to that key's (else algorithm_not_allowed) and a valid signature
// (else signature_invalid), and only then the claims are parsed: iss, every
// claim present and well-typed, a valid task and scope (else
// unauthenticated); now >= exp is grant_expired and now < nbf
// token_not_yet_valid, with no clock skew, since Verdict's own clock issued
// the grant. Failure messages never contain the token. Verify does not know
// about revocations: the caller asks a RevocationList next.
//
// Thread-safety: Sign and Verify run concurrently from any thread and with
// ReloadKeys (verification reads the published key set without a lock; the
// verifier's cache is internally locked). VerifiedGrant and GrantClaims
// handed out are immutable and shared.

#ifndef VERDICT_SERVER_GRANTS_GRANT_TOKEN_H_
#define VERDICT_SERVER_GRANTS_GRANT_TOKEN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/authn/openssl_util.h"
#include "server/common/digest_cache.h"
#include "server/common/dir_watcher.h"
#include "server/grants/grant.h"
#include "server/grants/grant_keys.h"
#include "server/model/reason.h"
#include "server/model/request.h"

namespace verdict::grants {

inline constexpr size_t kMaxGrantTokenBytes = 16 * 1024;
inline constexpr size_t kDefaultGrantCacheCapacity = 10000;
inline constexpr std::string_view kGrantIssuer = "verdict";
// The auth method the engine sees for a subject that presented a grant.
inline constexpr std::string_view kGrantAuthMethod = "grant";

// A grant whose token verified at some instant. Holds what the engine reads,
// built once: AsPrincipal and AsEngineGrant borrow from *this, which must
// outlive the model::Request they fill.
class VerifiedGrant {
 public:
  VerifiedGrant(const VerifiedGrant&) = delete;
  VerifiedGrant& operator=(const VerifiedGrant&) = delete;

  const GrantClaims& claims() const { return claims_; }
  absl::Time not_before() const { return not_before_; }

  // The requester as the grant recorded it, authenticated by "grant".
  model::Principal AsPrincipal() const;
  // id, task id and environment, expiry, and the scope as
  // {"items":[{"tool_server","tool_name","action","resource"}]}.
  model::Grant AsEngineGrant() const;

 private:
  friend class GrantVerifier;
  VerifiedGrant(GrantClaims claims, absl::Time not_before);

  const GrantClaims claims_;
  const absl::Time not_before_;
  model::Struct scope_;  // never modified after construction
};

// The result of one verification. A failure unless it holds a grant, so a
// default or half-built outcome denies.
struct GrantOutcome {
  std::shared_ptr<const VerifiedGrant> grant;  // set exactly on success
  // What a token Verdict signed says: set on success, and also when the only
  // problem is time (grant_expired, token_not_yet_valid), so Introspect can
  // describe an inactive grant. Never set for a token whose signature did not
  // verify.
  std::shared_ptr<const GrantClaims> claims;
  model::ReasonCode code = model::ReasonCode::kUnauthenticated;
  std::string message;  // why it failed; never contains the token

  bool ok() const { return grant != nullptr; }
};

class GrantVerifier {
 public:
  ~GrantVerifier();
  GrantVerifier(const GrantVerifier&) = delete;
  GrantVerifier& operator=(const GrantVerifier&) = delete;

  // Verifies `token` as of `now` (injected: the service reads its clock once
  // per request) with the key set in force.
  [[nodiscard]] GrantOutcome Verify(std::string_view token,
                                    absl::Time now) const;

  const GrantKeys& keys() const { return *keys_; }
  size_t cached_grants() const { return cache_.size(); }

 private:
  friend class GrantSigner;

  GrantVerifier(const GrantKeys* keys, size_t cache_capacity);

  GrantOutcome VerifyNoThrow(std::string_view token, absl::Time now) const;
  GrantOutcome VerifySignedToken(std::string_view token, absl::Time now,
                                 const GrantKeySet& keys) const;

  const GrantKeys* const keys_;
  const authn::Sha256Hasher token_digests_;  // for the cache
  mutable DigestCache<VerifiedGrant> cache_;
};

class GrantSigner {
 public:
  // Loads the keys of `source` (grant_keys.h; errors name the file). The
  // verifier caches up to `cache_capacity` verified grants (0: no cache).
  static absl::StatusOr<std::unique_ptr<GrantSigner>> Create(
      GrantKeySource source,
      size_t cache_capacity = kDefaultGrantCacheCapacity);
  // Create() with one key file.
  static absl::StatusOr<std::unique_ptr<GrantSigner>> FromKeyFile(
      const std::string& path,
      size_t cache_capacity = kDefaultGrantCacheCapacity);

  ~GrantSigner();
  GrantSigner(const GrantSigner&) = delete;
  GrantSigner& operator=(const GrantSigner&) = delete;

  // The compact JWS of `claims`, signed by the active key. Refuses
  // (InvalidArgument) claims a verifier would not accept back: an empty id,
  // subject or auth method, an invalid task or scope, times outside
  // NumericDate range, expires_at not after issued_at once both are rounded
  // down to seconds, attributes nested deeper than a token may be or holding
  // a non-finite number, strings that are not UTF-8, or a token over
  // kMaxGrantTokenBytes.
  absl::StatusOr<std::string> Sign(const GrantClaims& claims) const;

  // Verifies what this signer signs; lives as long as the signer.
  const GrantVerifier& verifier() const { return *verifier_; }
  // The key set in force, its JWK Set (PublicJwks) and reload failures.
  const GrantKeys& keys() const { return *keys_; }

  // Re-reads the keys (GrantKeys::Reload): true when another set now
  // serves, and then the verified-grant cache is cleared, so a grant of a
  // removed key stops verifying at once. On error the previous set stays in
  // force.
  absl::StatusOr<bool> ReloadKeys();
  // From now on, calls ReloadKeys after a change in the key set directory
  // (or the key file's directory), debounced like the other key files;
  // a new set and every failure (with reload_failures() counting) go to the
  // server log. Call at most once.
  absl::Status StartWatching(absl::Duration debounce = absl::Milliseconds(200));

 private:
  GrantSigner(std::unique_ptr<GrantKeys> keys, size_t cache_capacity);

  const std::unique_ptr<GrantKeys> keys_;
  const std::unique_ptr<GrantVerifier> verifier_;
  // Last: destroyed first, so no reload outlives the keys.
  std::unique_ptr<DirWatcher> watcher_;
};

}  // namespace verdict::grants

#endif  // VERDICT_SERVER_GRANTS_GRANT_TOKEN_H_
