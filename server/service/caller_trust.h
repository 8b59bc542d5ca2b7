// Which peers may call verdictd, and for what (spec section 11 `callers`).
//
// Without TLS a caller cannot prove who it is, so only processes on this
// machine are trusted, with every permission: loopback TCP peers and unix
// sockets. With TLS the caller is the SPIFFE ID (the one spiffe:// URI SAN)
// of the client certificate the handshake verified; its permissions are the
// union of every `callers` entry whose glob matches that ID, and a peer
// without such an ID may do nothing. Never grants a permission by default.
// Immutable once created; safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_CALLER_TRUST_H_
#define VERDICT_SERVER_SERVICE_CALLER_TRUST_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/policy/glob.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace verdict::service {

// True for gRPC peer strings such as "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000", "ipv6:%5B::1%5D:5000" and "unix:/run/verdict.sock".
bool IsLoopbackPeer(std::string_view peer);

struct CallerPermissions {
  bool check = false;            // Authorizer.Check and CheckBatch
  bool assert_identity = false;  // a subject without a credential
  bool grants = false;           // the Grants service
  bool admin = false;            // the Admin service
};

struct CallerRule {
  std::string id;  // glob on the caller's SPIFFE ID
  CallerPermissions may;
};

// Who one caller is and what it may do.
struct Caller {
  std::string id;  // the SPIFFE ID with TLS, else the peer address
  CallerPermissions may;
  std::string_view refusal;  // why `may` is empty, for messages
};

class CallerTrust {
 public:
  // `tls`: whether the listener verifies client certificates. Rules without
  // TLS are an error: nothing could match them.
  static absl::StatusOr<CallerTrust> Create(
      bool tls, const std::vector<CallerRule>& rules);

  // What the peer of `context` may do.
  Caller Resolve(const grpc::ServerContextBase& context) const;

  // The same from the parts: the gRPC peer string and the verified SPIFFE ID
  // of the client certificate (empty: none).
  Caller Resolve(std::string_view peer, std::string_view spiffe_id) const;

  bool tls() const { return tls_; }

  // Why a caller without `permission` may not use `service` (e.g. "Admin",
  // "admin"), for a PERMISSION_DENIED status.
  std::string RefusalMessage(std::string_view service,
                             std::string_view permission) const;

 private:
  struct CompiledRule {
    policy::Glob id;
    CallerPermissions may;
  };

  CallerTrust(bool tls, std::vector<CompiledRule> rules)
      : tls_(tls), rules_(std::move(rules)) {}

  bool tls_;
  std::vector<CompiledRule> rules_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_CALLER_TRUST_H_
