// DecisionLog: the JSON Lines decision log, written by a background thread.
//
// Submit() puts a record on a bounded lock-free queue and returns; the writer
// thread appends records to the file in batches, rotates it by size
// (path -> path.1 -> ... -> path.<keep_files>, the oldest deleted) and keeps
// count: every record is either written (verdict_audit_records_total) or
// dropped (verdict_audit_dropped_total), never silently lost. A full queue
// drops at once. A file that cannot be opened or written makes the log
// unhealthy and drops what it holds; the writer retries the file, and the
// first record that is written again makes it healthy.
//
// Thread-safe. The destructor writes what is queued, then joins the writer.

#ifndef VERDICT_SERVER_AUDIT_DECISION_LOG_H_
#define VERDICT_SERVER_AUDIT_DECISION_LOG_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/audit/bounded_queue.h"
#include "server/audit/decision_sink.h"
#include "server/metrics/metrics.h"

namespace verdict::audit {

struct DecisionLogOptions {
  std::string path;
  int64_t max_bytes = 100 << 20;  // rotate past this size
  int keep_files = 5;             // rotated files kept besides the live one
  size_t queue_capacity = 1 << 16;
  absl::Duration retry_interval = absl::Milliseconds(500);
};

class DecisionLog final : public DecisionSink {
 public:
  // `metrics` may be null; it must outlive the log.
  DecisionLog(DecisionLogOptions options, metrics::Metrics* metrics);
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;
  ~DecisionLog() override;

  bool Submit(std::string record) override;
  bool Healthy() const override {
    return healthy_.load(std::memory_order_relaxed);
  }

  // Blocks until every record submitted before the call is written or
  // dropped.
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t written() const { return written_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  void Run();
  // Writer thread only.
  bool EnsureOpen();
  void WriteBatch(const std::string& batch, uint64_t records);
  void RotateIfNeeded();
  void Drop(uint64_t records);

  const DecisionLogOptions options_;
  metrics::Metrics* const metrics_;
  BoundedQueue<std::string> queue_;
  std::atomic<bool> healthy_{true};
  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};  // includes records refused by Submit

  // Writer thread state (the constructor's until it starts the writer).
  std::FILE* file_ = nullptr;
  int64_t file_bytes_ = 0;
  absl::Time next_open_attempt_ = absl::InfinitePast();

  absl::Mutex mu_;
  uint64_t processed_ ABSL_GUARDED_BY(mu_) = 0;  // taken off the queue
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool flush_wanted_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;  // started by the constructor once the file is open
};

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_DECISION_LOG_H_
