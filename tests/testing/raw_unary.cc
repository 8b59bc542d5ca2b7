#include "tests/testing/raw_unary.h"

#include <chrono>
#include <memory>
#include <vector>

#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/channel_arguments.h"

namespace verdict::testing {

grpc::Status RawUnary(const std::string& address, const std::string& method,
                      const std::string& bytes, std::string* response_bytes) {
  // No client-side limit: the test decides what the server must refuse.
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  grpc::GenericStub stub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, method, request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!queue.Next(&tag, &ok)) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, "queue shut down");
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (status.ok() && response_bytes != nullptr) {
    std::vector<grpc::Slice> slices;
    if (!response.Dump(&slices).ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "unreadable response");
    }
    response_bytes->clear();
    for (const grpc::Slice& piece : slices) {
      response_bytes->append(reinterpret_cast<const char*>(piece.begin()),
                             piece.size());
    }
  }
  return status;
}

}  // namespace verdict::testing
