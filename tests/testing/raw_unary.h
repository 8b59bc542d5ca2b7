// RawUnary: calls a unary gRPC method with request bytes of the test's
// choosing (malformed ones included), through grpc::GenericStub, so a test
// can show what verdictd answers to input no generated stub would send.

#ifndef VERDICT_TESTS_TESTING_RAW_UNARY_H_
#define VERDICT_TESTS_TESTING_RAW_UNARY_H_

#include <string>

#include "grpcpp/support/status.h"

namespace verdict::testing {

// Sends `bytes` as the request of `method` (e.g.
// "/verdict.v1.Authorizer/Check") to the plaintext server at `address` and
// waits up to 10 s. Returns the call's status; with OK and a non-null
// `response_bytes`, the response's bytes are stored there.
grpc::Status RawUnary(const std::string& address, const std::string& method,
                      const std::string& bytes,
                      std::string* response_bytes = nullptr);

}  // namespace verdict::testing

#endif  // VERDICT_TESTS_TESTING_RAW_UNARY_H_
