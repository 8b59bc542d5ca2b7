#include "server/metrics/metrics_server.h"

#include <exception>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"

namespace verdict::metrics {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, const Metrics& metrics) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address needs HOST:PORT: ", address));
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  // civetweb reports a failed bind by throwing; nothing else here throws.
  try {
    // civetweb's defaults are one thread here and 30 s for a request to
    // arrive; keep-alive stays off so a scraper never holds a thread between
    // scrapes.
    server->exposer_ =
        std::make_unique<prometheus::Exposer>(std::vector<std::string>{
            "listening_ports", address, "num_threads",
            absl::StrCat(kMetricsThreads), "request_timeout_ms",
            absl::StrCat(absl::ToInt64Milliseconds(kMetricsRequestTimeout)),
            "enable_keep_alive", "no"});
  } catch (const std::exception& error) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", error.what()));
  }
  server->exposer_->RegisterCollectable(metrics.registry());
  server->exposer_->RegisterCollectable(metrics.latency());
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address));
  }
  server->address_ = absl::StrCat(address.substr(0, colon), ":", ports[0]);
  return server;
}

MetricsServer::~MetricsServer() = default;

}  // namespace verdict::metrics
