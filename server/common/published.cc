#include "server/common/published.h"

namespace verdict::published_internal {
namespace {

constinit std::atomic<uint64_t> next_generation{1};

}  // namespace

uint64_t NextGeneration() {
  return next_generation.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace verdict::published_internal
