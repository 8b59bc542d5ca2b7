// The server's operational log: one timestamped line per event on stderr.
//
// Abseil's logging arrived after the Abseil that Debian 12 ships, so this is
// the small subset verdictd needs. Each line is written with one call, so
// lines from different threads never interleave, and control characters and
// backslashes in a message are written as \xNN, so one event is always one
// line whatever a client put in the ids it names. Never log a credential, a
// token or request data here: the decision log is the place for decisions.
// Thread-safe.

#ifndef VERDICT_SERVER_COMMON_LOG_H_
#define VERDICT_SERVER_COMMON_LOG_H_

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace verdict {

enum class LogLevel { kInfo, kWarning, kError };

void Log(LogLevel level, std::string_view message);

namespace log_internal {
// Debian's Abseil has its own string_view, which absl::StrCat wants.
inline absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}
template <typename T>
const T& Piece(const T& value) {
  return value;
}
}  // namespace log_internal

// Log(LogLevel::kError, "cannot open ", path, ": ", reason)
template <typename... Parts>
void Log(LogLevel level, const Parts&... parts) {
  const std::string line = absl::StrCat(log_internal::Piece(parts)...);
  Log(level, std::string_view(line));
}

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_LOG_H_
