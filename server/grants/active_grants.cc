#include "server/grants/active_grants.h"

namespace verdict::grants {
namespace {

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

}  // namespace

void ActiveGrants::Issued(std::string_view grant_id, std::string_view task_id,
                          absl::Time expires_at, absl::Time now) {
  absl::MutexLock lock(&mu_);
  ForgetExpired(now);
  if (expires_at <= now) return;
  Forget(grant_id);
  std::string id(grant_id);
  grants_[id] = Entry{std::string(task_id), expires_at};
  by_task_[Piece(task_id)].insert(id);
  expiries_.emplace(expires_at, std::move(id));
}

void ActiveGrants::RevokeGrant(std::string_view grant_id) {
  absl::MutexLock lock(&mu_);
  Forget(grant_id);
}

void ActiveGrants::RevokeTask(std::string_view task_id) {
  absl::MutexLock lock(&mu_);
  const auto task = by_task_.find(Piece(task_id));
  if (task == by_task_.end()) return;
  for (const std::string& id : task->second) grants_.erase(id);
  by_task_.erase(task);
}

size_t ActiveGrants::Count(absl::Time now) {
  absl::MutexLock lock(&mu_);
  ForgetExpired(now);
  return grants_.size();
}

void ActiveGrants::ForgetExpired(absl::Time now) {
  while (!expiries_.empty() && expiries_.top().first <= now) {
    const auto grant = grants_.find(expiries_.top().second);
    if (grant != grants_.end() &&
        grant->second.expires_at == expiries_.top().first) {
      Forget(expiries_.top().second);
    }
    expiries_.pop();
  }
}

void ActiveGrants::Forget(std::string_view grant_id) {
  const auto grant = grants_.find(Piece(grant_id));
  if (grant == grants_.end()) return;
  const auto task = by_task_.find(grant->second.task);
  if (task != by_task_.end()) {
    task->second.erase(Piece(grant_id));
    if (task->second.empty()) by_task_.erase(task);
  }
  grants_.erase(grant);
}

}  // namespace verdict::grants
