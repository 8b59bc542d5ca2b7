// Serving gRPC methods on the asynchronous API: the completion queues with
// their threads, and the state of one unary call.
//
// Why not the callback API: gRPC 1.51 polls callback services with at least
// two threads whatever the CPU count, and on one core those threads spent a
// third of the server's time switching between each other (bench/README.md).
// Here each queue has exactly one thread, and the thread that reads a call
// answers it: no hand-off. A queue's events are AsyncEvents; all events of
// one call arrive on the queue it was requested on, so they are handled in
// order by one thread.
//
// Lifecycle (driven by Server): AddTo() before the grpc::Server is built;
// services post their first requests on queues(); StartThreads(); after the
// grpc::Server has shut down, Stop().

#ifndef VERDICT_SERVER_SERVICE_ASYNC_CALL_H_
#define VERDICT_SERVER_SERVICE_ASYNC_CALL_H_

#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/async_unary_call.h"
#include "grpcpp/support/byte_buffer.h"

namespace verdict::service {

// A tag on a completion queue. `ok` is false when the operation failed: the
// server is shutting down (a posted request) or the client left (a write).
class AsyncEvent {
 public:
  virtual ~AsyncEvent() = default;
  virtual void Proceed(bool ok) = 0;
};

class CompletionQueues {
 public:
  CompletionQueues() = default;
  CompletionQueues(const CompletionQueues&) = delete;
  CompletionQueues& operator=(const CompletionQueues&) = delete;
  ~CompletionQueues() { Stop(); }

  // Adds `count` queues to `builder`.
  void AddTo(grpc::ServerBuilder* builder, int count);
  const std::vector<std::unique_ptr<grpc::ServerCompletionQueue>>& queues()
      const {
    return queues_;
  }
  // One thread per queue, each handling its queue's events.
  void StartThreads();
  // Shuts the queues down, handles what is left on them, joins the threads.
  // Idempotent.
  void Stop();

 private:
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
};

// How a method's messages cross the wire.
enum class Wire {
  // gRPC parses the request. A request that does not parse is answered
  // INTERNAL by gRPC itself, before any handler sees it.
  kTyped,
  // The method is registered raw (the generated WithRawMethod_*): the call
  // parses its request itself, so bytes that are not a valid request are
  // answered INVALID_ARGUMENT, the client's error, and serializes its
  // response. The work is the same as gRPC's own.
  kRaw,
};

// One unary call of a method: requested on a queue, answered by the method's
// handler, deleted once the answer is sent. Request and response live on an
// arena whose first block is part of the call, so a typical call costs one
// allocation in all.
template <typename Service, typename Request, typename Response,
          Wire kWire = Wire::kTyped>
class AsyncUnaryCall final : public AsyncEvent {
  static constexpr bool kRaw = kWire == Wire::kRaw;
  using WireRequest = std::conditional_t<kRaw, grpc::ByteBuffer, Request>;
  using WireResponse = std::conditional_t<kRaw, grpc::ByteBuffer, Response>;

 public:
  using RequestMethod = void (Service::*)(
      grpc::ServerContext*, WireRequest*,
      grpc::ServerAsyncResponseWriter<WireResponse>*, grpc::CompletionQueue*,
      grpc::ServerCompletionQueue*, void*);
  // Answers a call: fills response() and calls Finish() exactly once, before
  // returning or later from any thread.
  using Handler = std::function<void(AsyncUnaryCall*)>;
  struct Method {
    Service* service;
    RequestMethod request;
    Handler handler;
  };

  // Posts `count` requests for calls of `method` on `queue`; each call that
  // arrives posts one more. `method` must outlive the queue.
  static void Post(const Method* method, grpc::ServerCompletionQueue* queue,
                   int count = 1) {
    for (int i = 0; i < count; ++i) {
      auto* call = new AsyncUnaryCall(method, queue);
      WireRequest* wire_request;
      if constexpr (kRaw) {
        wire_request = &call->request_bytes_;
      } else {
        wire_request = call->request_;
      }
      (method->service->*method->request)(&call->context_, wire_request,
                                          &call->writer_, queue, queue, call);
    }
  }

  const grpc::ServerContext& context() const { return context_; }
  // When the call's request arrived, before it was parsed: where a
  // decision's latency starts.
  absl::Time received() const { return received_; }
  const Request& request() const { return *request_; }
  Response* response() { return response_; }
  void Finish(const grpc::Status& status) {
    finishing_ = true;
    if constexpr (kRaw) {
      grpc::ByteBuffer bytes;
      bool own_buffer = false;
      if (status.ok() && !grpc::SerializationTraits<Response>::Serialize(
                              *response_, &bytes, &own_buffer)
                              .ok()) {
        writer_.FinishWithError(
            grpc::Status(grpc::StatusCode::INTERNAL,
                         "the response could not be serialized"),
            this);
        return;
      }
      writer_.Finish(bytes, status, this);
    } else {
      writer_.Finish(*response_, status, this);
    }
  }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {
      delete this;
      return;
    }
    received_ = absl::Now();
    Post(method_, queue_);
    if constexpr (kRaw) {
      if (!grpc::SerializationTraits<Request>::Deserialize(&request_bytes_,
                                                           request_)
               .ok()) {
        finishing_ = true;
        writer_.FinishWithError(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         absl::StrCat("the request is not a valid ",
                                      Request::descriptor()->full_name())),
            this);
        return;
      }
    }
    method_->handler(this);
  }

 private:
  // Only raw calls hold the request's bytes until they are parsed.
  struct NoBytes {};

  AsyncUnaryCall(const Method* method, grpc::ServerCompletionQueue* queue)
      : method_(method),
        queue_(queue),
        arena_(ArenaOptions()),
        request_(google::protobuf::Arena::CreateMessage<Request>(&arena_)),
        response_(google::protobuf::Arena::CreateMessage<Response>(&arena_)),
        writer_(&context_) {}

  google::protobuf::ArenaOptions ArenaOptions() {
    google::protobuf::ArenaOptions options;
    options.initial_block = first_block_;
    options.initial_block_size = sizeof(first_block_);
    return options;
  }

  const Method* const method_;
  grpc::ServerCompletionQueue* const queue_;
  // Enough for a typical request and response; larger ones grow the arena.
  alignas(16) char first_block_[8192];
  google::protobuf::Arena arena_;  // after first_block_, which it uses
  Request* const request_;
  Response* const response_;
  [[no_unique_address]] std::conditional_t<kRaw, grpc::ByteBuffer, NoBytes>
      request_bytes_;
  grpc::ServerContext context_;
  grpc::ServerAsyncResponseWriter<WireResponse> writer_;
  absl::Time received_;
  bool finishing_ = false;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_ASYNC_CALL_H_
