#include "server/service/decision_id.h"

#include <atomic>
#include <cstdint>
#include <random>

namespace verdict::service {
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

void NextDecisionId(std::string* out) {
  const uint64_t sequence =
      next_sequence.fetch_add(1, std::memory_order_relaxed);
  out->resize(kDecisionIdLength);
  AppendHex(ProcessPrefix(), out->data());
  AppendHex(sequence, out->data() + 16);
}

}  // namespace verdict::service
