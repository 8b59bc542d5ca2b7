// Decision ids: unique, cheap identifiers for decisions and batches.
//
// An id is 32 lowercase hex characters: a random 64-bit prefix drawn once per
// process, then a per-process counter. Ids never repeat within a process and
// collide across processes only if two draw the same prefix. Decisions and
// batches draw from the same counter, so a batch id is never a decision id.
//
// Takes no lock (one relaxed atomic increment), allocates nothing; safe from
// any thread.

#ifndef VERDICT_SERVER_DECISION_DECISION_ID_H_
#define VERDICT_SERVER_DECISION_DECISION_ID_H_

#include <array>
#include <string_view>

namespace verdict::decision {

inline constexpr int kDecisionIdLength = 32;

class DecisionId {
 public:
  // A fresh id.
  static DecisionId Next();

  std::string_view view() const {
    return std::string_view(hex_.data(), hex_.size());
  }

 private:
  DecisionId() = default;
  std::array<char, kDecisionIdLength> hex_;
};

}  // namespace verdict::decision

#endif  // VERDICT_SERVER_DECISION_DECISION_ID_H_
