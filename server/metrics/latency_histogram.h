// LatencyHistogram: a Prometheus histogram for the request path that never
// takes a lock.
//
// prometheus-cpp's Histogram serialises Observe() on a mutex; this one keeps
// one relaxed atomic counter per bucket and an integer nanosecond sum, so an
// observation is a short bucket search and two atomic adds. A scrape reads
// the counters without stopping writers, so one scrape may see a sample in
// its bucket but not yet in the sum: Prometheus tolerates that skew, and the
// next scrape is exact.
//
// Thread-safe; Observe() is wait-free.

#ifndef VERDICT_SERVER_METRICS_LATENCY_HISTOGRAM_H_
#define VERDICT_SERVER_METRICS_LATENCY_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace verdict::metrics {

class LatencyHistogram final : public prometheus::Collectable {
 public:
  // `bounds` are the buckets' upper bounds in seconds, ascending.
  LatencyHistogram(std::string name, std::string help,
                   std::vector<double> bounds);

  void Observe(absl::Duration latency);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<double> bounds_;
  std::vector<int64_t> bounds_ns_;  // the same bounds, for the request path
  // One count per bound plus the +Inf bucket; counts are per bucket, not
  // cumulative, so an observation touches one counter.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace verdict::metrics

#endif  // VERDICT_SERVER_METRICS_LATENCY_HISTOGRAM_H_
