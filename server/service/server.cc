#include "server/service/server.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "openssl/pem.h"
#include "openssl/x509.h"
#include "server/authn/key_file.h"
#include "server/authn/openssl_util.h"
#include "server/common/cpus.h"
#include "server/service/admin_service.h"
#include "server/service/authorizer_service.h"
#include "server/service/connection_limit.h"
#include "server/service/ext_authz_service.h"
#include "server/service/health_service.h"

namespace verdict::service {
namespace {

// "host:port" -> "host:<port>"; "[::1]:0" keeps its brackets.
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  const std::string host =
      colon == std::string::npos ? listen : listen.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

// Reads the TLS files once so that a broken one stops the start with its
// name; gRPC's watcher would only log and fail every handshake.
absl::Status CheckTlsFiles(const TlsOptions& tls) {
  absl::StatusOr<std::string> cert_pem = authn::ReadKeyFile(tls.cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = authn::ReadKeyFile(tls.key_file);
  if (!key_pem.ok()) return key_pem.status();
  authn::BioPtr cert_bio(
      BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
  authn::X509Ptr cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.cert_file ", tls.cert_file, ": no PEM certificate"));
  }
  authn::BioPtr key_bio(
      BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  authn::EvpPkeyPtr key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.key_file ", tls.key_file, ": no PEM private key"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.key_file ", tls.key_file,
                     " does not match the certificate in ", tls.cert_file));
  }
  if (tls.client_ca_file.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> ca_pem = authn::ReadKeyFile(tls.client_ca_file);
  if (!ca_pem.ok()) return ca_pem.status();
  authn::BioPtr ca_bio(
      BIO_new_mem_buf(ca_pem->data(), static_cast<int>(ca_pem->size())));
  if (authn::X509Ptr ca(
          PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
      ca == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls.client_ca_file ", tls.client_ca_file, ": no PEM certificate"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const TlsOptions& tls, const CallerTrust& callers) {
  if (absl::Status status = CheckTlsFiles(tls); !status.ok()) return status;
  const auto refresh_seconds = static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(tls.refresh)));
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          tls.key_file, tls.cert_file, tls.client_ca_file, refresh_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!tls.client_ca_file.empty()) options.watch_root_certs();
  // Without a client CA no client certificate can be verified: callers are
  // then anonymous and get no permission.
  options.set_cert_request_type(
      tls.client_ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
      : tls.require_client_cert
          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
          : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  // Runs after the chain is verified: a caller no rule names is refused
  // before any of its bytes past the handshake is read.
  options.set_certificate_verifier(callers.TlsVerifier());
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(options);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("cannot build TLS server credentials");
  }
  return credentials;
}

int Milliseconds(absl::Duration duration) {
  return static_cast<int>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(duration), 1, std::numeric_limits<int>::max()));
}

absl::Status CheckTransportLimits(const TransportLimits& limits) {
  if (limits.max_connections <= 0 || limits.memory_bytes <= 0) {
    return absl::InvalidArgumentError(
        "max_connections and transport memory must be positive");
  }
  for (absl::Duration d :
       {limits.handshake_timeout, limits.max_connection_idle,
        limits.max_connection_age, limits.max_connection_age_grace}) {
    if (d < absl::Milliseconds(1)) {
      return absl::InvalidArgumentError(
          "transport timeouts must be at least 1ms");
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyTransportLimits(const TransportLimits& limits,
                                  grpc::ServerBuilder* builder) {
  if (absl::StatusOr<int> cap =
          InstallConnectionLimit(limits.max_connections, builder);
      !cap.ok()) {
    return cap.status();
  }
  // Every connection's read buffers (so the messages being received) and
  // the calls' arenas are charged to this quota; past it gRPC's reclaimers
  // first close idle connections, then cancel calls (RESOURCE_EXHAUSTED to
  // their clients), instead of growing. The quota object is reference-counted
  // by the server it is given to.
  grpc::ResourceQuota quota("verdictd");
  quota.Resize(static_cast<size_t>(limits.memory_bytes));
  builder->SetResourceQuota(quota);
  // A stream's window otherwise grows with the bandwidth-delay probe, and
  // it is what a peer may have buffered on every stream before verdictd
  // reads a byte; requests are small, so HTTP/2's 64 KiB costs nothing.
  builder->AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder->AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                              Milliseconds(limits.handshake_timeout));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                              Milliseconds(limits.max_connection_idle));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                              Milliseconds(limits.max_connection_age));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                              Milliseconds(limits.max_connection_age_grace));
  // gRPC 1.51 inflates a compressed message whole before checking its size
  // (a 200 KiB gzip body became 200 MiB). Only identity is announced and
  // accepted: a call naming another grpc-encoding is refused at its
  // headers (UNIMPLEMENTED), and nothing is ever inflated.
  for (grpc_compression_algorithm algorithm :
       {GRPC_COMPRESS_DEFLATE, GRPC_COMPRESS_GZIP}) {
    builder->SetCompressionAlgorithmSupportStatus(algorithm, false);
  }
  builder->AddChannelArgument(GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
  return absl::OkStatus();
}

}  // namespace

Server::Server(decision::PolicyStore* store, const ServerOptions& options,
               CallerTrust callers)
    : store_(store),
      callers_(std::move(callers)),
      decider_(store, options.decider),
      reloader_(std::make_unique<Reloader>(store)),
      authorizer_(std::make_unique<AuthorizerService>(
          &decider_, &callers_, options.max_policy_watches,
          options.decider.metrics)),
      ext_authz_(std::make_unique<ExtAuthzService>(&decider_, &callers_,
                                                   options.ext_authz)),
      admin_(std::make_unique<AdminService>(
          store, reloader_.get(), &callers_, absl::Now(), options.grants.shared,
          options.grants.issue_without_shared_revocations)),
      health_(std::make_unique<HealthService>(std::vector<std::string>{
          "verdict.v1.Authorizer", "verdict.v1.Admin"})) {
  if (options.grants.signer != nullptr) {
    grants_ =
        std::make_unique<GrantsService>(&decider_, &callers_, options.grants);
  }
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, decision::PolicyStore* store) {
  if (options.max_message_bytes <= 0 ||
      options.max_message_bytes > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError("max_message_bytes out of range");
  }
  if (options.grants.signer != nullptr &&
      (options.grants.revocations == nullptr ||
       options.grants.max_ttl <= absl::ZeroDuration())) {
    return absl::InvalidArgumentError(
        "grants need a revocation list and a positive max_ttl");
  }
  if (options.max_concurrent_streams <= 0 || options.max_policy_watches <= 0) {
    return absl::InvalidArgumentError(
        "max_concurrent_streams and max_policy_watches must be positive");
  }
  if (absl::Status status = CheckTransportLimits(options.transport);
      !status.ok()) {
    return status;
  }
  const bool unix_socket = options.listen.starts_with("unix:");
  if (options.listen.starts_with("unix-abstract:") ||
      (unix_socket && options.tls.has_value())) {
    return absl::InvalidArgumentError(
        "listen: unix sockets are served as unix:/path without tls (callers "
        "are named by uid)");
  }
  absl::StatusOr<CallerTrust> callers = CallerTrust::Create(
      TransportOf(options.listen, options.tls.has_value()), options.callers);
  if (!callers.ok()) return callers.status();
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (options.tls.has_value()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls =
        TlsCredentials(*options.tls, *callers);
    if (!tls.ok()) return tls.status();
    credentials = *std::move(tls);
  }
  std::unique_ptr<Server> server(
      new Server(store, options, *std::move(callers)));

  // gRPC's own health service would bring callback-API polling threads;
  // verdictd serves grpc.health.v1 on its queues (health_service.h).
  grpc::EnableDefaultHealthCheckService(false);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // A unix socket is accepted by UnixListener, which hands each admitted
  // connection to the started server.
  if (!unix_socket) {
    builder.AddListeningPort(options.listen, credentials, &port);
  }
  // gRPC sets SO_REUSEPORT by default: a second verdictd on the same port
  // would then start and silently take half the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_concurrent_streams);
  if (absl::Status status = ApplyTransportLimits(options.transport, &builder);
      !status.ok()) {
    return status;
  }
  builder.RegisterService(server->authorizer_->grpc_service());
  builder.RegisterService(server->ext_authz_->grpc_service());
  builder.RegisterService(server->admin_->grpc_service());
  builder.RegisterService(server->health_->grpc_service());
  if (server->grants_ != nullptr) {
    builder.RegisterService(server->grants_->grpc_service());
  }
  server->queues_.AddTo(&builder, UsableCpuCount());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || (port == 0 && !unix_socket)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  server->address_ =
      unix_socket ? options.listen : WithPort(options.listen, port);
  if (unix_socket) {
    const CallerTrust* trust = &server->callers_;
    absl::StatusOr<std::unique_ptr<UnixListener>> listener =
        UnixListener::Start(
            options.listen.substr(std::string_view("unix:").size()),
            [trust](uid_t uid) { return trust->ResolveUid(uid).may.any(); },
            options.transport.max_connections, trust->unix_peers(),
            server->server_.get());
    if (!listener.ok()) return listener.status();
    server->unix_listener_ = *std::move(listener);
  }
  server->authorizer_->Start(server->queues_);
  server->ext_authz_->Start(server->queues_);
  server->admin_->Start(server->queues_);
  server->health_->Start(server->queues_);
  if (server->grants_ != nullptr) server->grants_->Start(server->queues_);
  // Hooked on the store rather than the Reloader: reloads that do not go
  // through it reach the watchers too.
  PolicyWatchService* policy_watch = server->authorizer_->policy_watch();
  store->SetPublishListener(
      [policy_watch](const decision::PublishedRevision& revision) {
        policy_watch->Publish(revision);
      });
  server->listens_to_store_ = true;
  server->queues_.StartThreads();
  server->health_->SetServing(store->Current() != nullptr);
  return server;
}

Server::~Server() { Shutdown(); }

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  health_->Shutdown();
  // A watch stream lasts until it is ended: left to the grpc::Server, each
  // would hold the shutdown for the whole grace.
  authorizer_->policy_watch()->Shutdown();
  // No connection may be handed to a server that is shutting down.
  if (unix_listener_ != nullptr) unix_listener_->Stop();
  if (server_ != nullptr) {
    server_->Shutdown(
        std::chrono::system_clock::now() +
        std::chrono::nanoseconds(absl::ToInt64Nanoseconds(grace)));
    server_->Wait();
  }
  // A pending Admin.Reload is answered on the way out, so its call ends
  // before the queues do.
  reloader_.reset();
  // After the reloader, whose compile this would otherwise wait for.
  if (listens_to_store_) store_->SetPublishListener(nullptr);
  queues_.Stop();
}

}  // namespace verdict::service
