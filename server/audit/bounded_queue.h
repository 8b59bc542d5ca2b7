// BoundedQueue: a fixed-capacity multi-producer, single-consumer queue that
// never blocks and never takes a lock (Dmitry Vyukov's bounded queue: each
// cell carries a sequence number that says whose turn it is).
//
// TryPush() fails at once when the queue is full; TryPop() fails at once when
// it is empty. Any number of threads may push; one thread at a time pops.

#ifndef VERDICT_SERVER_AUDIT_BOUNDED_QUEUE_H_
#define VERDICT_SERVER_AUDIT_BOUNDED_QUEUE_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace verdict::audit {

template <typename T>
class BoundedQueue {
 public:
  // Capacity is rounded up to a power of two.
  explicit BoundedQueue(size_t capacity)
      : mask_(std::bit_ceil(std::max<size_t>(capacity, 2)) - 1),
        cells_(new Cell[mask_ + 1]) {
    for (size_t i = 0; i <= mask_; ++i) {
      cells_[i].sequence.store(i, std::memory_order_relaxed);
    }
  }

  bool TryPush(T value) {
    size_t position = push_position_.load(std::memory_order_relaxed);
    Cell* cell;
    for (;;) {
      cell = &cells_[position & mask_];
      const size_t sequence = cell->sequence.load(std::memory_order_acquire);
      const intptr_t turn =
          static_cast<intptr_t>(sequence) - static_cast<intptr_t>(position);
      if (turn == 0) {
        if (push_position_.compare_exchange_weak(position, position + 1,
                                                 std::memory_order_relaxed)) {
          break;
        }
      } else if (turn < 0) {
        return false;  // full: the consumer has not freed this cell yet
      } else {
        position = push_position_.load(std::memory_order_relaxed);
      }
    }
    cell->value = std::move(value);
    cell->sequence.store(position + 1, std::memory_order_release);
    return true;
  }

  bool TryPop(T* out) {
    Cell* cell = &cells_[pop_position_ & mask_];
    if (cell->sequence.load(std::memory_order_acquire) != pop_position_ + 1) {
      return false;  // empty, or the producer of this cell is mid-write
    }
    *out = std::move(cell->value);
    cell->sequence.store(pop_position_ + mask_ + 1, std::memory_order_release);
    ++pop_position_;
    return true;
  }

 private:
  struct Cell {
    std::atomic<size_t> sequence;
    T value;
  };

  const size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<size_t> push_position_{0};
  alignas(64) size_t pop_position_ = 0;  // consumer only
};

}  // namespace verdict::audit

#endif  // VERDICT_SERVER_AUDIT_BOUNDED_QUEUE_H_
