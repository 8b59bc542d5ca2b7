// LimitCounter: counts the calls that the `limit`s of allow rules let
// through (docs/policies.md, docs/fleet.md "Budgets and rate limits").
//
// A limit allows at most `calls` calls per window, in fixed windows of its
// length aligned to the Unix epoch: window n covers [n * window,
// (n + 1) * window). Fixed windows need one counter per key and window, so
// a take is one atomic step (one Redis round trip for a fleet); the price
// is that up to twice `calls` may pass around a window boundary.
//
// Take() takes one call from each of several limits, all or none: when one
// has no room left, none is counted, so a denied call never uses up a
// budget. Implementations: InProcessLimitCounter (one replica) and
// RedisLimitCounter (a fleet sharing one Redis).
//
// Thread-safe. A counter that cannot count (its store is unreachable, its
// memory cap is reached) returns an error; the caller denies (fail closed).

#ifndef VERDICT_SERVER_LIMITS_LIMIT_COUNTER_H_
#define VERDICT_SERVER_LIMITS_LIMIT_COUNTER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace verdict::limits {

// One limit to take a call from.
struct LimitTake {
  // Which count: the rule's identity and the hash of its key values
  // (limit_key.h). Never raw request data.
  std::string_view key;
  int64_t calls = 0;      // at most this many per window, >= 1
  absl::Duration window;  // >= 1s, whole milliseconds
};

struct TakeResult {
  bool allowed = false;
  // When not allowed: the index in `takes` of the first limit without
  // room, its count in this window, and when the window ends.
  size_t exhausted = 0;
  int64_t count = 0;
  absl::Time resets_at;
};

// The window of length `window` that `now` falls in.
struct Window {
  int64_t number = 0;
  absl::Time end;
};
Window WindowAt(absl::Duration window, absl::Time now);

class LimitCounter {
 public:
  virtual ~LimitCounter() = default;

  // Takes one call from every limit of `takes` (distinct keys) in the
  // window `now` falls in, unless one of them already counts `calls` calls
  // there: then nothing is counted and the answer says which. An error
  // (Unavailable, ResourceExhausted) when the counter cannot answer.
  virtual absl::StatusOr<TakeResult> Take(absl::Span<const LimitTake> takes,
                                          absl::Time now) = 0;
};

}  // namespace verdict::limits

#endif  // VERDICT_SERVER_LIMITS_LIMIT_COUNTER_H_
