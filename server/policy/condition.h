// Compiles the text of a `when` condition (the CEL subset of spec section 4)
// into a Program the engine evaluates without re-parsing.
//
// The compiler lexes, parses, resolves variables against the request schema
// (subject, actor, delegation, tool, action, resource, context, grant, now),
// type-checks where types are known (values from maps and `context` are dyn
// and checked at runtime), compiles RE2 patterns and timestamp literals once,
// and enforces size, nesting and node budgets so that evaluation never
// recurses deeper than kMaxConditionDepth. Lexical errors are reported (up to
// 20); parsing stops at the first syntax error (later ones would only echo it);
// every check error is reported, sorted by position.
//
// Pure function of its input; safe from any thread; never throws.

#ifndef VERDICT_SERVER_POLICY_CONDITION_H_
#define VERDICT_SERVER_POLICY_CONDITION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/policy/program.h"

namespace verdict::policy {

// Budgets: a condition longer or deeper than this is a compile error.
inline constexpr int kMaxConditionBytes = 16 * 1024;
inline constexpr int kMaxConditionDepth = 64;

struct ConditionError {
  int line = 1;    // 1-based line within the condition text
  int column = 1;  // 1-based byte column within that line
  // syntax (also bad escapes, unterminated strings), undeclared,
  // no_such_field, type (also non-constant map literals), limit, regex
  std::string code;
  std::string message;  // human readable, names the offending token
};

// Returns the compiled program, or InvalidArgument with every error appended
// to `*errors` (which must be non-null).
absl::StatusOr<Program> CompileCondition(std::string_view text,
                                         std::vector<ConditionError>* errors);

// The same for a limit's `per` key expression (docs/policies.md), whose
// value is a string or a number instead of a bool: a type known to be
// anything else is a `type` error; a dyn one is checked when evaluated.
absl::StatusOr<Program> CompileLimitKey(std::string_view text,
                                        std::vector<ConditionError>* errors);

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_CONDITION_H_
