#include "server/metrics/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace verdict::metrics {

LatencyHistogram::LatencyHistogram(std::string name, std::string help,
                                   std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (double bound : bounds_) {
    bounds_ns_.push_back(static_cast<int64_t>(std::llround(bound * 1e9)));
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void LatencyHistogram::Observe(absl::Duration latency) {
  const int64_t ns = std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency));
  // Prometheus buckets are "less than or equal to" their bound.
  const size_t bucket =
      std::lower_bound(bounds_ns_.begin(), bounds_ns_.end(), ns) -
      bounds_ns_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

std::vector<prometheus::MetricFamily> LatencyHistogram::Collect() const {
  prometheus::ClientMetric metric;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    metric.histogram.bucket.push_back(
        {cumulative, i < bounds_.size() ? bounds_[i] : INFINITY});
  }
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum =
      static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Histogram;
  family.metric.push_back(std::move(metric));
  return {std::move(family)};
}

}  // namespace verdict::metrics
