// A minimal HTTP/1.0 GET for tests that scrape verdictd's /metrics or query
// a Prometheus server on loopback. Not a general client: no TLS, no
// redirects, no chunked encoding (HTTP/1.0 responses end at close).

#ifndef VERDICT_TESTS_TESTING_HTTP_GET_H_
#define VERDICT_TESTS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace verdict::testing {

// GETs http://`host_port``path_and_query`; returns the body of a 200
// response, or an error naming the status line.
absl::StatusOr<std::string> HttpGet(const std::string& host_port,
                                    const std::string& path_and_query,
                                    absl::Duration timeout = absl::Seconds(10));

// A TCP port on 127.0.0.1 that was free a moment ago, for servers that
// cannot report the port they bound (Prometheus).
int PickFreePort();

}  // namespace verdict::testing

#endif  // VERDICT_TESTS_TESTING_HTTP_GET_H_
