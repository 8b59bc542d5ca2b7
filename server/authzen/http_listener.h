// HttpListener: a small HTTP/1.1 server for JSON APIs, on cpp-httplib. It
// knows nothing of what it serves: it listens (plaintext or HTTPS with
// client certificates), names the caller, enforces the transport's limits
// and routes by exact path to handlers.
//
// Why cpp-httplib: Debian packages and security-maintains it
// (0.11.4+ds-1+deb12u1), as a shared library linked against OpenSSL 3
// directly, with no symbol looked up at run time; it hands the handler the
// connection's SSL* (Request::ssl), from which the peer certificate and its
// SPIFFE URI SAN are read; it serves from a fixed pool of worker threads
// (`threads` of them, through new_task_queue); and it has read, write and
// keep-alive timeouts and a payload limit. Debian 12's civetweb 1.15 loads
// OpenSSL at run time and looks up SSL_get_peer_certificate, which OpenSSL 3
// exports only as SSL_get1_peer_certificate: the lookup comes back null and
// the first HTTPS connection crashes the process. Boost.Beast would leave
// TLS, timeouts and the thread pool to us.
//
// Per request, from its headers alone and before any body is read: a
// Content-Encoding header is 415 (httplib would otherwise inflate gzip and
// brotli bodies past every size limit), an unknown path is 404, a method the
// route does not take is 405 with Allow; for a POST, a Content-Length over
// max_body_bytes is 413, neither Content-Length nor chunked
// Transfer-Encoding (or both, or two lengths) is 400, a multipart body is
// 415. A body is then read up to max_body_bytes (413 past it, chunked too),
// and a POST whose Content-Type is not application/json is 415. A Range
// header is ignored (httplib would answer each range it names with a copy
// of the response). Every error body, httplib's own answers to what is not
// HTTP included, is {"error": {"code", "message"}}; no header names the
// server. A refusal that leaves a body unread says Connection: close (the
// rest of that connection would be answered as malformed requests).
//
// Bounds under hostile clients: `threads` connections are served at once,
// at most 256 more wait (accepted) for a worker, and past them the listener
// stops accepting, so that further connections wait in the kernel's backlog
// and the listener holds at most threads + 256 file descriptors. Every read
// and write waits at most request_timeout, the TLS handshake's included; an
// idle keep-alive connection is closed after request_timeout (rounded up to
// whole seconds), and a connection is closed after 100 requests. Not
// bounded by httplib 0.11: the total time of a request whose client sends a
// byte within every request_timeout, and the memory of its request line
// and headers (each header line is capped at 8 KiB, not their number),
// which such a client grows while it holds one worker.
//
// Without TLS only a loopback address may be listened on (Start fails
// otherwise). With TLS the listener presents cert_file/key_file, verifies
// client certificates against client_ca_file, and refuses a handshake
// without one when require_client_cert; a request's caller is then named by
// the one spiffe:// URI SAN of its certificate.
//
// Handlers run on the worker threads, concurrently: they must be
// thread-safe, and must not throw (an exception is answered 500 without its
// message). Stop() (or destruction) stops listening, waits for running
// handlers and closes every connection.

#ifndef VERDICT_SERVER_AUTHZEN_HTTP_LISTENER_H_
#define VERDICT_SERVER_AUTHZEN_HTTP_LISTENER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
class Server;
}  // namespace httplib

namespace verdict::authzen {

struct HttpTlsOptions {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool require_client_cert = true;
};

struct HttpListenerOptions {
  std::string listen = "127.0.0.1:8181";  // HOST:PORT; port 0 picks one
  int threads = 8;
  absl::Duration request_timeout = absl::Seconds(5);
  size_t max_body_bytes = 1 << 20;
  std::optional<HttpTlsOptions> tls;
};

struct HttpRequest {
  std::string_view method;
  std::string_view path;
  std::string_view body;
  // As gRPC names peers ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"), so that
  // CallerTrust reads them alike.
  std::string peer;
  std::string spiffe_id;  // of the verified client certificate; empty: none
  bool tls = false;
  std::string_view listener_address;  // HttpListener::address()
  // Lower-case names; a header sent twice keeps its first value.
  absl::flat_hash_map<std::string, std::string> headers;

  std::string_view Header(std::string_view name) const {
    const auto it = headers.find(absl::string_view(name.data(), name.size()));
    return it == headers.end() ? std::string_view() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": {"code": code, "message": message}} with `status`.
HttpResponse JsonError(int status, std::string_view code,
                       std::string_view message);

struct HttpRoute {
  std::string path;
  std::string method;  // GET or POST; POST bodies must be JSON
  std::function<HttpResponse(const HttpRequest&)> handler;
};

class HttpListener {
 public:
  // Binds and starts serving `routes`. InvalidArgument for a non-loopback
  // address without TLS or a malformed address; Unavailable when the
  // address cannot be bound or the TLS files cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(
      const HttpListenerOptions& options, std::vector<HttpRoute> routes);

  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // HOST:PORT as bound (the port picked for port 0).
  const std::string& address() const { return address_; }
  bool tls() const { return options_.tls.has_value(); }

  // Stops accepting and waits for running handlers; idempotent.
  void Stop();

 private:
  HttpListener(HttpListenerOptions options, std::vector<HttpRoute> routes);

  // A refusal decided from the request's headers alone, before httplib
  // reads its body; nullopt when the request may go on to its route.
  std::optional<HttpResponse> Refusal(const httplib::Request& request) const;
  // Reads the body (`body` is null for GET) and calls the route's handler.
  HttpResponse Serve(const HttpRoute& route, const httplib::Request& request,
                     const httplib::ContentReader* body) const;

  const HttpListenerOptions options_;
  const std::vector<HttpRoute> routes_;
  std::string address_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;  // runs server_'s accept loop
};

}  // namespace verdict::authzen

#endif  // VERDICT_SERVER_AUTHZEN_HTTP_LISTENER_H_
