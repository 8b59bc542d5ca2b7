// SnapshotSource: where the Decider takes the policy set a request is
// decided on.
//
// A snapshot is one immutable PolicySet with the metric children of its
// rules; everything one request decides (every item of a batch) reads the
// same snapshot, so it sees one policy revision. PolicyStore
// (policy_store.h: the set verdictd serves, swapped on reload) and
// FixedSnapshot (fixed_snapshot.h: one compiled set, for `verdict test`)
// implement it. Implementations are thread-safe and
// never block the request path.

#ifndef VERDICT_SERVER_DECISION_SNAPSHOT_SOURCE_H_
#define VERDICT_SERVER_DECISION_SNAPSHOT_SOURCE_H_

#include <memory>

#include "server/metrics/metrics.h"
#include "server/policy/policy_set.h"

namespace verdict::decision {

struct PolicySnapshot {
  std::shared_ptr<const policy::PolicySet> set;  // null: none loaded yet
  // verdict_rule_matches_total children of `set`; null without metrics.
  std::shared_ptr<const metrics::RuleMatchCounters> rule_counters;
};

class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  // The snapshot to decide on now. The reference stays valid until this
  // thread next asks any source: take it once per request, do not keep it.
  virtual const PolicySnapshot& CurrentSnapshot() const = 0;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_SNAPSHOT_SOURCE_H_
