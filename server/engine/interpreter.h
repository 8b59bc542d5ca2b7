// Evaluates a compiled condition Program against a Request.
//
// Errors (a missing field, a type mismatch on dynamic data, overflow, a
// division by zero) are values, not exceptions: they propagate like CEL's,
// `false && error` is false and `true || error` is true, and an error at the
// top is reported as Truth::kError so the engine can fail closed.
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

enum class Truth : uint8_t { kFalse, kTrue, kError };

struct ConditionOutcome {
  Truth truth = Truth::kError;
  // With kError, what went wrong in two parts that need no formatting and
  // stay valid as long as the Program and the Request: `error` is static
  // text ("no such key"), `detail` names the offending key, field, function
  // or operator ("environment"), or is empty.
  std::string_view error;
  std::string_view detail;
};

ConditionOutcome EvaluateCondition(const policy::Program& program,
                                   const model::Request& request,
                                   model::EvalScratch* scratch);

}  // namespace verdict::engine

#endif  // VERDICT_SERVER_ENGINE_INTERPRETER_H_
