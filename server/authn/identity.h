// Identity: who a credential proved, and AuthOutcome: the result of one
// authentication, either an Identity or a reason code with a message.
//
// An AuthOutcome is a failure unless it holds an identity, so a default or
// half-built outcome denies. Failure messages name what was wrong (claim,
// header, certificate field), never the credential itself. Identities are
// immutable once built and shared (the verified-credential caches hand out
// the same object to every caller), so they are safe to read from any thread.

#ifndef VERDICT_SERVER_AUTHN_IDENTITY_H_
#define VERDICT_SERVER_AUTHN_IDENTITY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "server/model/reason.h"
#include "server/model/request.h"

namespace verdict::authn {

struct Identity {
  std::string subject;  // subject id: the mapped claim or the SPIFFE ID
  model::StringList roles;
  model::StringList scopes;
  model::Struct attributes;  // claims copied by the issuer's mapping
  std::string trust_domain;  // SPIFFE trust domain, empty if not a SPIFFE ID
  std::string method;        // "jwt" or "x509"
  std::string issuer;        // token iss, or the trust domain for X.509
  // A JWT's `aud` values that its issuer accepts (decision/mcp_servers.h
  // binds them to MCP servers); empty for X.509-SVIDs.
  std::vector<std::string> audiences;
  absl::Time expires_at = absl::InfinitePast();  // the credential's expiry

  // The engine's view of this identity; borrows from *this.
  model::Principal AsPrincipal() const;
};

struct AuthOutcome {
  std::shared_ptr<const Identity> identity;  // set exactly on success
  model::ReasonCode code = model::ReasonCode::kUnauthenticated;
  std::string message;  // why it failed; never contains the credential

  bool ok() const { return identity != nullptr; }

  static AuthOutcome Success(std::shared_ptr<const Identity> identity);
  static AuthOutcome Failure(model::ReasonCode code, std::string message);
};

// The trust domain of a SPIFFE ID ("spiffe://corp.example/mcp/crm" gives
// "corp.example"), or empty when `id` is not a well-formed SPIFFE ID with a
// path (SPIFFE ID spec section 2: lowercase letters, digits, '.', '-', '_' in
// the trust domain; no port, user info, query or fragment).
std::string_view SpiffeTrustDomain(std::string_view id);

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_IDENTITY_H_
