// MetricsServer: serves the Prometheus text exposition of a Metrics at
// http://ADDRESS/metrics (prometheus-cpp's pull exposer, civetweb inside).
//
// Scrapes run on the exposer's own threads and read counters without
// stopping the request path. Port 0 picks a free port, reported by
// address(). The destructor stops serving.

#ifndef VERDICT_SERVER_METRICS_METRICS_SERVER_H_
#define VERDICT_SERVER_METRICS_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/metrics/metrics.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace verdict::metrics {

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
