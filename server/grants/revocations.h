// RevocationList: revoked grant ids and task ids, durable in an append-only
// JSON Lines file and answered from memory without locks.
//
// File format, one record per line:
//   {"grant":"<grant id>","at":<unix seconds>}
//   {"task":"<task id>","at":<unix seconds>}
// Open() loads every record. A last line without its newline is what a crash
// in the middle of an append leaves (that revocation was never acknowledged):
// it is dropped with a warning and cut off the file. Blank lines are skipped.
// Any other line that is not a record fails Open() with path:line, because a
// server that forgot a revocation would honour a revoked grant: verdictd
// refuses to start instead (fail closed). The file is locked (flock) so that
// a second process cannot append to it at the same time.
//
// Durability: RevokeGrant and RevokeTask write one line and fdatasync it
// before the revocation is published in memory and before they return OK, so
// an acknowledged revocation survives a crash or a power loss. A write that
// fails leaves no record behind (the next one overwrites its remains); after
// a failed fdatasync the file's state is unknown and every later revocation
// fails until the server restarts and reloads the file. Revoking what is
// already revoked returns OK and writes nothing. The file grows by one line
// per distinct revocation and is never compacted.
//
// A fleet of replicas (server/fleet) also records here what it learns from
// the other replicas, with the time of the original revocation (Record), and
// reads everything back to compare it with the shared set (Entries): this
// file stays the durable copy of every revocation this replica has seen.
//
// Thread-safety: IsRevoked and the counts read an immutable snapshot
// published by pointer (server/common/published.h): no lock, no contention
// between readers, never waiting for a writer's I/O. Writers serialise on a
// mutex that readers never take.

#ifndef VERDICT_SERVER_GRANTS_REVOCATIONS_H_
#define VERDICT_SERVER_GRANTS_REVOCATIONS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/common/published.h"

namespace verdict::grants {

class RevocationList {
 public:
  enum class Kind { kGrant, kTask };
  struct Entry {
    Kind kind;
    std::string id;
  };

  // OK when `id` may be revoked as `kind`: 1..model::kMaxNameBytes bytes of
  // valid UTF-8; InvalidArgument otherwise.
  static absl::Status ValidateId(Kind kind, std::string_view id);

  // Opens `path`, creating it (mode 0600) if missing, and loads it.
  static absl::StatusOr<std::unique_ptr<RevocationList>> Open(
      const std::string& path);

  ~RevocationList();
  RevocationList(const RevocationList&) = delete;
  RevocationList& operator=(const RevocationList&) = delete;

  // Durably revokes one grant, or every grant of a task (issued or to be
  // issued), recording `now` as the time. Ids are 1..model::kMaxNameBytes bytes
  // (InvalidArgument otherwise); I/O failures are Unavailable, or
  // FailedPrecondition once a failed fdatasync stopped all writes.
  absl::Status RevokeGrant(std::string_view grant_id, absl::Time now)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  absl::Status RevokeTask(std::string_view task_id, absl::Time now)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // RevokeGrant or RevokeTask by `kind`, with `at` as the time; true when
  // the revocation is new (written), false when it was already there.
  absl::StatusOr<bool> Record(Kind kind, std::string_view id, absl::Time at)
      ABSL_LOCKS_EXCLUDED(write_mu_);

  // Every revocation, in no particular order (a copy: O(n) memory).
  std::vector<Entry> Entries() const;

  // True when the grant or its task is revoked. Lock-free; see the top.
  bool IsRevoked(std::string_view grant_id, std::string_view task_id) const;

  size_t revoked_grants() const;
  size_t revoked_tasks() const;

  const std::string& path() const { return path_; }

 private:
  struct Snapshot;

  RevocationList(std::string path, int fd, int64_t end,
                 std::shared_ptr<const Snapshot> loaded);

  absl::StatusOr<bool> Revoke(Kind kind, std::string_view id, absl::Time now)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // Writes `line` at end_ and makes it durable.
  absl::Status Append(std::string_view line)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const std::string path_;
  const int fd_;
  absl::Mutex write_mu_;
  int64_t end_ ABSL_GUARDED_BY(write_mu_);  // after the last complete record
  bool sync_failed_ ABSL_GUARDED_BY(write_mu_) = false;
  Published<Snapshot> snapshot_;
};

}  // namespace verdict::grants

#endif  // VERDICT_SERVER_GRANTS_REVOCATIONS_H_
