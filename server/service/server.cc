#include "server/service/server.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/service/admin_service.h"
#include "server/service/authorizer_service.h"

namespace verdict::service {
namespace {

// "host:port" -> "host:<port>"; "[::1]:0" keeps its brackets.
std::string WithPort(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  const std::string host =
      colon == std::string::npos ? listen : listen.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

}  // namespace

Server::Server(PolicyStore* store, const ServerOptions& options)
    : store_(store),
      decider_(store, options.decider),
      reloader_(std::make_unique<Reloader>(store)),
      authorizer_(std::make_unique<AuthorizerService>(&decider_)),
      admin_(std::make_unique<AdminService>(store, reloader_.get(),
                                            absl::Now())) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, PolicyStore* store) {
  if (options.max_message_bytes <= 0 ||
      options.max_message_bytes > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError("max_message_bytes out of range");
  }
  std::unique_ptr<Server> server(new Server(store, options));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &port);
  // gRPC sets SO_REUSEPORT by default: a second verdictd on the same port
  // would then start and silently take half the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.RegisterService(server->authorizer_.get());
  builder.RegisterService(server->admin_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  server->address_ = WithPort(options.listen, port);

  const bool serving = store->Current() != nullptr;
  grpc::HealthCheckServiceInterface* health =
      server->server_->GetHealthCheckService();
  health->SetServingStatus(serving);
  health->SetServingStatus("verdict.v1.Authorizer", serving);
  return server;
}

Server::~Server() { Shutdown(); }

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->Shutdown();
    server_->Shutdown(
        std::chrono::system_clock::now() +
        std::chrono::nanoseconds(absl::ToInt64Nanoseconds(grace)));
    server_->Wait();
  }
  // After the server: a pending Admin.Reload still finishes its call.
  reloader_.reset();
}

}  // namespace verdict::service
