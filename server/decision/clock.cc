#include "server/decision/clock.h"

#include "absl/time/clock.h"

namespace verdict::decision {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

const Clock& RealClock() {
  // Never destroyed: requests may read it while the process exits.
  static const SystemClock* const clock = new SystemClock;
  return *clock;
}

}  // namespace verdict::decision
