// Authorizer.WatchPolicy: the serving policy revision, then each new one as
// it starts serving, on one server stream per watcher, so that an MCP server
// knows when to send notifications/tools/list_changed.
//
// Part of the Authorizer (authorizer_service.h), whose grpc::Service the
// calls are requested on. Server hands Publish() to the PolicyStore as its
// publish listener, so every reload reaches the watchers whoever asked for
// it. A stream is sent a revision when it differs from the one it was last
// sent, and nothing before a policy set serves.
//
// Any caller that may Check may watch; others are refused PERMISSION_DENIED
// (Check denies them with caller_not_trusted, but a stream has no answer to
// carry a deny). Since that is every caller of the decision API, what a
// stream holds is bounded:
// - at most `max_watches` streams are open at once in the whole server;
//   past it a new one is answered RESOURCE_EXHAUSTED at once;
// - one write at a time, and nothing queued behind it: once a write
//   completes the stream is sent the latest revision only, so a client that
//   does not read costs one message however many reloads it misses, and
//   its connection is closed by the transport limits (server.h) all the
//   same.
// Shutdown() ends every stream with OK (after its write in flight, if any),
// so that the server's shutdown does not wait for its grace on watchers.
//
// Publish and Shutdown are safe from any thread; call events run on the
// queue threads.

#ifndef VERDICT_SERVER_SERVICE_POLICY_WATCH_SERVICE_H_
#define VERDICT_SERVER_SERVICE_POLICY_WATCH_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "server/decision/policy_store.h"
#include "server/metrics/metrics.h"
#include "server/service/async_call.h"
#include "server/service/caller_trust.h"
#include "verdict/v1/authorizer.grpc.pb.h"

namespace verdict::service {

// Open WatchPolicy streams allowed by default: far more than the MCP
// servers in front of one verdictd, and each costs a call's few KiB.
inline constexpr int kMaxPolicyWatches = 1024;

class PolicyWatchService {
 public:
  // Raw, as the Authorizer's other methods: bytes that are not a
  // WatchPolicyRequest answer INVALID_ARGUMENT.
  using Async =
      v1::Authorizer::WithRawMethod_WatchPolicy<v1::Authorizer::Service>;

  // `service`, `callers` and `metrics` (may be null) must outlive this.
  PolicyWatchService(Async* service, const CallerTrust* callers,
                     int max_watches, metrics::Metrics* metrics);
  PolicyWatchService(const PolicyWatchService&) = delete;
  PolicyWatchService& operator=(const PolicyWatchService&) = delete;

  // Posts a request for the first call on every queue.
  void Start(const CompletionQueues& queues);

  // `revision` serves from now on; every open stream is sent it.
  void Publish(const decision::PublishedRevision& revision)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ends every open stream with OK, and every later one once it was sent the
  // serving revision; Publish() does nothing from now on.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class WatchCall;

  void CountWatches() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Async* const service_;
  const CallerTrust* const callers_;
  const int max_watches_;
  metrics::Metrics* const metrics_;
  absl::Mutex mu_;
  decision::PublishedRevision latest_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Admitted streams, until their call is done.
  absl::flat_hash_set<WatchCall*> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_POLICY_WATCH_SERVICE_H_
