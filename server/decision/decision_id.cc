#include "server/decision/decision_id.h"

#include <atomic>
#include <cstdint>
#include <random>

namespace verdict::decision {
namespace {

uint64_t ProcessPrefix() {
  static const uint64_t prefix = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }();
  return prefix;
}

constinit std::atomic<uint64_t> next_sequence{0};

void AppendHex(uint64_t value, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kDigits[value & 0xf];
    value >>= 4;
  }
}

}  // namespace

DecisionId DecisionId::Next() {
  const uint64_t sequence =
      next_sequence.fetch_add(1, std::memory_order_relaxed);
  DecisionId id;
  AppendHex(ProcessPrefix(), id.hex_.data());
  AppendHex(sequence, id.hex_.data() + 16);
  return id;
}

}  // namespace verdict::decision
