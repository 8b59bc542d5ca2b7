#include "server/common/log.h"

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace verdict {

namespace {

// Appends `message` with every control character (a newline or ESC among
// them) written as \xNN, so text that came from a request (a task id, a
// subject) can neither start a forged line nor drive the terminal.
void AppendEscaped(std::string_view message, std::string* line) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f && byte != '\\') {
      line->push_back(c);
      continue;
    }
    line->append("\\x");
    line->push_back(kHex[byte >> 4]);
    line->push_back(kHex[byte & 0xf]);
  }
}

}  // namespace

void Log(LogLevel level, std::string_view message) {
  const char* tag = level == LogLevel::kError     ? "E"
                    : level == LogLevel::kWarning ? "W"
                                                  : "I";
  std::string line =
      absl::StrCat(tag, " ",
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                    absl::UTCTimeZone()),
                   " verdictd: ");
  AppendEscaped(message, &line);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace verdict
