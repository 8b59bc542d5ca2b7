#include "server/service/policy_watch_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/decision/proto_time.h"

namespace verdict::service {

// One WatchPolicy stream, as HealthService's Watch: every state change
// happens under the service's mutex, since events arrive on the call's queue
// thread and revisions on the reloading thread. Two references keep it
// alive: the stream's operations, and the notification that the call is done
// (which comes only for a call that started).
class PolicyWatchService::WatchCall final : public AsyncEvent {
 public:
  static void Post(PolicyWatchService* watch,
                   grpc::ServerCompletionQueue* queue) {
    auto* call = new WatchCall(watch, queue);
    call->context_.AsyncNotifyWhenDone(&call->done_event_);
    watch->service_->RequestWatchPolicy(&call->context_, &call->request_bytes_,
                                        &call->writer_, queue, queue, call);
  }

  // Sends the latest revision if this stream was not sent it, or ends the
  // stream once the service has shut down; one operation at a time.
  void Update() ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_->mu_) {
    if (stage_ != Stage::kIdle) return;
    const decision::PublishedRevision& latest = watch_->latest_;
    if (!latest.revision.empty() && latest.revision != sent_revision_) {
      sent_revision_ = latest.revision;
      Write(latest);
    } else if (watch_->shut_down_) {
      Finish(grpc::Status::OK);
    }
  }

  void Proceed(bool ok) override {
    absl::MutexLock lock(&watch_->mu_);
    switch (stage_) {
      case Stage::kRequested:
        if (!ok) {  // the server is shutting down; the call never started
          delete this;
          return;
        }
        Post(watch_, queue_);
        references_ = 2;
        Admit();
        return;
      case Stage::kWriting:
        // Not ok: the client left, and the done notification follows if it
        // has not come. Once the call is done, nothing more is written.
        if (!ok || call_done_) {
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

  WatchCall(PolicyWatchService* watch, grpc::ServerCompletionQueue* queue)
      : watch_(watch), queue_(queue), writer_(&context_), done_event_(this) {}

  // A started call becomes a watch, or is refused at once.
  void Admit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_->mu_) {
    v1::WatchPolicyRequest request;
    if (!grpc::SerializationTraits<v1::WatchPolicyRequest>::Deserialize(
             &request_bytes_, &request)
             .ok()) {
      Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("the request is not a valid ",
                       v1::WatchPolicyRequest::descriptor()->full_name())));
      return;
    }
    if (!watch_->callers_->Resolve(context_).may.check) {
      Finish(grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          watch_->callers_->RefusalMessage("Authorizer", "check")));
      return;
    }
    if (watch_->watches_.size() >= static_cast<size_t>(watch_->max_watches_)) {
      Finish(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("verdictd serves at most ", watch_->max_watches_,
                       " policy watches at once")));
      return;
    }
    watch_->watches_.insert(this);
    watch_->CountWatches();
    stage_ = Stage::kIdle;
    Update();
  }

  void Write(const decision::PublishedRevision& revision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_->mu_) {
    v1::PolicyRevision message;
    message.set_policy_revision(revision.revision);
    decision::SetTimestamp(revision.published_at,
                           message.mutable_published_at());
    write_bytes_.Clear();  // the last message's, which was sent
    bool own_buffer = false;
    if (!grpc::SerializationTraits<v1::PolicyRevision>::Serialize(
             message, &write_bytes_, &own_buffer)
             .ok()) {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                          "the policy revision could not be serialized"));
      return;
    }
    stage_ = Stage::kWriting;
    writer_.Write(write_bytes_, this);
  }

  void Finish(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_->mu_) {
    stage_ = Stage::kFinishing;
    writer_.Finish(status, this);
  }

  void OnDone() {
    absl::MutexLock lock(&watch_->mu_);
    call_done_ = true;
    if (watch_->watches_.erase(this) > 0) watch_->CountWatches();
    // Idle: no operation will come back to end the stream's part either.
    if (stage_ == Stage::kIdle) {
      stage_ = Stage::kOver;
      Release(2);
    } else {
      Release(1);
    }
  }

  void EndStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_->mu_) {
    stage_ = Stage::kOver;
    Release(1);
  }

  void Release(int count) ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_->mu_) {
    references_ -= count;
    if (references_ == 0) delete this;
  }

  PolicyWatchService* const watch_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::ServerContext context_;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer write_bytes_;  // the message being written
  grpc::ServerAsyncWriter<grpc::ByteBuffer> writer_;
  DoneEvent done_event_;
  Stage stage_ ABSL_GUARDED_BY(watch_->mu_) = Stage::kRequested;
  // The call is done: a write that still succeeds must not be followed by
  // another, which nothing would complete.
  bool call_done_ ABSL_GUARDED_BY(watch_->mu_) = false;
  std::string sent_revision_ ABSL_GUARDED_BY(watch_->mu_);
  int references_ ABSL_GUARDED_BY(watch_->mu_) = 1;
};

PolicyWatchService::PolicyWatchService(Async* service,
                                       const CallerTrust* callers,
                                       int max_watches,
                                       metrics::Metrics* metrics)
    : service_(service),
      callers_(callers),
      max_watches_(max_watches),
      metrics_(metrics) {}

void PolicyWatchService::Start(const CompletionQueues& queues) {
  for (const auto& queue : queues.queues()) {
    WatchCall::Post(this, queue.get());
  }
}

void PolicyWatchService::Publish(const decision::PublishedRevision& revision) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  latest_ = revision;
  for (WatchCall* watch : watches_) watch->Update();
}

void PolicyWatchService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (WatchCall* watch : watches_) watch->Update();
}

void PolicyWatchService::CountWatches() {
  if (metrics_ != nullptr) {
    metrics_->SetPolicyWatchers(static_cast<int64_t>(watches_.size()));
  }
}

}  // namespace verdict::service
