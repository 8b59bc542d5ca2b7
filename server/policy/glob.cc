#include "server/policy/glob.h"

#include <utility>

#include "absl/status/status.h"

namespace verdict::policy {
namespace {

// The text being matched, seen as one byte sequence. Concat avoids building
// "kind:id" per request.
struct Concat {
  std::string_view first;
  char separator;
  std::string_view second;

  size_t size() const { return first.size() + 1 + second.size(); }
  char operator[](size_t i) const {
    if (i < first.size()) return first[i];
    if (i == first.size()) return separator;
    return second[i - first.size() - 1];
  }
};

bool IsContinuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Bytes that `?` consumes at text[i]: one code point. A continuation byte is
// never the start of a code point, so `?` fails there; that rejects the
// mid-code-point positions a star restart can reach.
template <typename Text>
size_t CodePointLength(const Text& text, size_t i) {
  if (IsContinuation(text[i])) return 0;
  size_t n = 1;
  while (i + n < text.size() && IsContinuation(text[i + n])) ++n;
  return n;
}

// Two-pointer glob matching: on a mismatch, retry from the last star with
// one more byte absorbed by it. Each star restart only moves forward, so the
// work is bounded by pattern length times text length.
template <typename Text>
bool MatchGlob(std::string_view pattern, size_t start, const Text& text) {
  size_t p = start;
  size_t t = start;
  size_t star_p = std::string_view::npos;
  size_t star_t = 0;
  const size_t text_size = text.size();
  while (t < text_size) {
    if (p < pattern.size()) {
      const char c = pattern[p];
      if (c == '*') {
        star_p = ++p;
        star_t = t;
        continue;
      }
      if (c == '?') {
        const size_t n = CodePointLength(text, t);
        if (n != 0) {
          p += 1;
          t += n;
          continue;
        }
      } else if (c == text[t]) {
        ++p;
        ++t;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

Glob::Glob(std::string pattern) : pattern_(std::move(pattern)) {
  prefix_length_ = pattern_.find_first_of("*?");
  if (prefix_length_ == std::string::npos) prefix_length_ = pattern_.size();
  matches_all_ = pattern_.find_first_not_of('*') == std::string::npos;
}

absl::StatusOr<Glob> Glob::Compile(std::string_view pattern) {
  if (pattern.empty()) {
    return absl::InvalidArgumentError("empty_glob: a glob must not be empty");
  }
  return Glob(std::string(pattern));
}

bool Glob::Matches(std::string_view text) const {
  if (is_literal()) return text == pattern_;
  if (text.substr(0, prefix_length_) != literal_prefix()) return false;
  return MatchGlob(pattern_, prefix_length_, text);
}

bool Glob::Matches(std::string_view first, char separator,
                   std::string_view second) const {
  const Concat text{first, separator, second};
  if (text.size() < prefix_length_) return false;
  for (size_t i = 0; i < prefix_length_; ++i) {
    if (pattern_[i] != text[i]) return false;
  }
  if (is_literal()) return text.size() == prefix_length_;
  return MatchGlob(pattern_, prefix_length_, text);
}

}  // namespace verdict::policy
