// Quoting file text (policies, configuration, test suites) into diagnostics.
//
// A diagnostic travels to logs, Admin.Status and CI output, and the file it
// describes may not be what it claims (a mistaken copy of a credentials
// file), so a diagnostic quotes at most the one offending token: cut after
// kMaxQuotedBytes bytes (at a UTF-8 boundary, marked "..."), with
// backslashes, the quote character and every control byte written as \xNN,
// so a quoted token is one short, printable line that never carries a whole
// line of the file. Pure functions; safe from any thread.

#ifndef VERDICT_SERVER_COMMON_QUOTE_H_
#define VERDICT_SERVER_COMMON_QUOTE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace verdict {

inline constexpr size_t kMaxQuotedBytes = 32;

// `token`, bounded and escaped as above, without quotes around it.
inline std::string EscapeToken(std::string_view token, char quote = '"') {
  bool cut = false;
  if (token.size() > kMaxQuotedBytes) {
    size_t end = kMaxQuotedBytes;
    while (end > 0 && (static_cast<unsigned char>(token[end]) & 0xC0) == 0x80) {
      --end;
    }
    token = token.substr(0, end);
    cut = true;
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(token.size() + 3);
  for (const char c : token) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F || c == '\\' || c == quote) {
      out += "\\x";
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  if (cut) out += "...";
  return out;
}

// `token` bounded, escaped and between `quote` characters.
inline std::string QuoteToken(std::string_view token, char quote = '"') {
  std::string out(1, quote);
  out += EscapeToken(token, quote);
  out.push_back(quote);
  return out;
}

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_QUOTE_H_
