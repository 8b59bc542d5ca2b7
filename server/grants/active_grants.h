// ActiveGrants: how many issued grants are live (issued, not expired, not
// revoked), for the verdict_grants_active gauge.
//
// Remembers each issued grant's id, task and expiry in memory, and forgets it
// once it expires (noticed as calls go by, so memory is bounded by the grants
// issued within one max_ttl) or is revoked, directly or through its task. It
// does not remember revocations: the service refuses to issue for a task its
// RevocationList has revoked, and tells ActiveGrants of every revocation it
// makes. It starts empty, so grants issued before a restart are not counted.
//
// Thread-safe: one mutex, held for map operations only. Meant for Issue,
// Revoke and metric scrapes, not for the Check path.

#ifndef VERDICT_SERVER_GRANTS_ACTIVE_GRANTS_H_
#define VERDICT_SERVER_GRANTS_ACTIVE_GRANTS_H_

#include <cstddef>
#include <functional>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace verdict::grants {

class ActiveGrants {
 public:
  ActiveGrants() = default;
  ActiveGrants(const ActiveGrants&) = delete;
  ActiveGrants& operator=(const ActiveGrants&) = delete;

  // Records a grant issued with `expires_at`; one that expired by `now` is
  // not recorded.
  void Issued(std::string_view grant_id, std::string_view task_id,
              absl::Time expires_at, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  void RevokeGrant(std::string_view grant_id) ABSL_LOCKS_EXCLUDED(mu_);
  void RevokeTask(std::string_view task_id) ABSL_LOCKS_EXCLUDED(mu_);

  // The grants live at `now`; forgets those expired by then.
  size_t Count(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    std::string task;
    absl::Time expires_at;
  };
  using Expiry = std::pair<absl::Time, std::string>;  // expires_at, grant id

  void ForgetExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Forget(std::string_view grant_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> grants_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> by_task_
      ABSL_GUARDED_BY(mu_);
  // Soonest expiry first. Entries of grants revoked or re-issued since stay
  // until their time comes and are then skipped.
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>>
      expiries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace verdict::grants

#endif  // VERDICT_SERVER_GRANTS_ACTIVE_GRANTS_H_
