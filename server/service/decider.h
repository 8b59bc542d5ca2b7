// Decider: answers CheckRequest and CheckBatchRequest messages with the
// engine, translating between the public API and engine::Request.
//
// Its contract is the API's, whatever the caller: every path that is not an
// engine allow denies, with a reason. Requests from untrusted callers deny
// with caller_not_trusted; requests carrying any credential deny with
// unauthenticated (verification is not implemented yet, and a credential is
// never ignored); malformed requests deny with invalid_request, the message
// naming the field. Nothing here knows about gRPC, so it is tested directly.
//
// The engine::Request borrows from the proto message; nothing is copied on
// the way in. Safe from any thread: per-thread scratch buffers, the policy
// set from PolicyStore::Current().

#ifndef VERDICT_SERVER_SERVICE_DECIDER_H_
#define VERDICT_SERVER_SERVICE_DECIDER_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/service/decision_observer.h"
#include "server/service/policy_store.h"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::service {

inline constexpr int kMaxBatchItems = 1024;

struct DeciderOptions {
  int max_context_depth = 16;  // nesting limit for every Struct
  absl::Duration cache_ttl = absl::ZeroDuration();  // for time-free allows
  DecisionObserver* observer = nullptr;             // not owned; null: none
};

// Whether the caller may ask; until TLS exists, loopback callers only.
struct CallerInfo {
  bool trusted = false;
};

class Decider {
 public:
  Decider(const PolicyStore* store, const DeciderOptions& options)
      : store_(store), options_(options) {}

  void Check(const v1::CheckRequest& request, const CallerInfo& caller,
             v1::CheckResponse* response) const;

  // InvalidArgument (and no response) when the batch has more than
  // kMaxBatchItems items; otherwise one result per item, in order.
  absl::Status CheckBatch(const v1::CheckBatchRequest& request,
                          const CallerInfo& caller,
                          v1::CheckBatchResponse* response) const;

 private:
  const PolicyStore* const store_;
  const DeciderOptions options_;
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_DECIDER_H_
