// X509SvidAuthenticator: verifies an X.509-SVID (the PEM certificate chain an
// MCP server received from its client over mTLS, leaf first) against the
// trust bundle of its SPIFFE trust domain, and names the identity by its
// SPIFFE ID.
//
// Promises: the chain is capped in bytes and certificates before parsing;
// the leaf carries exactly one URI SAN, a well-formed spiffe:// ID with a
// path; its trust domain must be configured (else issuer_unknown) and the
// chain must verify with X509_verify_cert to a root of that trust domain's
// bundle only, at the injected time; the leaf must not be a CA and, when it
// has a key usage, must allow digitalSignature and not certificate signing.
// The Identity expires when the first certificate of the verified chain
// does. Verified chains are cached by SHA-256 until then; a bundle change
// clears the cache. Bundles are re-read when their stamp changes
// (ReloadChangedBundles, or automatically after StartWatching); a bundle that
// no longer loads keeps the previous one.
//
// Thread-safe: Authenticate runs concurrently with itself and with reloads.

#ifndef VERDICT_SERVER_AUTHN_X509_SVID_AUTHENTICATOR_H_
#define VERDICT_SERVER_AUTHN_X509_SVID_AUTHENTICATOR_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/authn/authenticator.h"
#include "server/authn/key_file.h"
#include "server/authn/openssl_util.h"
#include "server/common/digest_cache.h"
#include "server/common/dir_watcher.h"

namespace verdict::authn {

struct X509TrustDomainOptions {
  std::string trust_domain;  // e.g. "corp.example"
  std::string bundle_file;   // PEM root certificates of that trust domain
};

struct X509SvidAuthenticatorOptions {
  std::vector<X509TrustDomainOptions> trust_domains;
  size_t cache_capacity = 10000;  // zero: no cache
  size_t max_chain_bytes = 64 * 1024;
  int max_chain_certificates = 8;
};

class X509SvidAuthenticator final : public Authenticator {
 public:
  // Validates `options` and loads every bundle; any error fails creation.
  static absl::StatusOr<std::unique_ptr<X509SvidAuthenticator>> Create(
      X509SvidAuthenticatorOptions options);

  ~X509SvidAuthenticator() override;

  [[nodiscard]] AuthOutcome Authenticate(std::string_view pem_chain,
                                         absl::Time now) const override;

  // Re-reads each bundle whose stamp changed; see
  // JwtAuthenticator::ReloadChangedKeys for the error and cache semantics.
  absl::Status ReloadChangedBundles();

  // From now on, calls ReloadChangedBundles after a change in the directory
  // of any bundle (DirWatcher, debounced); failures go to the server log.
  absl::Status StartWatching(absl::Duration debounce = absl::Milliseconds(200));

 private:
  struct TrustDomain;

  explicit X509SvidAuthenticator(X509SvidAuthenticatorOptions options);

  AuthOutcome Verify(std::string_view pem_chain, absl::Time now) const;

  const X509SvidAuthenticatorOptions options_;
  const Sha256Hasher sha256_;
  mutable DigestCache<Identity> cache_;
  absl::flat_hash_map<std::string, std::unique_ptr<TrustDomain>> domains_;
  absl::Mutex reload_mu_;  // serializes reloads
  // Last: destroyed first, so no watcher callback outlives the domains.
  std::vector<std::unique_ptr<DirWatcher>> watchers_;
};

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_X509_SVID_AUTHENTICATOR_H_
