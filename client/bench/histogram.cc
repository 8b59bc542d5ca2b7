#include "client/bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace verdict::bench {

// Index layout: values below kSubBuckets are their own index. A value whose
// highest set bit is b >= kSubBucketBits is in range r = b - kSubBucketBits +
// 1 (r >= 1); its top kSubBucketBits bits, whose first is always set, pick one
// of kSubBuckets / 2 sub-buckets of width 2^r.
int LatencyHistogram::BucketIndex(uint64_t nanos) {
  if (nanos < kSubBuckets) return static_cast<int>(nanos);
  const int top_bit = std::bit_width(nanos) - 1;  // >= kSubBucketBits
  const int range = top_bit - kSubBucketBits + 1;
  if (range > kMaxExponent) return kBuckets - 1;
  const int sub = static_cast<int>(nanos >> (top_bit - kSubBucketBits + 1)) -
                  kSubBuckets / 2;
  return kSubBuckets + (range - 1) * (kSubBuckets / 2) + sub;
}

uint64_t LatencyHistogram::BucketUpperBound(int index) {
  if (index < kSubBuckets) return static_cast<uint64_t>(index);
  const int range = (index - kSubBuckets) / (kSubBuckets / 2) + 1;
  const uint64_t sub =
      (index - kSubBuckets) % (kSubBuckets / 2) + kSubBuckets / 2;
  return ((sub + 1) << range) - 1;
}

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

void LatencyHistogram::Record(uint64_t nanos) {
  ++counts_[BucketIndex(nanos)];
  ++count_;
  min_ = std::min(min_, nanos);
  max_ = std::max(max_, nanos);
  sum_ += nanos;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / count_);
}

uint64_t LatencyHistogram::Percentile(double quantile) const {
  if (count_ == 0) return 0;
  quantile = std::clamp(quantile, 0.0, 1.0);
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(quantile * count_)));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::clamp(BucketUpperBound(static_cast<int>(i)), min(), max_);
    }
  }
  return max_;
}

}  // namespace verdict::bench
