// A log-linear latency histogram in the manner of HdrHistogram: values (in
// nanoseconds) below 256 are counted exactly; above, each power-of-two range
// is split into 128 equal sub-buckets, so a value is reported within 1/128
// (< 0.8%) of itself, up to 2^47 ns (39 hours); larger values clamp to the
// top bucket. About 43 KiB, allocated once, none per Record().
//
// Not thread-safe: give each thread its own and Merge() them.

#ifndef VERDICT_CLIENT_BENCH_HISTOGRAM_H_
#define VERDICT_CLIENT_BENCH_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace verdict::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(uint64_t nanos);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;

  // The smallest recorded value v such that a fraction `quantile` (0..1) of
  // the values is <= v, to the bucket's precision (the bucket's upper bound,
  // capped by max()); 0 when empty.
  uint64_t Percentile(double quantile) const;

 private:
  static constexpr int kSubBucketBits = 8;
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kMaxExponent = 40;
  static constexpr int kBuckets = kSubBuckets + kMaxExponent * kSubBuckets / 2;

  static int BucketIndex(uint64_t nanos);
  static uint64_t BucketUpperBound(int index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace verdict::bench

#endif  // VERDICT_CLIENT_BENCH_HISTOGRAM_H_
