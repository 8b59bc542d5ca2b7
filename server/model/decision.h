// The answers a decision can give. DENY is the zero value, as on the wire,
// so an unset decision never reads as allow.
//
// kConditional answers listings only (tools/list, prompts/list,
// resources/list, resources/templates/list): whether the listed item may be
// used depends on what the listing cannot know yet, such as the call's
// arguments. The item is shown and decided again at call time. Anything that
// tests for kAllow reads it as not allowed.

#ifndef VERDICT_SERVER_MODEL_DECISION_H_
#define VERDICT_SERVER_MODEL_DECISION_H_

#include <cstdint>

namespace verdict::model {

enum class Decision : uint8_t { kDeny = 0, kAllow = 1, kConditional = 2 };

inline constexpr int kDecisionCount = 3;

}  // namespace verdict::model

#endif  // VERDICT_SERVER_MODEL_DECISION_H_
