// The two answers a decision can give. DENY is the zero value, as on the
// wire, so an unset decision never reads as allow.

#ifndef VERDICT_SERVER_MODEL_DECISION_H_
#define VERDICT_SERVER_MODEL_DECISION_H_

#include <cstdint>

namespace verdict::model {

enum class Decision : uint8_t { kDeny = 0, kAllow = 1 };

}  // namespace verdict::model

#endif  // VERDICT_SERVER_MODEL_DECISION_H_
