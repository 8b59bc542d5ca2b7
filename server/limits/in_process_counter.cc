#include "server/limits/in_process_counter.h"

#include <algorithm>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace verdict::limits {
namespace {

absl::string_view Absl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

}  // namespace

InProcessLimitCounter::InProcessLimitCounter(size_t max_keys)
    : max_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

void InProcessLimitCounter::SweepIfDue(Shard& shard, absl::Time now) {
  if (now < shard.next_sweep) return;
  shard.next_sweep = now + absl::Seconds(1);
  absl::erase_if(shard.counts,
                 [now](const auto& entry) { return entry.second.end <= now; });
}

absl::StatusOr<TakeResult> InProcessLimitCounter::Take(
    absl::Span<const LimitTake> takes, absl::Time now) {
  absl::InlinedVector<size_t, 4> shard_of;
  absl::InlinedVector<size_t, 4> locked;
  for (const LimitTake& take : takes) {
    const size_t shard =
        absl::Hash<absl::string_view>()(Absl(take.key)) % kShards;
    shard_of.push_back(shard);
    locked.push_back(shard);
  }
  std::sort(locked.begin(), locked.end());
  locked.erase(std::unique(locked.begin(), locked.end()), locked.end());
  for (const size_t shard : locked) shards_[shard].mu.Lock();
  const auto unlock = [&] {
    for (auto it = locked.rbegin(); it != locked.rend(); ++it) {
      shards_[*it].mu.Unlock();
    }
  };
  for (const size_t shard : locked) {
    shards_[shard].mu.AssertHeld();
    SweepIfDue(shards_[shard], now);
  }

  // First every check, then every count: all or none.
  TakeResult result;
  absl::InlinedVector<Window, 4> windows;
  absl::InlinedVector<size_t, 4> new_keys(locked.size(), 0);
  for (size_t i = 0; i < takes.size(); ++i) {
    Shard& shard = shards_[shard_of[i]];
    shard.mu.AssertHeld();
    const Window window = WindowAt(takes[i].window, now);
    windows.push_back(window);
    const auto it = shard.counts.find(Absl(takes[i].key));
    if (it == shard.counts.end()) {
      const size_t slot =
          std::lower_bound(locked.begin(), locked.end(), shard_of[i]) -
          locked.begin();
      if (shard.counts.size() + ++new_keys[slot] > max_per_shard_) {
        unlock();
        return absl::ResourceExhaustedError(
            absl::StrCat("the in-process limit counter holds its maximum of ",
                         max_per_shard_ * kShards, " counts"));
      }
      continue;
    }
    const int64_t count =
        it->second.window == window.number ? it->second.calls : 0;
    if (count >= takes[i].calls) {
      result.exhausted = i;
      result.count = count;
      result.resets_at = window.end;
      unlock();
      return result;
    }
  }
  for (size_t i = 0; i < takes.size(); ++i) {
    Shard& shard = shards_[shard_of[i]];
    shard.mu.AssertHeld();
    auto it = shard.counts.find(Absl(takes[i].key));
    if (it == shard.counts.end()) {
      it = shard.counts.try_emplace(std::string(takes[i].key)).first;
    }
    Count& count = it->second;
    if (count.window != windows[i].number || count.calls == 0) {
      count =
          Count{.window = windows[i].number, .calls = 0, .end = windows[i].end};
    }
    ++count.calls;
  }
  unlock();
  result.allowed = true;
  return result;
}

size_t InProcessLimitCounter::live_keys() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.counts.size();
  }
  return n;
}

}  // namespace verdict::limits
