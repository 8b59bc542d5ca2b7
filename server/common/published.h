// Published<T>: one immutable T that a writer replaces and many readers take
// without contending, published by pointer like RCU.
//
// Current() is, in the common case, one atomic load compared against a
// per-thread cached pointer: no lock and no write to shared memory, so
// readers never contend with each other or wait for a writer. After a
// Publish(), each thread's first Current() takes a mutex that is held only to
// copy a shared_ptr (never while a T is built, freed or written to disk).
//
// Lifetime: the reference Current() returns stays valid until the calling
// thread next calls Current() on any Published<T> with the same T. Take it
// once per use and do not keep it. A retired T lives until every thread that
// cached it has moved on or exited, and is freed by the thread that drops the
// last reference, never under the mutex.
//
// Thread-safe: Current() and Publish() from any thread. Publish() only swaps
// the pointer; writers that read, modify and publish serialise themselves.

#ifndef VERDICT_SERVER_COMMON_PUBLISHED_H_
#define VERDICT_SERVER_COMMON_PUBLISHED_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace verdict {

namespace published_internal {
// Unique across every Published<T> of every T in the process and never 0, so
// a thread's cache can never take one object's snapshot for another's.
uint64_t NextGeneration();
}  // namespace published_internal

template <typename T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> initial) {
    Publish(std::move(initial));
  }
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  const std::shared_ptr<const T>& Current() const ABSL_LOCKS_EXCLUDED(mu_) {
    ThreadCache& cache = LocalCache();
    if (cache.generation != generation_.load(std::memory_order_acquire)) {
      absl::MutexLock lock(&mu_);
      cache.value = current_;
      cache.generation = generation_.load(std::memory_order_relaxed);
    }
    return cache.value;
  }

  // A copy of what was last published, taken under the mutex, for occasional
  // readers (status pages, the writer itself): unlike Current() it leaves
  // the calling thread's cache alone.
  std::shared_ptr<const T> Latest() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return current_;
  }

  void Publish(std::shared_ptr<const T> value) ABSL_LOCKS_EXCLUDED(mu_) {
    // Declared before the lock, so destroyed after it is released.
    std::shared_ptr<const T> retired;
    absl::MutexLock lock(&mu_);
    retired = std::exchange(current_, std::move(value));
    generation_.store(published_internal::NextGeneration(),
                      std::memory_order_release);
  }

 private:
  struct ThreadCache {
    uint64_t generation = 0;
    std::shared_ptr<const T> value;
  };

  static ThreadCache& LocalCache() {
    thread_local ThreadCache cache;
    return cache;
  }

  mutable absl::Mutex mu_;
  std::shared_ptr<const T> current_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
};

}  // namespace verdict

#endif  // VERDICT_SERVER_COMMON_PUBLISHED_H_
