// Which peers may call verdictd while it serves without TLS.
//
// Without TLS a caller cannot prove who it is, so only processes on this
// machine are trusted: loopback TCP peers and unix sockets. Pure function of
// the peer string gRPC reports; safe from any thread.

#ifndef VERDICT_SERVER_SERVICE_CALLER_TRUST_H_
#define VERDICT_SERVER_SERVICE_CALLER_TRUST_H_

#include <string_view>

namespace verdict::service {

// True for gRPC peer strings such as "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000", "ipv6:%5B::1%5D:5000" and "unix:/run/verdict.sock".
bool IsLoopbackPeer(std::string_view peer);

}  // namespace verdict::service

#endif  // VERDICT_SERVER_SERVICE_CALLER_TRUST_H_
