// `verdict bench --api authzen`: an HTTP/1.1 load generator for the AuthZEN
// evaluation API (POST /access/v1/evaluation, JSON), on plain sockets.
//
// Every connection is a keep-alive TCP connection with one request
// outstanding, driven by a thread of its own; requests (request line,
// headers and body) are framed once up front and written with one send.
// Responses must carry Content-Length (chunked ones are errors); a response
// other than 200, one whose body is not a JSON object with a boolean
// `decision`, a reset or a timeout (LoadOptions::call_deadline) counts as an
// error, and the connection is opened again. Latency runs from the
// request's start to the last byte of its response.
//
// Closed loop: each connection sends its next request as soon as the last
// one is answered (inflight is 1). Open loop (rate > 0): each connection
// sends at fixed intervals of connections / rate, and each latency is
// measured from the intended send time; a request that falls due while the
// previous one is still outstanding goes out as soon as that one is
// answered, so a server that falls behind shows its queueing in the
// percentiles (no coordinated omission). Requests still due when the window
// ends are counted as not sent.
//
// Never exits the process and throws nothing; RunHttpLoad returns once every
// connection's thread has finished.

#ifndef VERDICT_CLIENT_BENCH_HTTP_LOAD_H_
#define VERDICT_CLIENT_BENCH_HTTP_LOAD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/bench/load_generator.h"

namespace verdict::bench {

// The AuthZEN evaluation path.
inline constexpr char kAuthzenEvaluationPath[] = "/access/v1/evaluation";

// Runs `mix` (JSON bodies) against options.server (HOST:PORT, plaintext).
// InvalidArgument for bad options, an empty mix or a server address that
// does not resolve; failed requests are counted in the result.
absl::StatusOr<LoadResult> RunHttpLoad(const LoadOptions& options,
                                       const RequestMix& mix);

// Sends every body of the mix once, in order, on one connection: one line
// per request, "allow", "deny" or "error: <why>".
absl::StatusOr<std::vector<std::string>> CollectHttpDecisions(
    const std::string& server, const RequestMix& mix,
    absl::Duration call_deadline);

}  // namespace verdict::bench

#endif  // VERDICT_CLIENT_BENCH_HTTP_LOAD_H_
