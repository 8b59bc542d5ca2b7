// Fuzz target: the input is the text of a `when` condition, compiled with
// CompileCondition; a program that compiles is evaluated against the fixed
// requests.
//
// Checks what the compiler and interpreter promise: a failed compile reports
// at least one error with a code and a position; a condition folded to a
// constant evaluates to that constant; a condition that does not read `now`
// gives the same truth at any time (the engine's time_dependent flag, and so
// what may be cached, rests on it); with the arguments and resource unknown,
// as in a listing, an answer that is true or false is the answer for the
// request's actual arguments and resource (partial evaluation is sound: a
// listing may show or hide an item on it), and an unknown names its paths.

#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz/fixed_requests.h"
#include "fuzz/fuzz_target.h"
#include "server/engine/interpreter.h"
#include "server/policy/condition.h"

namespace verdict::fuzz {
namespace {

void FuzzOneInput(std::string_view input) {
  std::vector<policy::ConditionError> errors;
  absl::StatusOr<policy::Program> program =
      policy::CompileCondition(input, &errors);
  if (!program.ok()) {
    Require(!errors.empty(), "a failed compile has errors");
    for (const policy::ConditionError& error : errors) {
      Require(!error.code.empty(), "every error has a code");
      Require(error.line >= 1 && error.column >= 1,
              "error positions are 1-based");
    }
    return;
  }
  Require(errors.empty(), "a compiled condition has no errors");
  model::EvalScratch scratch;
  for (const model::Request& request : FixedRequests().requests) {
    const engine::Truth truth =
        engine::EvaluateCondition(*program, request, &scratch).truth;
    if (program->constant_value().has_value()) {
      const engine::Truth constant = *program->constant_value()
                                         ? engine::Truth::kTrue
                                         : engine::Truth::kFalse;
      Require(truth == constant, "a folded condition evaluates to its value");
    }
    if (!program->uses_now()) {
      model::Request later = request;
      later.now = request.now + absl::Hours(31 * 24 + 7) + absl::Minutes(13);
      Require(
          engine::EvaluateCondition(*program, later, &scratch).truth == truth,
          "a condition that does not read now ignores the clock");
    }
    model::Request listed = request;
    listed.arguments_unknown = true;
    listed.resource_unknown = true;
    listed.resource = {};
    const engine::Truth partial =
        engine::EvaluateCondition(*program, listed, &scratch).truth;
    if (partial == engine::Truth::kUnknown) {
      Require(!scratch.unknown_paths().empty(),
              "an unknown result names what it depends on");
    } else if (partial != engine::Truth::kError) {
      Require(partial == truth,
              "a known answer with unknowns holds for the actual values");
    }
    if (program->constant_value().has_value()) {
      Require(partial == (*program->constant_value() ? engine::Truth::kTrue
                                                     : engine::Truth::kFalse),
              "a folded condition ignores unknowns");
    }
  }
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
