// Evaluates a compiled condition Program against a Request.
//
// Errors (a missing field, a type mismatch on dynamic data, overflow, a
// division by zero) are values, not exceptions: they propagate like CEL's,
// `false && error` is false and `true || error` is true, and an error at the
// top is reported as Truth::kError so the engine can fail closed.
//
// Unknowns are what the request cannot know yet (Request::arguments_unknown,
// resource_unknown): tool.arguments, and resource.kind, id and attributes of
// a request without a resource, load as unknowns, and evaluation is CEL's
// partial evaluation (Kleene logic). `unknown && false` is false and
// `unknown || true` is true; otherwise && and || with an unknown operand are
// unknown, and an unknown beats an error. Every other operator, function,
// selection, index, has(), `?:` condition and comprehension range is strict:
// its first unknown or error operand, left to right, is its result. exists()
// is true when a predicate is, all() false when one is, and otherwise an
// unknown predicate beats an error. An unknown at the top is Truth::kUnknown
// and the scratch's unknown_paths() then name every attribute the result
// depends on ("tool.arguments.path"; a selection replaces the path of the
// map it reads, so "tool.arguments" is not listed beside it), first
// appearance first; paths of unknowns that a deciding operand absorbed are
// left out. They stay valid as long as the Program. Without those two flags
// nothing loads as unknown, so no result is unknown.
//
// Never does I/O, never throws, never recurses deeper than the compile-time
// depth budget. Allocates only inside the EvalScratch, whose buffers keep
// their capacity between calls. Safe from any thread with one EvalScratch per
// thread.

#ifndef VERDICT_SERVER_ENGINE_INTERPRETER_H_
#define VERDICT_SERVER_ENGINE_INTERPRETER_H_

#include <string_view>

#include "server/model/request.h"
#include "server/model/value.h"
#include "server/policy/program.h"

namespace verdict::engine {

enum class Truth : uint8_t { kFalse, kTrue, kError, kUnknown };

struct ConditionOutcome {
  Truth truth = Truth::kError;
  // With kError, what went wrong in two parts that need no formatting and
  // stay valid as long as the Program and the Request: `error` is static
  // text ("no such key"), `detail` names the offending key, field, function
  // or operator ("environment"), or is empty.
  // With kUnknown, `error` is empty and `detail` is the path of the unknown
  // result; scratch->unknown_paths() holds every path it depends on, until
  // the scratch's next evaluation.
  std::string_view error;
  std::string_view detail;
};

// Resets `*scratch`, then evaluates.
ConditionOutcome EvaluateCondition(const policy::Program& program,
                                   const model::Request& request,
                                   model::EvalScratch* scratch);

// Resets `*scratch`, then evaluates a program of any result type (a limit's
// key expression, policy::CompileLimitKey), which may be an error or an
// unknown value. It points into the program, the request or the scratch:
// valid until the scratch's next evaluation.
model::Value EvaluateValue(const policy::Program& program,
                           const model::Request& request,
                           model::EvalScratch* scratch);

}  // namespace verdict::engine

#endif  // VERDICT_SERVER_ENGINE_INTERPRETER_H_
