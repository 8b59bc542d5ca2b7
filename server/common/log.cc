#include "server/common/log.h"

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace verdict {

void Log(LogLevel level, std::string_view message) {
  const char* tag = level == LogLevel::kError     ? "E"
                    : level == LogLevel::kWarning ? "W"
                                                  : "I";
  std::string line =
      absl::StrCat(tag, " ",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " verdictd: ");
  line.append(message);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace verdict
