#include "server/limits/limit_counter.h"

namespace verdict::limits {

Window WindowAt(absl::Duration window, absl::Time now) {
  const int64_t length = absl::ToInt64Milliseconds(window);
  const int64_t ms = absl::ToUnixMillis(now);
  // Floor division: a time before the epoch falls in a negative window.
  int64_t number = ms / length;
  if (ms % length != 0 && ms < 0) --number;
  return {.number = number, .end = absl::FromUnixMillis((number + 1) * length)};
}

}  // namespace verdict::limits
