// Authenticator: turns one presented credential (a compact JWT, a PEM
// certificate chain) into a verified Identity, or says why it cannot.
//
// Promises: every failure is an AuthOutcome with a reason code from
// model/reason.h (unauthenticated, token_expired, token_not_yet_valid,
// audience_mismatch, issuer_unknown, signature_invalid,
// algorithm_not_allowed) and a message that never contains the credential;
// nothing throws; no network I/O (keys and bundles come from local files);
// the cost of a hostile credential is bounded by size caps checked first.
//
// Thread-safety: Authenticate may be called from any number of threads at
// once, also while the implementation reloads its keys; it never blocks on
// file I/O.

#ifndef VERDICT_SERVER_AUTHN_AUTHENTICATOR_H_
#define VERDICT_SERVER_AUTHN_AUTHENTICATOR_H_

#include <string_view>

#include "absl/time/time.h"
#include "server/authn/identity.h"

namespace verdict::authn {

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // Verifies `credential` as of `now` (injected so tests and the service
  // share one clock reading per request).
  [[nodiscard]] virtual AuthOutcome Authenticate(std::string_view credential,
                                                 absl::Time now) const = 0;
};

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_AUTHENTICATOR_H_
