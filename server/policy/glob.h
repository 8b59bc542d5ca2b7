// Glob: a compiled name pattern for policy targets (spec section 4).
//
// `*` matches any run of characters (possibly empty), `?` exactly one UTF-8
// code point, and every other byte is literal; matching is case-sensitive and
// there is no escape syntax. Matching runs in O(pattern * text) worst case
// with the classic two-pointer algorithm (no exponential backtracking), never
// allocates and never throws. A Glob is immutable once compiled and safe to
// share between threads.

#ifndef VERDICT_SERVER_POLICY_GLOB_H_
#define VERDICT_SERVER_POLICY_GLOB_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace verdict::policy {

class Glob {
 public:
  // Fails with InvalidArgument ("empty_glob") on an empty pattern.
  static absl::StatusOr<Glob> Compile(std::string_view pattern);

  Glob(const Glob&) = default;
  Glob(Glob&&) = default;
  Glob& operator=(const Glob&) = default;
  Glob& operator=(Glob&&) = default;

  const std::string& pattern() const { return pattern_; }
  // True when the pattern has no wildcard: it matches exactly itself.
  bool is_literal() const { return prefix_length_ == pattern_.size(); }
  // True when the pattern is made of stars only: it matches every name.
  bool matches_all() const { return matches_all_; }
  // The bytes before the first wildcard: every match starts with them.
  std::string_view literal_prefix() const {
    return std::string_view(pattern_).substr(0, prefix_length_);
  }

  [[nodiscard]] bool Matches(std::string_view text) const;
  // Matches the virtual concatenation `first + separator + second` (e.g.
  // resource "kind:id") without building it.
  [[nodiscard]] bool Matches(std::string_view first, char separator,
                             std::string_view second) const;

 private:
  explicit Glob(std::string pattern);

  std::string pattern_;
  size_t prefix_length_ = 0;
  bool matches_all_ = false;
};

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_GLOB_H_
