// Message building for the condition compiler.
//
// This abseil build has its own absl::string_view (not std::string_view), so
// absl::StrCat does not take a std::string_view; Cat converts such pieces.
// Pure functions; safe from any thread.

#ifndef VERDICT_SERVER_POLICY_CEL_STRINGS_H_
#define VERDICT_SERVER_POLICY_CEL_STRINGS_H_

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace verdict::policy::cel {

inline absl::string_view Piece(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
template <typename T>
const T& Piece(const T& value) {
  return value;
}

// absl::StrCat over pieces that may include std::string_view.
template <typename... Args>
std::string Cat(const Args&... args) {
  return absl::StrCat(Piece(args)...);
}

}  // namespace verdict::policy::cel

#endif  // VERDICT_SERVER_POLICY_CEL_STRINGS_H_
