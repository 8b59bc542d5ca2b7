// Journal: the decision log's bounded byte ring, shared by the request
// threads (producers) and the log's writer thread (the one consumer).
//
// Append() is the request path: one compare-and-swap reserves space, a memcpy
// fills it and a release store of the record's tag commits it. No lock, no
// system call, no allocation; a full ring refuses at once. The ring is a
// MAP_SHARED mapping of a pre-allocated file (`PATH-journal` beside the log),
// so a committed record is in the kernel's page cache the moment Append()
// returns: it survives the process being killed (SIGKILL, a crash), though
// not the machine losing power. The consumer takes committed records in
// order (Next) and, once they are in the log file, gives their space back
// (Release); the file's header keeps both positions, so the next Open() of
// the file recovers whatever was committed but not yet released.
//
// A record's tag is its own position in the stream with the top byte 0xff, a
// byte that valid UTF-8 (and so a JSON record) never holds: a scan can tell
// a committed record from stale bytes of an earlier lap, and step over the
// space of a reservation that was never committed (its thread was killed in
// the memcpy, so its answer was never sent).
//
// Append() is safe from any thread; Next() and Release() from one consumer
// thread at a time. Never throws.

#ifndef VERDICT_SERVER_AUDIT_JOURNAL_H_
#define VERDICT_SERVER_AUDIT_JOURNAL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace verdict::audit {

// What Open() found in a previous process's journal.
struct JournalRecovery {
  uint64_t records = 0;  // committed but not released: handed to the callback
  // Reservations never committed: their threads died before the answer.
  uint64_t unfinished = 0;
  // The consumer's last NoteWrite(), when it is about the first record handed
  // to the callback (the write may have reached the file, wholly or partly).
  bool write_noted = false;
  uint64_t write_file = 0;
  uint64_t write_offset = 0;
};

struct JournalHeader;  // the file's first page, defined in journal.cc

class Journal {
 public:
  // The largest record Append() takes (bytes, without the newline).
  static constexpr size_t kMaxRecordBytes = 64 << 10;

  // Called by Open() with what the previous process left: `records` is
  // every record (newline included) it committed and did not release, in
  // order. Returns whether they are safe elsewhere; false keeps the journal
  // as it is and fails Open().
  using Recoverer = std::function<bool(const JournalRecovery& found,
                                       std::string_view records)>;

  // The journal at `path`, locked against any other process or log opening
  // it (FailedPrecondition while one holds it): recovers what it holds
  // through `recover` (not called when it holds nothing; a file that is not
  // a journal is reported as DataLoss), then empties and maps it with
  // `capacity` bytes (rounded up to a power of two, at least 1 MiB). An
  // empty path gives an anonymous ring that does not outlive the process.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(
      const std::string& path, size_t capacity, const Recoverer& recover);

  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  // Copies `record` and a newline into the ring. False, at once, when the
  // ring is full or the record is larger than kMaxRecordBytes.
  [[nodiscard]] bool Append(std::string_view record);

  // Consumer: the next committed record (newline included) after those
  // already taken, or false when the next one is not committed yet. The
  // view stays valid until Release().
  bool Next(std::string_view* record);
  // Consumer: notes, before writing the records taken since the last
  // Release() to a file (`file`, say an inode number) at byte `offset`, that
  // they may be there; Open() reports the note until Release(), so the
  // next process can skip what reached the file instead of writing it twice.
  void NoteWrite(uint64_t file, uint64_t offset);
  // Consumer: gives back the space of every record taken by Next().
  void Release();

  // Stream positions: bytes ever reserved, and released.
  uint64_t reserved() const;
  uint64_t released() const;
  size_t capacity() const { return capacity_; }

 private:
  Journal(int fd, size_t capacity, JournalHeader* header, char* data);

  const int fd_;  // -1: anonymous
  const size_t capacity_;
  JournalHeader* const header_;
  char* const data_;           // capacity_ bytes, mapped twice back to back
  uint64_t taken_ = 0;         // consumer only: position after Next()
  uint64_t last_release_ = 0;  // consumer only: position of Release()
};

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_JOURNAL_H_
