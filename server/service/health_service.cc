#include "server/service/health_service.h"

#include <utility>

namespace verdict::service {

using grpc::health::v1::HealthCheckResponse;

// One Watch stream. Every state change happens under the service's mutex:
// events arrive on the call's queue thread, status changes on any thread.
// Two references keep it alive: the stream's operations, and the
// notification that the call is done (which comes only for a call that
// started).
class HealthService::WatchCall final : public AsyncEvent {
 public:
  static void Post(HealthService* health, grpc::ServerCompletionQueue* queue) {
    auto* call = new WatchCall(health, queue);
    call->context_.AsyncNotifyWhenDone(&call->done_);
    health->service_.RequestWatch(&call->context_, &call->request_,
                                  &call->writer_, queue, queue, call);
  }

  // Sends the watched status if it changed, or ends the stream once the
  // service has shut down; one write at a time.
  void Update() ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_->mu_) {
    if (stage_ != Stage::kIdle) return;
    const Status status = health_->StatusOf(request_.service());
    if (!sent_any_ || status != response_.status()) {
      sent_any_ = true;
      response_.set_status(status);
      stage_ = Stage::kWriting;
      writer_.Write(response_, this);
    } else if (health_->shut_down_) {
      stage_ = Stage::kFinishing;
      writer_.Finish(grpc::Status::OK, this);
    }
  }

  void Proceed(bool ok) override {
    absl::MutexLock lock(&health_->mu_);
    switch (stage_) {
      case Stage::kRequested:
        if (!ok) {  // the server is shutting down; the call never started
          delete this;
          return;
        }
        Post(health_, queue_);
        references_ = 2;
        health_->watches_.insert(this);
        stage_ = Stage::kIdle;
        Update();
        return;
      case Stage::kWriting:
        if (!ok) {  // the client left; the done notification follows
          EndStream();
          return;
        }
        stage_ = Stage::kIdle;
        Update();
        return;
      case Stage::kFinishing:
        EndStream();
        return;
      case Stage::kIdle:
      case Stage::kOver:
        return;  // no operation is outstanding in these stages
    }
  }

 private:
  enum class Stage { kRequested, kIdle, kWriting, kFinishing, kOver };

  class DoneEvent final : public AsyncEvent {
   public:
    explicit DoneEvent(WatchCall* call) : call_(call) {}
    void Proceed(bool) override { call_->OnDone(); }

   private:
    WatchCall* const call_;
  };

  WatchCall(HealthService* health, grpc::ServerCompletionQueue* queue)
      : health_(health), queue_(queue), writer_(&context_), done_(this) {}

  void OnDone() {
    absl::MutexLock lock(&health_->mu_);
    health_->watches_.erase(this);
    // Idle: no operation will come back to end the stream's part either.
    if (stage_ == Stage::kIdle) {
      stage_ = Stage::kOver;
      Release(2);
    } else {
      Release(1);
    }
  }

  void EndStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_->mu_) {
    stage_ = Stage::kOver;
    Release(1);
  }

  void Release(int count) ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_->mu_) {
    references_ -= count;
    if (references_ == 0) delete this;
  }

  HealthService* const health_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::ServerContext context_;
  grpc::health::v1::HealthCheckRequest request_;
  HealthCheckResponse response_;
  grpc::ServerAsyncWriter<HealthCheckResponse> writer_;
  DoneEvent done_;
  Stage stage_ ABSL_GUARDED_BY(health_->mu_) = Stage::kRequested;
  bool sent_any_ ABSL_GUARDED_BY(health_->mu_) = false;
  int references_ ABSL_GUARDED_BY(health_->mu_) = 1;
};

HealthService::HealthService(std::vector<std::string> services)
    : check_{&service_, &Async::RequestCheck,
             [this](CheckCall* call) { Check(call); }} {
  absl::MutexLock lock(&mu_);
  statuses_.emplace("", HealthCheckResponse::NOT_SERVING);
  for (std::string& name : services) {
    statuses_.emplace(std::move(name), HealthCheckResponse::NOT_SERVING);
  }
}

HealthService::~HealthService() = default;

void HealthService::Start(const CompletionQueues& queues) {
  for (const auto& queue : queues.queues()) {
    CheckCall::Post(&check_, queue.get());
    WatchCall::Post(this, queue.get());
  }
}

void HealthService::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, status] : statuses_) {
    status = serving ? HealthCheckResponse::SERVING
                     : HealthCheckResponse::NOT_SERVING;
  }
  for (WatchCall* watch : watches_) watch->Update();
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (auto& [name, status] : statuses_) {
    status = HealthCheckResponse::NOT_SERVING;
  }
  for (WatchCall* watch : watches_) watch->Update();
}

HealthService::Status HealthService::StatusOf(
    const std::string& service) const {
  const auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN
                               : it->second;
}

void HealthService::Check(CheckCall* call) {
  Status status;
  {
    absl::MutexLock lock(&mu_);
    status = StatusOf(call->request().service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    call->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
    return;
  }
  call->response()->set_status(status);
  call->Finish(grpc::Status::OK);
}

}  // namespace verdict::service
