// The lock-free histogram puts samples in "less or equal" buckets and
// exposes cumulative counts like a Prometheus histogram.

#include "server/metrics/latency_histogram.h"

#include "gtest/gtest.h"

namespace verdict::metrics {
namespace {

TEST(LatencyHistogramTest, BucketsAreCumulativeAndInclusive) {
  LatencyHistogram histogram("h", "help", {1e-6, 1e-3});
  histogram.Observe(absl::Nanoseconds(500));
  histogram.Observe(absl::Microseconds(1));  // on the bound: first bucket
  histogram.Observe(absl::Microseconds(2));
  histogram.Observe(absl::Seconds(1));
  const auto families = histogram.Collect();
  ASSERT_EQ(families.size(), 1u);
  const auto& h = families[0].metric.at(0).histogram;
  ASSERT_EQ(h.bucket.size(), 3u);
  EXPECT_EQ(h.bucket[0].cumulative_count, 2u);
  EXPECT_EQ(h.bucket[1].cumulative_count, 3u);
  EXPECT_EQ(h.bucket[2].cumulative_count, 4u);
  EXPECT_EQ(h.sample_count, 4u);
  EXPECT_NEAR(h.sample_sum, 1.0000035, 1e-9);
}

}  // namespace
}  // namespace verdict::metrics
