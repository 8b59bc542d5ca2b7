// Program: the compiled form of one condition, like RE2's prog.h.
//
// SKELETON written by the lead to fix the interface; the condition-language
// owner replaces the internals (node layout, opcode list with one comment per
// value, constant pools, compiled regexes). What must stay:
//   * movable, not copyable; immutable once built by CompileCondition;
//   * uses_now(): true when the condition reads `now` (decisions that depend
//     on the clock must not be cached by callers);
//   * constant_value(): set when the condition folds to a constant boolean
//     (lint reports rules whose condition is constant false).

#ifndef VERDICT_SERVER_POLICY_PROGRAM_H_
#define VERDICT_SERVER_POLICY_PROGRAM_H_

#include <optional>

namespace verdict::policy {

class Program {
 public:
  Program() = default;
  Program(Program&&) = default;
  Program& operator=(Program&&) = default;
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  bool uses_now() const { return uses_now_; }
  std::optional<bool> constant_value() const { return constant_value_; }

 private:
  bool uses_now_ = false;
  std::optional<bool> constant_value_;
};

}  // namespace verdict::policy

#endif  // VERDICT_SERVER_POLICY_PROGRAM_H_
