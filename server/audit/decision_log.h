// DecisionLog: the JSON Lines decision log, durable once Submit() returns.
//
// Submit() is the request path: it copies the record into the Journal, a
// bounded byte ring in a memory-mapped file beside the log (`PATH-journal`),
// and returns; no lock, no system call, no allocation. A record Submit() took
// survives verdictd being killed at any moment after: the next verdictd
// finds it in the journal and appends it to the log before it serves,
// saying how many it recovered (log line,
// verdict_audit_recovered_records_total). A power loss is another matter: the
// syncer thread fdatasyncs the file every sync_interval, which bounds what a
// machine crash can take.
//
// A writer thread moves records from the journal to the file in order, in
// large write(2)s, and rotates the file by size (path -> path.1 -> ... ->
// path.<keep_files>, the oldest deleted and its records counted in
// verdict_audit_rotated_away_records_total); it keeps
// verdict_audit_oldest_record_timestamp_seconds, the time of the oldest
// record still on disk, so an alert can say when history gets short. Only a
// regular file is rotated (never /dev/null).
//
// Nothing is lost silently: every record is written
// (verdict_audit_records_total) or dropped (verdict_audit_dropped_total). A
// full journal refuses at once. A file that cannot be opened or written makes
// the log unhealthy: what Submit() is given then is refused, and what a failed
// write held is dropped. The writer retries the file every retry_interval and
// reopening it makes the log healthy again. Until the file has opened once,
// the journal of the previous run is left as it was; a journal that another
// process holds (a second verdictd on the same log) keeps the log unhealthy.
//
// Thread-safe. The destructor writes what the journal holds, syncs the file,
// and joins the writer.

#ifndef VERDICT_SERVER_AUDIT_DECISION_LOG_H_
#define VERDICT_SERVER_AUDIT_DECISION_LOG_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/audit/decision_sink.h"
#include "server/audit/journal.h"
#include "server/metrics/metrics.h"

namespace verdict::audit {

struct DecisionLogOptions {
  std::string path;
  int64_t max_bytes = 100 << 20;  // rotate past this size
  int keep_files = 5;             // rotated files kept besides the live one
  size_t buffer_bytes = 8 << 20;  // the journal: records not yet written
  absl::Duration sync_interval = absl::Seconds(1);  // fdatasync the file
  absl::Duration retry_interval = absl::Milliseconds(500);
};

class DecisionLog final : public DecisionSink {
 public:
  // `metrics` may be null; it must outlive the log.
  DecisionLog(DecisionLogOptions options, metrics::Metrics* metrics);
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;
  ~DecisionLog() override;

  bool Submit(std::string_view record) override;
  bool Healthy() const override {
    return healthy_.load(std::memory_order_relaxed);
  }

  // Blocks until every record submitted before the call is written or
  // dropped.
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

  // What the start found in the previous run's journal.
  JournalRecovery recovery() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t written() const { return written_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t rotated_away() const { return rotated_away_.load(); }

 private:
  void Run();
  // Writer thread only (the constructor's until it starts the writer).
  bool EnsureOpen();
  void TryStart();
  // Writes what the previous run's journal held; false leaves it there.
  bool Recover(JournalRecovery found, std::string_view records);
  void WriteBatch(const std::string& batch, uint64_t records);
  bool WriteAll(std::string_view bytes);
  void CloseFile();
  // The syncer thread: fdatasyncs the file every sync_interval, so that a
  // slow disk stalls neither the writer nor the request path.
  void SyncLoop() ABSL_LOCKS_EXCLUDED(sync_mu_);
  void SetSyncTarget(int fd) ABSL_LOCKS_EXCLUDED(sync_mu_);
  void RotateIfNeeded();
  void UpdateOldestRecord();
  void Drop(uint64_t records);

  const DecisionLogOptions options_;
  const std::string journal_path_;  // "": an anonymous journal
  metrics::Metrics* const metrics_;
  std::unique_ptr<Journal> journal_owner_;  // set once, by the writer
  std::atomic<Journal*> journal_{nullptr};
  std::atomic<bool> healthy_{false};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};  // includes records refused by Submit
  std::atomic<uint64_t> rotated_away_{0};

  // Writer thread state (the constructor's until it starts the writer).
  int fd_ = -1;
  bool regular_file_ = false;
  bool file_failed_ = false;  // logged; cleared by a write that succeeds
  int64_t file_bytes_ = 0;
  uint64_t file_id_ = 0;  // inode of a regular file
  // Records in path, path.1, ... path.<keep_files>; -1: not known (written
  // by an earlier run), counted when rotation deletes it.
  std::vector<int64_t> file_records_;
  absl::Time next_open_attempt_ = absl::InfinitePast();

  mutable absl::Mutex mu_;
  JournalRecovery recovery_ ABSL_GUARDED_BY(mu_);
  uint64_t released_ ABSL_GUARDED_BY(mu_) = 0;  // journal position done
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool flush_wanted_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;

  absl::Mutex sync_mu_;  // held through each fdatasync
  int sync_fd_ ABSL_GUARDED_BY(sync_mu_) = -1;
  bool sync_stopping_ ABSL_GUARDED_BY(sync_mu_) = false;
  std::atomic<bool> unsynced_{false};  // written since the last sync
  std::thread syncer_;
};

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_DECISION_LOG_H_
