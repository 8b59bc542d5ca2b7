// Clock: where the Decider reads the time, so that tests can choose it.
//
// The time read here verifies credentials and grants, ends a decision's
// latency and stamps its record; it is never the policies' `now` when the
// request sets evaluate_at. RealClock() is the system's; implementations are
// thread-safe.

#ifndef VERDICT_SERVER_DECISION_CLOCK_H_
#define VERDICT_SERVER_DECISION_CLOCK_H_

#include "absl/time/time.h"

namespace verdict::decision {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// absl::Now(); lives as long as the process.
const Clock& RealClock();

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_CLOCK_H_
