#include "server/service/async_call.h"

namespace verdict::service {
namespace {

void HandleEvents(grpc::ServerCompletionQueue* queue) {
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) static_cast<AsyncEvent*>(tag)->Proceed(ok);
}

}  // namespace

void CompletionQueues::AddTo(grpc::ServerBuilder* builder, int count) {
  for (int i = 0; i < count; ++i) {
    queues_.push_back(builder->AddCompletionQueue());
  }
}

void CompletionQueues::StartThreads() {
  for (auto& queue : queues_) threads_.emplace_back(HandleEvents, queue.get());
}

void CompletionQueues::Stop() {
  for (auto& queue : queues_) queue->Shutdown();
  if (threads_.empty()) {
    // Never started: what was posted is still to be handled (and freed).
    for (auto& queue : queues_) HandleEvents(queue.get());
  }
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  queues_.clear();
}

}  // namespace verdict::service
