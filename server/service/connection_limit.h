// InstallConnectionLimit: a cap on the connections a gRPC server has accepted
// and not yet closed, which gRPC 1.51 does not have.
//
// It is a socket mutator (the channel argument gRPC applies to every socket
// it accepts): each accepted connection is recorded by descriptor and socket
// inode, and one that would go past the cap is shut down at once (the peer
// reads end of file), so gRPC drops it before reading a byte. A recorded
// connection counts until its descriptor no longer names that socket, which
// is checked (fstat) only when the cap is reached, at most every 10 ms.
// Never fails an accept (a failing mutator would stop gRPC's listener), never
// closes a descriptor it does not own. Connections handed to gRPC by
// descriptor (the Unix socket listener) are not counted. Thread-safe: gRPC
// calls the mutator from any of its threads.

#ifndef VERDICT_SERVER_SERVICE_CONNECTION_LIMIT_H_
#define VERDICT_SERVER_SERVICE_CONNECTION_LIMIT_H_

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"

namespace verdict::service {

// Caps the connections of the server that `builder` builds at `max`, or at
// what the process's open-file limit leaves room for: gRPC 1.51 stops
// accepting for good once accept() fails with EMFILE, so the cap must keep
// it from ever happening. The soft limit is first raised as far as the hard
// limit allows; a lower cap is logged. Returns the cap in force, or
// FailedPrecondition when the file limit leaves no room for connections.
absl::StatusOr<int> InstallConnectionLimit(int max,
                                           grpc::ServerBuilder* builder);

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_CONNECTION_LIMIT_H_
