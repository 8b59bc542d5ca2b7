// MetricsServer: serves the Prometheus text exposition of a Metrics at
// http://ADDRESS/metrics (prometheus-cpp's pull exposer, civetweb inside).
//
// Scrapes run on the exposer's own threads (kMetricsThreads of them) and read
// counters without stopping the request path. civetweb gives each connection
// a thread until its request has arrived, so a connection that sends nothing
// holds one for at most kMetricsRequestTimeout and then is closed: one idle
// socket no longer blinds every scrape. Many idle sockets from a peer that
// can reach the port still delay scrapes, so the port must only be reachable
// by the scraper (loopback by default; docs/security.md). Port 0 picks a free
// port, reported by address(). The destructor stops serving. Start() and the
// destructor are for one controlling thread.

#ifndef VERDICT_SERVER_METRICS_METRICS_SERVER_H_
#define VERDICT_SERVER_METRICS_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/metrics/metrics.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace verdict::metrics {

// Connections served at once.
inline constexpr int kMetricsThreads = 4;
// How long a connection may take to send its request before it is closed.
inline constexpr absl::Duration kMetricsRequestTimeout = absl::Seconds(2);

class MetricsServer {
 public:
  // `metrics` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, const Metrics& metrics);

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  ~MetricsServer();

  // "host:port" with the port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsServer() = default;

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace verdict::metrics

#endif  // VERDICT_SERVER_METRICS_METRICS_SERVER_H_
