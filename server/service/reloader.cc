#include "server/service/reloader.h"

#include <utility>

namespace verdict::service {

Reloader::Reloader(decision::PolicyStore* store)
    : store_(store), thread_([this] { Run(); }) {}

Reloader::~Reloader() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void Reloader::Request(Callback done) {
  absl::MutexLock lock(&mu_);
  requested_ = true;
  if (done) pending_.push_back(std::move(done));
}

void Reloader::Run() {
  while (true) {
    std::vector<Callback> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Reloader* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return self->requested_ || self->stopping_;
          },
          this));
      if (!requested_ && stopping_) return;
      requested_ = false;
      batch.swap(pending_);
    }
    const decision::ReloadOutcome outcome = store_->Reload();
    for (Callback& done : batch) done(outcome);
  }
}

}  // namespace verdict::service
