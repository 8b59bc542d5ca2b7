// Which peers may call verdictd, and for what (spec sections 11 and 12,
// `callers`).
//
// A caller is named by what its listener can prove, so the rules depend on
// it:
// - TLS: the SPIFFE ID (the one spiffe:// URI SAN) of the client certificate
//   the handshake verified; rules are `id` globs on it. A certificate that no
//   rule gives any permission is refused at the handshake (TlsCallerVerifier),
//   so such a peer never gets a byte read.
// - A Unix socket (`listen: unix:/path`): the peer's uid, read by the kernel
//   (SO_PEERCRED) when the connection is accepted; rules name uids. Without
//   rules only verdictd's own uid is admitted, with every permission.
// - Plaintext TCP: only loopback peers, and only as the `loopback` rules say.
//   Without rules every local process may do everything (so `verdictd` alone
//   serves a developer); Describe() says so at start, so this is never silent.
// Permissions are the union of every matching rule; a peer nothing matches
// may do nothing. Rules that the listener could never match are an error.
// Immutable once created (the Unix peer table it reads is itself
// thread-safe); safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_CALLER_TRUST_H_
#define VERDICT_SERVER_SERVICE_CALLER_TRUST_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/policy/glob.h"

namespace grpc {
class ServerContextBase;
namespace experimental {
class CertificateVerifier;
}  // namespace experimental
}  // namespace grpc

namespace verdict::decision {
struct CallerInfo;
}  // namespace verdict::decision

namespace verdict::service {

class UnixPeers;

// True for gRPC peer strings of loopback TCP: "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000", "ipv6:%5B::1%5D:5000" and IPv4-mapped forms.
bool IsLoopbackPeer(std::string_view peer);

struct CallerPermissions {
  bool check = false;            // Authorizer.Check, CheckBatch and WatchPolicy
  bool assert_identity = false;  // a subject without a credential
  bool grants = false;           // the Grants service
  bool admin = false;            // the Admin service

  bool any() const { return check || assert_identity || grants || admin; }
};

// Exactly one of `id`, `uid` and `loopback` names the callers of a rule.
struct CallerRule {
  std::string id;            // glob on a TLS client's SPIFFE ID
  std::optional<uid_t> uid;  // a Unix socket peer's uid
  std::string user;          // the name `uid` was given as, for messages
  bool loopback = false;     // any process on loopback TCP without TLS
  CallerPermissions may;
};

// How callers reach verdictd.
enum class CallerTransport { kPlaintextTcp, kTls, kUnixSocket };

// The transport of a listen address ("unix:/path" or HOST:PORT) with or
// without TLS.
CallerTransport TransportOf(std::string_view listen, bool tls);

// Who one caller is and what it may do.
struct Caller {
  std::string id;  // the SPIFFE ID, "uid:N", or the loopback peer address
  CallerPermissions may;
  std::string_view refusal;  // why `may` lacks something, for messages
};

// Logs callers refused before their first request, at most once every
// kInterval with the count since the last line, so that a flood of refused
// connections cannot flood the log. Thread-safe.
class RefusalLog {
 public:
  static constexpr absl::Duration kInterval = absl::Seconds(10);

  // `what` names the refused and why, e.g. "TLS clients that no `callers`
  // rule names".
  explicit RefusalLog(std::string what) : what_(std::move(what)) {}

  // `who` names the latest, e.g. its SPIFFE ID or uid.
  void Refused(std::string_view who);

 private:
  const std::string what_;
  absl::Mutex mu_;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_logged_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

class CallerTrust {
 public:
  static absl::StatusOr<CallerTrust> Create(
      CallerTransport transport, const std::vector<CallerRule>& rules);

  // What the peer of `context` may do. For a Unix socket peer, `context`
  // must be a live call: its connection keeps the fd it is known by.
  Caller Resolve(const grpc::ServerContextBase& context) const;

  // The same from the parts, for TLS and TCP: the gRPC peer string and the
  // verified SPIFFE ID of the client certificate (empty: none).
  Caller Resolve(std::string_view peer, std::string_view spiffe_id) const;

  // The same for a Unix socket peer with `uid`.
  Caller ResolveUid(uid_t uid) const;

  // The peer of `context` as the Decider takes a caller of a decision
  // (Authorizer, Envoy ext_authz): trusted when it may check, and otherwise
  // with the refusal it is denied with.
  decision::CallerInfo DecisionCallerOf(
      const grpc::ServerContextBase& context) const;
  // The same from the parts (the HTTP listener's peers), as Resolve(peer,
  // spiffe_id) names them.
  decision::CallerInfo DecisionCallerOf(std::string_view peer,
                                        std::string_view spiffe_id) const;

  CallerTransport transport() const { return transport_; }

  // Where a Unix listener records each connection's uid (null for the other
  // transports).
  UnixPeers* unix_peers() const { return unix_peers_.get(); }

  // A TLS certificate verifier that fails the handshake of a client whose
  // certificate's SPIFFE ID no rule gives any permission. A client without a
  // certificate (allowed by require_client_cert: false) passes: it is
  // anonymous and may only ask for health.
  std::shared_ptr<grpc::experimental::CertificateVerifier> TlsVerifier() const;

  // One line per permission naming exactly who holds it, e.g. "callers that
  // may assert identities: every local user over loopback TCP (...)".
  std::vector<std::string> Describe() const;

  // Why a caller without `permission` may not use `service` (e.g. "Admin",
  // "admin"), for a PERMISSION_DENIED status.
  std::string RefusalMessage(std::string_view service,
                             std::string_view permission) const;

 private:
  struct CompiledRule {
    std::optional<policy::Glob> id;
    CallerRule source;
  };

  CallerTrust(CallerTransport transport, std::vector<CompiledRule> rules,
              bool default_rule);
  static decision::CallerInfo CallerInfoOf(Caller caller);

  CallerTransport transport_;
  std::vector<CompiledRule> rules_;
  // The rule was not configured but implied by an empty `callers`.
  bool default_rule_;
  std::shared_ptr<UnixPeers> unix_peers_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_CALLER_TRUST_H_
