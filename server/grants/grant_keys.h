// Grant signing keys: one key read from a PEM file, or a key set read from a
// directory (what a Kubernetes Secret mounts) that rotates without a restart.
//
// A key is a PEM private key (PKCS#8 or SEC1, unencrypted): EC P-256 signs
// ES256, Ed25519 signs EdDSA. Its kid is its RFC 7638 JWK thumbprint. A key
// set directory holds every key as a file whose name ends in ".pem", and a
// file `active` holding the file name of the key that signs new grants
// (surrounding whitespace ignored); every key of the set verifies. Names
// starting with "." are not keys: when the directory has a `..data` symlink
// (Kubernetes' atomically swapped view of a Secret), the files are read from
// the directory it points to, so one load never mixes two versions of the
// Secret. A single key file is a set of one, active.
//
// Loading fails (InvalidArgument or NotFound, naming the file) for an
// unreadable directory, no key file, a missing or empty `active`, an `active`
// naming no key file of the set, an unreadable or invalid key file, or two
// files holding the same key. A set is never half-loaded: GrantKeys::Reload
// either publishes a whole new set or keeps the previous one.
//
// Thread-safety: GrantKey and GrantKeySet are immutable. GrantKeys' Current,
// Latest, PublicJwks and counters are safe from any thread; Reload
// serialises itself.

#ifndef VERDICT_SERVER_GRANTS_GRANT_KEYS_H_
#define VERDICT_SERVER_GRANTS_GRANT_KEYS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/authn/jwk.h"
#include "server/authn/openssl_util.h"
#include "server/common/published.h"

namespace verdict::grants {

// The JWS typ of grant tokens, in the header every key writes.
inline constexpr std::string_view kGrantTokenType = "verdict-grant+jwt";

// The file of a key set directory that names the key new grants are signed
// with.
inline constexpr std::string_view kActiveKeyFile = "active";

// One signing key and its public half.
class GrantKey {
 public:
  // Reads the PEM private key at `path`; errors and path() name it
  // `shown_as` (empty: `path`). The key must pass a sign-and-verify
  // self-test, so a key whose halves do not match fails here rather than on
  // the first Check.
  static absl::StatusOr<std::unique_ptr<const GrantKey>> FromFile(
      const std::string& path, const std::string& shown_as = "");

  ~GrantKey();
  GrantKey(const GrantKey&) = delete;
  GrantKey& operator=(const GrantKey&) = delete;

  const std::string& kid() const { return public_key_.kid; }
  authn::JwsAlgorithm algorithm() const { return *public_key_.alg; }
  const std::string& path() const { return path_; }  // as shown
  // The base64url JWS header of every token this key signs.
  const std::string& encoded_header() const { return encoded_header_; }
  // The RFC 7517 public JWK: kty, crv, x (and y for EC), kid, alg, use "sig".
  const std::string& public_jwk() const { return public_jwk_; }

  // The JWS signature of `input` (raw R||S for ES256), or nullopt when
  // OpenSSL fails.
  std::optional<std::string> Sign(std::string_view input) const;
  // Whether `signature` signs `input` under this key's public half.
  bool Verify(std::string_view input, std::string_view signature) const;

 private:
  GrantKey() = default;

  std::string path_;
  authn::EvpPkeyPtr private_key_;
  authn::EvpMdPtr sha256_;
  authn::Jwk public_key_;  // kid and alg set
  authn::JwsVerifier jws_;
  std::string encoded_header_;
  std::string public_jwk_;
};

// The keys grants verify with, and the one that signs.
class GrantKeySet {
 public:
  // A set of one key, active.
  static absl::StatusOr<std::shared_ptr<const GrantKeySet>> FromKeyFile(
      const std::string& path);
  // The key set in `dir`, as described above.
  static absl::StatusOr<std::shared_ptr<const GrantKeySet>> FromDirectory(
      const std::string& dir);

  GrantKeySet(const GrantKeySet&) = delete;
  GrantKeySet& operator=(const GrantKeySet&) = delete;

  // The key that signs new grants.
  const GrantKey& active() const { return *keys_[active_]; }
  // The key whose kid is `kid`, or null: a token is never tried against
  // another key.
  const GrantKey* Find(std::string_view kid) const;
  // Whether some key of the set signs with `algorithm`.
  bool Uses(authn::JwsAlgorithm algorithm) const {
    return uses_[static_cast<int>(algorithm)];
  }
  // Every key, by kid.
  const std::vector<std::unique_ptr<const GrantKey>>& keys() const {
    return keys_;
  }
  // The RFC 7517 JWK Set of the public keys, by kid: {"keys":[...]}.
  const std::string& public_jwks() const { return public_jwks_; }
  // Same kids and same active key: nothing a verifier or signer would see
  // differently.
  bool SameKeysAs(const GrantKeySet& other) const;

 private:
  GrantKeySet() = default;
  // Indexes `keys` (sorted here) and makes the key whose path() is
  // `active_path` active.
  static absl::StatusOr<std::shared_ptr<const GrantKeySet>> Build(
      std::vector<std::unique_ptr<const GrantKey>> keys,
      const std::string& active_path);

  std::vector<std::unique_ptr<const GrantKey>> keys_;
  absl::flat_hash_map<std::string, size_t> by_kid_;
  size_t active_ = 0;
  std::array<bool, authn::kJwsAlgorithmCount> uses_{};
  std::string public_jwks_;
};

// Where the keys come from: exactly one of the two is set.
struct GrantKeySource {
  std::string key_file;  // one key
  std::string keys_dir;  // a key set
};

// The key set in force, re-read from its source on demand and published by
// pointer (server/common/published.h), so verification takes no lock.
class GrantKeys {
 public:
  // Loads the source; any error fails creation.
  static absl::StatusOr<std::unique_ptr<GrantKeys>> Load(GrantKeySource source);

  GrantKeys(const GrantKeys&) = delete;
  GrantKeys& operator=(const GrantKeys&) = delete;

  // The set in force, for the request path (Published::Current's lifetime
  // rule: take it once per use).
  const std::shared_ptr<const GrantKeySet>& Current() const {
    return published_.Current();
  }
  // The set in force, for occasional readers.
  std::shared_ptr<const GrantKeySet> Latest() const {
    return published_.Latest();
  }
  // The JWK Set of the set in force.
  std::string PublicJwks() const { return Latest()->public_jwks(); }

  // Re-reads the source. True when a set with other keys, or another active
  // key, now serves; false when nothing changed. On error the previous set
  // stays in force and reload_failures() counts it.
  absl::StatusOr<bool> Reload() ABSL_LOCKS_EXCLUDED(reload_mu_);
  uint64_t reload_failures() const {
    return reload_failures_.load(std::memory_order_relaxed);
  }

  const GrantKeySource& source() const { return source_; }
  // The directory whose changes may change the set: the key set directory,
  // or the key file's.
  std::string WatchedDirectory() const;

 private:
  GrantKeys(GrantKeySource source, std::shared_ptr<const GrantKeySet> keys);
  absl::StatusOr<std::shared_ptr<const GrantKeySet>> Read() const;

  const GrantKeySource source_;
  Published<GrantKeySet> published_;
  absl::Mutex reload_mu_;  // serialises reloads
  std::atomic<uint64_t> reload_failures_{0};
};

}  // namespace verdict::grants

#endif  // VERDICT_SERVER_GRANTS_GRANT_KEYS_H_
