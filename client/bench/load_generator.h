// `verdict bench`'s engine: a gRPC load generator for Verdict's
// Authorizer.Check, Envoy's ext_authz Authorization/Check as a gateway sends
// it and, for comparisons, Cerbos's CheckResources; and an HTTP/1.1 one for
// the AuthZEN evaluation API (http_load.h).
//
// Calls go through grpc::GenericStub on completion queues with requests
// serialized once up front, so the generator's own cost per call is a slice
// reference and a response parse. Closed loop: every connection keeps
// `inflight` calls outstanding. Open loop (rate > 0): a pacing thread (or,
// with `spin`, the polling thread) sends calls at fixed intervals and each
// latency is measured from the call's intended send time, so a server that
// falls behind shows its queueing in the percentiles instead of slowing the
// generator down (coordinated omission).
//
// Connections are opened before the clock starts. Only calls whose
// (intended) start is inside the measured window, after the warm-up, are
// counted. Every call has a deadline; RunLoad() returns once every call has
// finished. Never exits the process and throws nothing. Each call of RunLoad
// or CollectDecisions uses its own channels and threads, so they may run
// concurrently.

#ifndef VERDICT_CLIENT_BENCH_LOAD_GENERATOR_H_
#define VERDICT_CLIENT_BENCH_LOAD_GENERATOR_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/bench/histogram.h"

namespace verdict::bench {

enum class Api {
  kVerdict,   // verdict.v1.Authorizer/Check
  kCerbos,    // cerbos.svc.v1.CerbosService/CheckResources, one action
  kExtAuthz,  // envoy.service.auth.v3.Authorization/Check; allow: status 0
  kAuthzen,   // POST /access/v1/evaluation over HTTP/1.1 (http_load.h)
};

// The requests to send, used round-robin: serialized messages for the gRPC
// APIs, JSON bodies for AuthZEN.
struct RequestMix {
  Api api = Api::kVerdict;
  std::vector<std::string> payloads;
};

// Reads a JSON Lines file: each non-empty line is one request, in protobuf's
// JSON mapping for the gRPC APIs (a verdict.v1.CheckRequest, an Envoy
// CheckRequest, or a Cerbos CheckResourcesRequest naming one resource and one
// action), or an AuthZEN evaluation body (one JSON object). Errors name the
// line.
absl::StatusOr<RequestMix> LoadRequestMix(const std::string& path, Api api);

// A fixed mix of Verdict requests over the example MCP deployment: several
// servers, tools, roles and contexts, so both allows and denies occur against
// the shipped policies. For kExtAuthz and kAuthzen the same requests as that
// API carries them (gateway_requests.h); kCerbos has none.
RequestMix BuiltinRequestMix(Api api = Api::kVerdict);

struct LoadOptions {
  std::string server;  // host:port, plaintext
  int connections = 1;
  int inflight = 16;  // per connection; in open loop, the cap per connection
  double rate = 0;    // calls per second in all; 0: closed loop
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration call_deadline = absl::Seconds(5);
  int threads = 1;  // completion-queue threads; connections are shared out
                    // (AuthZEN: one thread per connection)
  // Each thread polls its queue without sleeping and, in open loop, sends
  // the calls itself (no pacing thread): no wake-up latency on the
  // generator's side, at the price of a fully busy CPU per thread. For a
  // generator pinned to CPUs of its own.
  bool spin = false;
};

struct LoadResult {
  double seconds = 0;  // the measured window
  uint64_t allows = 0;
  uint64_t denies = 0;
  uint64_t errors = 0;    // failed RPCs and unparsable responses
  uint64_t not_sent = 0;  // open loop: scheduled calls the inflight cap held
  std::string first_error;
  LatencyHistogram latency;  // successful calls, nanoseconds

  uint64_t decisions() const { return allows + denies; }
  double decisions_per_second() const {
    return seconds > 0 ? decisions() / seconds : 0;
  }
  // Adds the counts and latencies of one connection's part of the same
  // window (seconds stays this result's).
  void Add(const LoadResult& part);
};

// Runs the load. Fails only on bad options or an empty mix; RPC failures are
// counted in the result. An AuthZEN mix is run by RunHttpLoad.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options,
                                   const RequestMix& mix);

// Sends every request of the mix once, in order, and returns one line per
// request: "allow", "deny" or "error: <message>".
absl::StatusOr<std::vector<std::string>> CollectDecisions(
    const std::string& server, const RequestMix& mix,
    absl::Duration call_deadline = absl::Seconds(5));

// The result as human-readable text and as one JSON object (latencies in
// microseconds).
void WriteText(const LoadOptions& options, const LoadResult& result,
               std::ostream& out);
void WriteJson(const LoadOptions& options, const LoadResult& result,
               std::ostream& out);

// Parses a CPU list such as "1", "0,2" or "0-3" and pins the calling thread
// (and every thread it starts afterwards) to those CPUs.
absl::Status PinToCpus(const std::string& cpu_list);

}  // namespace verdict::bench

#endif  // VERDICT_CLIENT_BENCH_LOAD_GENERATOR_H_
