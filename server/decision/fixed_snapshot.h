// FixedSnapshot: the SnapshotSource of one compiled PolicySet that never
// changes, for deciding without a policy store (`verdict test` in process,
// tests). It has no rule counters. Immutable; safe from any thread.

#ifndef VERDICT_SERVER_DECISION_FIXED_SNAPSHOT_H_
#define VERDICT_SERVER_DECISION_FIXED_SNAPSHOT_H_

#include <memory>

#include "server/decision/snapshot_source.h"
#include "server/policy/policy_set.h"

namespace verdict::decision {

class FixedSnapshot final : public SnapshotSource {
 public:
  // `set` must outlive the FixedSnapshot: the aliasing constructor over an
  // empty owner borrows it.
  explicit FixedSnapshot(const policy::PolicySet& set)
      : snapshot_{.set = std::shared_ptr<const policy::PolicySet>(
                      std::shared_ptr<const void>(), &set),
                  .rule_counters = nullptr} {}

  const PolicySnapshot& CurrentSnapshot() const override { return snapshot_; }

 private:
  const PolicySnapshot snapshot_;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_FIXED_SNAPSHOT_H_
