// ArenaMessageAllocator: gives each gRPC call one protobuf Arena that holds
// its request and response.
//
// A CheckRequest carries up to four google.protobuf.Struct maps; parsed on
// the heap they cost dozens of malloc/free pairs per call, more than the
// decision itself (bench/README.md). On an arena whose first block is part of
// the holder they cost one allocation, released in one piece when the call
// ends. Register with the generated SetMessageAllocatorFor_<Method>; the
// allocator must outlive the service. Thread-safe (holds no state).

#ifndef VERDICT_SERVER_SERVICE_ARENA_ALLOCATOR_H_
#define VERDICT_SERVER_SERVICE_ARENA_ALLOCATOR_H_

#include "google/protobuf/arena.h"
#include "grpcpp/support/message_allocator.h"

namespace verdict::service {

template <typename Request, typename Response>
class ArenaMessageAllocator final
    : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder();
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options()) {
      this->set_request(
          google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(
          google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    google::protobuf::ArenaOptions Options() {
      google::protobuf::ArenaOptions options;
      options.initial_block = first_block_;
      options.initial_block_size = sizeof(first_block_);
      return options;
    }

    // Enough for a typical request and response; larger ones grow the arena.
    alignas(16) char first_block_[8192];
    google::protobuf::Arena arena_;  // after first_block_, which it uses
  };
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_ARENA_ALLOCATOR_H_
