// Decision ids: unique, cheap identifiers for decisions.
//
// An id is 32 lowercase hex characters: a random 64-bit prefix drawn once per
// process, then a per-process counter. Ids never repeat within a process and
// collide across processes only if two draw the same prefix.
//
// Takes no lock (one relaxed atomic increment); safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_DECISION_ID_H_
#define VERDICT_SERVER_SERVICE_DECISION_ID_H_

#include <string>

namespace verdict::service {

inline constexpr int kDecisionIdLength = 32;

// Overwrites `*out` with a fresh id (reusing its capacity).
void NextDecisionId(std::string* out);

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_DECISION_ID_H_
