#include "server/service/caller_trust.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/server_context.h"
#include "server/authn/identity.h"

namespace verdict::service {
namespace {

// Set by gRPC's TLS handshake when the verified peer certificate carries
// exactly one spiffe:// URI SAN.
constexpr char kPeerSpiffeId[] = "peer_spiffe_id";

}  // namespace

bool IsLoopbackPeer(std::string_view peer) {
  // 127.0.0.0/8 is loopback as a whole; IPv4-mapped forms come from
  // dual-stack listeners.
  static constexpr std::string_view kPrefixes[] = {
      "ipv4:127.",         "ipv6:[::1]:",         "ipv6:%5B::1%5D:",
      "ipv6:[::ffff:127.", "ipv6:%5B::ffff:127.", "unix:",
      "unix-abstract:",
  };
  for (std::string_view prefix : kPrefixes) {
    if (peer.starts_with(prefix)) return true;
  }
  return false;
}

absl::StatusOr<CallerTrust> CallerTrust::Create(
    bool tls, const std::vector<CallerRule>& rules) {
  if (!tls && !rules.empty()) {
    return absl::InvalidArgumentError(
        "callers are identified by TLS client certificates: configure tls");
  }
  std::vector<CompiledRule> compiled;
  compiled.reserve(rules.size());
  for (const CallerRule& rule : rules) {
    absl::StatusOr<policy::Glob> glob = policy::Glob::Compile(rule.id);
    if (!glob.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("callers: id \"", rule.id, "\" is not a valid glob"));
    }
    compiled.push_back(CompiledRule{*std::move(glob), rule.may});
  }
  return CallerTrust(tls, std::move(compiled));
}

Caller CallerTrust::Resolve(const grpc::ServerContextBase& context) const {
  const std::string peer = context.peer();
  if (!tls_) return Resolve(peer, {});
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return Resolve(peer, {});
  const std::vector<grpc::string_ref> ids =
      auth->FindPropertyValues(kPeerSpiffeId);
  if (ids.size() != 1) return Resolve(peer, {});
  return Resolve(peer, std::string_view(ids[0].data(), ids[0].size()));
}

Caller CallerTrust::Resolve(std::string_view peer,
                            std::string_view spiffe_id) const {
  Caller caller;
  if (!tls_) {
    caller.id = std::string(peer);
    if (IsLoopbackPeer(peer)) {
      caller.may = CallerPermissions{.check = true,
                                     .assert_identity = true,
                                     .grants = true,
                                     .admin = true};
    } else {
      caller.refusal = "without TLS only loopback callers are accepted";
    }
    return caller;
  }
  if (authn::SpiffeTrustDomain(spiffe_id).empty()) {
    caller.id = std::string(peer);
    caller.refusal = "the caller's certificate carries no SPIFFE ID";
    return caller;
  }
  caller.id = std::string(spiffe_id);
  for (const CompiledRule& rule : rules_) {
    if (!rule.id.Matches(spiffe_id)) continue;
    caller.may.check |= rule.may.check;
    caller.may.assert_identity |= rule.may.assert_identity;
    caller.may.grants |= rule.may.grants;
    caller.may.admin |= rule.may.admin;
  }
  caller.refusal = "the caller is not allowed this by `callers`";
  return caller;
}

std::string CallerTrust::RefusalMessage(std::string_view service,
                                        std::string_view permission) const {
  const absl::string_view name(service.data(), service.size());
  return tls_
             ? absl::StrCat(
                   "the caller may not use the ", name, " service (callers: ",
                   absl::string_view(permission.data(), permission.size()), ")")
             : absl::StrCat("without TLS only loopback callers may use the ",
                            name, " service");
}

}  // namespace verdict::service
