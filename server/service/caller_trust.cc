#include "server/service/caller_trust.h"

#include <unistd.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/server_context.h"
#include "server/authn/identity.h"
#include "server/common/log.h"
#include "server/decision/decider.h"
#include "server/service/unix_listener.h"

namespace verdict::service {
namespace {

// Set by gRPC's TLS handshake when the verified peer certificate carries
// exactly one spiffe:// URI SAN.
constexpr char kPeerSpiffeId[] = "peer_spiffe_id";

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

void Merge(const CallerPermissions& from, CallerPermissions* into) {
  into->check |= from.check;
  into->assert_identity |= from.assert_identity;
  into->grants |= from.grants;
  into->admin |= from.admin;
}

constexpr CallerPermissions kEverything{
    .check = true, .assert_identity = true, .grants = true, .admin = true};

// What a rule is called in messages.
std::string RuleName(const CallerRule& rule) {
  if (rule.loopback) return "every local user over loopback TCP";
  if (rule.uid.has_value()) {
    return rule.user.empty()
               ? absl::StrCat("uid ", *rule.uid)
               : absl::StrCat("uid ", *rule.uid, " (", rule.user, ")");
  }
  return rule.id;
}

// The SPIFFE ID gRPC would report: the only spiffe:// URI SAN, else none.
std::string_view SpiffeIdOf(const std::vector<grpc::string_ref>& uris) {
  std::string_view found;
  int count = 0;
  for (const grpc::string_ref& uri : uris) {
    const std::string_view name(uri.data(), uri.size());
    if (!name.starts_with("spiffe://")) continue;
    found = name;
    ++count;
  }
  return count == 1 ? found : std::string_view();
}

// Fails the TLS handshake of a client certificate that no rule admits, so an
// unknown caller is refused before any of its requests is read.
class CallerVerifier final
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit CallerVerifier(CallerTrust trust)
      : trust_(std::move(trust)),
        refusals_("TLS clients that no `callers` rule names") {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    *sync_status = grpc::Status::OK;
    // No certificate: anonymous (require_client_cert: false), may do nothing
    // but ask for health.
    if (request->peer_cert().empty()) return true;
    const std::string_view id = SpiffeIdOf(request->uri_names());
    if (id.empty()) {
      *sync_status =
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                       "the client certificate carries no single SPIFFE ID");
      refusals_.Refused("a certificate without a single SPIFFE ID");
    } else if (!trust_.Resolve("", id).may.any()) {
      *sync_status = grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                  "no `callers` rule names this client");
      refusals_.Refused(id);
    }
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {
  }

 private:
  const CallerTrust trust_;
  RefusalLog refusals_;
};

}  // namespace

void RefusalLog::Refused(std::string_view who) {
  absl::MutexLock lock(&mu_);
  ++count_;
  const absl::Time now = absl::Now();
  if (now - last_logged_ < kInterval) return;
  Log(LogLevel::kWarning, "refused ", count_, " ", what_, " (the last: ", who,
      ")");
  count_ = 0;
  last_logged_ = now;
}

bool IsLoopbackPeer(std::string_view peer) {
  // 127.0.0.0/8 is loopback as a whole; IPv4-mapped forms come from
  // dual-stack listeners.
  static constexpr std::string_view kPrefixes[] = {
      "ipv4:127.",         "ipv6:[::1]:",         "ipv6:%5B::1%5D:",
      "ipv6:[::ffff:127.", "ipv6:%5B::ffff:127.",
  };
  for (std::string_view prefix : kPrefixes) {
    if (peer.starts_with(prefix)) return true;
  }
  return false;
}

CallerTransport TransportOf(std::string_view listen, bool tls) {
  if (tls) return CallerTransport::kTls;
  return listen.starts_with("unix:") ? CallerTransport::kUnixSocket
                                     : CallerTransport::kPlaintextTcp;
}

CallerTrust::CallerTrust(CallerTransport transport,
                         std::vector<CompiledRule> rules, bool default_rule)
    : transport_(transport),
      rules_(std::move(rules)),
      default_rule_(default_rule) {
  if (transport_ == CallerTransport::kUnixSocket) {
    unix_peers_ = std::make_shared<UnixPeers>();
  }
}

absl::StatusOr<CallerTrust> CallerTrust::Create(
    CallerTransport transport, const std::vector<CallerRule>& rules) {
  std::vector<CompiledRule> compiled;
  compiled.reserve(rules.size() + 1);
  for (const CallerRule& rule : rules) {
    const int kinds = (rule.id.empty() ? 0 : 1) +
                      (rule.uid.has_value() ? 1 : 0) + (rule.loopback ? 1 : 0);
    if (kinds != 1) {
      return absl::InvalidArgumentError(
          "callers: each rule names its callers by exactly one of id, uid "
          "(or user) and loopback");
    }
    const bool fits = transport == CallerTransport::kTls ? !rule.id.empty()
                      : transport == CallerTransport::kUnixSocket
                          ? rule.uid.has_value()
                          : rule.loopback;
    if (!fits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "callers: \"", RuleName(rule), "\" can never match: ",
          transport == CallerTransport::kTls
              ? "with tls, callers are named by the SPIFFE ID (id) of their "
                "client certificate"
          : transport == CallerTransport::kUnixSocket
              ? "on a unix socket, callers are named by uid or user"
              : "over plaintext TCP only `loopback: true` rules apply "
                "(configure tls for id, or listen on unix:/path for uid)"));
    }
    CompiledRule out{.id = std::nullopt, .source = rule};
    if (!rule.id.empty()) {
      absl::StatusOr<policy::Glob> glob = policy::Glob::Compile(rule.id);
      if (!glob.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("callers: id \"", rule.id, "\" is not a valid glob"));
      }
      out.id = *std::move(glob);
    }
    compiled.push_back(std::move(out));
  }
  bool default_rule = false;
  if (compiled.empty() && transport != CallerTransport::kTls) {
    default_rule = true;
    CallerRule implied;
    implied.may = kEverything;
    if (transport == CallerTransport::kUnixSocket) {
      implied.uid = geteuid();
      implied.user = "verdictd's own user";
    } else {
      implied.loopback = true;
    }
    compiled.push_back(CompiledRule{.id = std::nullopt, .source = implied});
  }
  return CallerTrust(transport, std::move(compiled), default_rule);
}

decision::CallerInfo CallerTrust::DecisionCallerOf(
    const grpc::ServerContextBase& context) const {
  return CallerInfoOf(Resolve(context));
}

decision::CallerInfo CallerTrust::DecisionCallerOf(
    std::string_view peer, std::string_view spiffe_id) const {
  return CallerInfoOf(Resolve(peer, spiffe_id));
}

decision::CallerInfo CallerTrust::CallerInfoOf(Caller caller) {
  return decision::CallerInfo{
      .trusted = caller.may.check,
      .id = std::move(caller.id),
      .may_assert_identity = caller.may.assert_identity,
      .refusal = caller.may.check ? std::string_view() : caller.refusal};
}

Caller CallerTrust::Resolve(const grpc::ServerContextBase& context) const {
  const std::string peer = context.peer();
  if (transport_ == CallerTransport::kUnixSocket) {
    const std::optional<uid_t> uid = unix_peers_->Find(peer);
    if (!uid.has_value()) {
      return Caller{
          .id = peer, .may = {}, .refusal = "the unix socket peer is unknown"};
    }
    return ResolveUid(*uid);
  }
  if (transport_ != CallerTransport::kTls) return Resolve(peer, {});
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
  if (transport_ == CallerTransport::kUnixSocket) {
    caller.id = std::string(peer);
    caller.refusal = "the unix socket peer is unknown";
    return caller;
  }
  if (transport_ == CallerTransport::kPlaintextTcp) {
    caller.id = std::string(peer);
    if (!IsLoopbackPeer(peer)) {
      caller.refusal = "without TLS only loopback callers are accepted";
      return caller;
    }
    for (const CompiledRule& rule : rules_) Merge(rule.source.may, &caller.may);
    caller.refusal = "the caller is not allowed this by `callers`";
    return caller;
  }
  if (authn::SpiffeTrustDomain(spiffe_id).empty()) {
    caller.id = std::string(peer);
    caller.refusal = "the caller's certificate carries no SPIFFE ID";
    return caller;
  }
  caller.id = std::string(spiffe_id);
  for (const CompiledRule& rule : rules_) {
    if (rule.id->Matches(spiffe_id)) Merge(rule.source.may, &caller.may);
  }
  caller.refusal = "the caller is not allowed this by `callers`";
  return caller;
}

Caller CallerTrust::ResolveUid(uid_t uid) const {
  Caller caller{.id = absl::StrCat("uid:", uid),
                .may = {},
                .refusal = "the caller is not allowed this by `callers`"};
  if (transport_ != CallerTransport::kUnixSocket) return caller;
  for (const CompiledRule& rule : rules_) {
    if (rule.source.uid == uid) Merge(rule.source.may, &caller.may);
  }
  return caller;
}

std::shared_ptr<grpc::experimental::CertificateVerifier>
CallerTrust::TlsVerifier() const {
  return grpc::experimental::ExternalCertificateVerifier::Create<
      CallerVerifier>(*this);
}

std::vector<std::string> CallerTrust::Describe() const {
  struct Line {
    const char* what;
    bool CallerPermissions::*permission;
  };
  static constexpr Line kLines[] = {
      {"check", &CallerPermissions::check},
      {"assert identities", &CallerPermissions::assert_identity},
      {"use grants", &CallerPermissions::grants},
      {"use admin", &CallerPermissions::admin},
  };
  std::vector<std::string> lines;
  for (const Line& line : kLines) {
    std::vector<std::string> who;
    for (const CompiledRule& rule : rules_) {
      if (rule.source.may.*line.permission) {
        who.push_back(RuleName(rule.source));
      }
    }
    lines.push_back(
        absl::StrCat("callers that may ", line.what, ": ",
                     who.empty() ? "none" : absl::StrJoin(who, ", ")));
  }
  if (default_rule_ && transport_ == CallerTransport::kPlaintextTcp) {
    lines.push_back(
        "warning: no `callers` rules, so any local user may assert any "
        "identity, issue and revoke grants and reload policies; restrict "
        "with `callers: [{loopback: true, may: [check]}]`, or listen on "
        "unix:/path and name uids");
  }
  return lines;
}

std::string CallerTrust::RefusalMessage(std::string_view service,
                                        std::string_view permission) const {
  if (transport_ == CallerTransport::kPlaintextTcp && default_rule_) {
    return absl::StrCat("without TLS only loopback callers may use the ",
                        Piece(service), " service");
  }
  return absl::StrCat("the caller may not use the ", Piece(service),
                      " service (callers: ", Piece(permission), ")");
}

}  // namespace verdict::service
