#include "server/authzen/http_listener.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace verdict::authzen {
namespace {

// Accepted connections that may wait for a worker; past them the accept
// loop waits, and new connections wait in the kernel's backlog.
constexpr size_t kMaxWaitingConnections = 256;
// Requests served on one keep-alive connection before it is closed, so
// that a few busy connections cannot keep the workers from the others.
constexpr size_t kMaxRequestsPerConnection = 100;

// Debian's Abseil has its own string_view, which std::string_view does not
// convert to.
absl::string_view Sv(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// Whether `host` (as in HOST:PORT, IPv6 in brackets) is a loopback address.
bool IsLoopbackHost(std::string_view host) {
  return host.starts_with("127.") || host == "[::1]" || host == "localhost";
}

// httplib's ThreadPool with a bound on the connections waiting for a
// worker. httplib's accept loop hands each accepted socket to enqueue() in
// a function that serves and closes it; enqueue() cannot refuse one without
// leaking its socket, so past the bound it waits for a worker to take one,
// and the accept loop with it.
class BoundedThreadPool : public httplib::TaskQueue {
 public:
  explicit BoundedThreadPool(size_t threads) {
    for (size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }

  void enqueue(std::function<void()> task) override {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      room_.wait(lock,
                 [this] { return waiting_.size() < kMaxWaitingConnections; });
      waiting_.push_back(std::move(task));
    }
    work_.notify_one();
  }

  // Runs what is still waiting (httplib has closed the listening socket by
  // then, so each task closes its connection at once), then joins.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutdown_ = true;
    }
    work_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_.wait(lock, [this] { return shutdown_ || !waiting_.empty(); });
        if (waiting_.empty()) return;
        task = std::move(waiting_.front());
        waiting_.pop_front();
      }
      room_.notify_one();
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_;  // a task waits, or shutdown
  std::condition_variable room_;  // a task was taken
  std::deque<std::function<void()>> waiting_;
  bool shutdown_ = false;
  std::vector<std::thread> threads_;
};

// The one spiffe:// URI SAN of `certificate`, else empty.
std::string SpiffeIdOf(X509* certificate) {
  if (certificate == nullptr) return {};
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return {};
  std::string found;
  int count = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    const std::string_view text(reinterpret_cast<const char*>(uri->data),
                                static_cast<size_t>(uri->length));
    if (!text.starts_with("spiffe://")) continue;
    found = std::string(text);
    ++count;
  }
  GENERAL_NAMES_free(names);
  return count == 1 ? found : std::string();
}

// The SPIFFE ID of the verified client certificate of `ssl`, else empty.
std::string SpiffeIdOf(const SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* certificate = SSL_get1_peer_certificate(ssl);
  std::string id = SpiffeIdOf(certificate);
  X509_free(certificate);
  return id;
}

// Sets up `context` for `tls`; false (with `error`) when a file does not
// load.
bool SetUpTls(const HttpTlsOptions& tls, SSL_CTX& context, std::string* error) {
  SSL_CTX_set_min_proto_version(&context, TLS1_2_VERSION);
  SSL_CTX_set_options(&context, SSL_OP_NO_COMPRESSION |
                                    SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(&context, tls.cert_file.c_str()) !=
          1 ||
      SSL_CTX_use_PrivateKey_file(&context, tls.key_file.c_str(),
                                  SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&context) != 1) {
    *error = absl::StrCat("cannot load ", tls.cert_file, " and ", tls.key_file);
    return false;
  }
  if (!tls.client_ca_file.empty()) {
    STACK_OF(X509_NAME)* names =
        SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr ||
        SSL_CTX_load_verify_locations(&context, tls.client_ca_file.c_str(),
                                      nullptr) != 1) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      *error = absl::StrCat("cannot load ", tls.client_ca_file);
      return false;
    }
    SSL_CTX_set_client_CA_list(&context, names);
    SSL_CTX_set_verify(
        &context,
        SSL_VERIFY_PEER |
            (tls.require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
  }
  return true;
}

// `path` as a std::regex that matches it and nothing else, for httplib's
// routing (the listener has matched the path exactly before).
std::string LiteralPattern(std::string_view path) {
  std::string pattern;
  for (const char c : path) {
    if (std::string_view("^$\\.*+?()[]{}|").find(c) != std::string_view::npos) {
      pattern += '\\';
    }
    pattern += c;
  }
  return pattern;
}

void Send(const HttpResponse& from, httplib::Response& to) {
  to.status = from.status;
  to.set_content(from.body, from.content_type);
  to.set_header("Cache-Control", "no-store");
  for (const auto& [name, value] : from.headers) to.set_header(name, value);
}

HttpResponse TooLarge(size_t limit) {
  return JsonError(413, "payload_too_large",
                   absl::StrCat("the body is larger than ", limit,
                                " bytes (limits.max_message_bytes)"));
}

// httplib's own answers (a request that is not HTTP, a URI over 8 KiB, a
// malformed Range...) carry only a status: this is their body.
HttpResponse HttplibError(int status) {
  switch (status) {
    case 413:
      return JsonError(413, "payload_too_large", "the request is too large");
    case 414:
      return JsonError(414, "invalid_request", "the request line is too long");
    case 500:
      return JsonError(500, "internal", "the request could not be served");
    default:
      return JsonError(status, "invalid_request", "malformed HTTP request");
  }
}

}  // namespace

HttpResponse JsonError(int status, std::string_view code,
                       std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body =
      nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpListener::HttpListener(HttpListenerOptions options,
                           std::vector<HttpRoute> routes)
    : options_(std::move(options)), routes_(std::move(routes)) {}

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(
    const HttpListenerOptions& options, std::vector<HttpRoute> routes) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(options.listen).substr(colon + 1),
                        &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http.listen needs HOST:PORT: ", options.listen));
  }
  const std::string host = options.listen.substr(0, colon);
  if (!options.tls.has_value() && !IsLoopbackHost(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "http.listen ", options.listen,
        " is not a loopback address: without tls the HTTP listener serves "
        "loopback callers only"));
  }

  std::unique_ptr<HttpListener> listener(
      new HttpListener(options, std::move(routes)));
  std::string tls_error;
  if (options.tls.has_value()) {
    const HttpTlsOptions& tls = *options.tls;
    listener->server_ = std::make_unique<httplib::SSLServer>(
        [&tls, &tls_error](SSL_CTX& context) {
          return SetUpTls(tls, context, &tls_error);
        });
  } else {
    listener->server_ = std::make_unique<httplib::Server>();
  }
  httplib::Server& server = *listener->server_;
  if (!server.is_valid()) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options.listen, ": ",
                     tls_error.empty() ? "no TLS context" : tls_error));
  }

  const size_t threads = static_cast<size_t>(std::max(1, options.threads));
  server.new_task_queue = [threads] { return new BoundedThreadPool(threads); };
  const int64_t timeout_us = std::max<int64_t>(
      1000, absl::ToInt64Microseconds(options.request_timeout));
  server.set_read_timeout(timeout_us / 1000000, timeout_us % 1000000);
  server.set_write_timeout(timeout_us / 1000000, timeout_us % 1000000);
  server.set_keep_alive_timeout((timeout_us + 999999) / 1000000);
  server.set_keep_alive_max_count(kMaxRequestsPerConnection);
  server.set_payload_max_length(options.max_body_bytes);
  // An answer is one small write: without this, Nagle's algorithm holds it
  // until the client's delayed ACK (about 40 ms on Linux) on a kept-alive
  // connection.
  server.set_tcp_nodelay(true);
  HttpListener* self = listener.get();
  server.set_pre_routing_handler(
      [self](const httplib::Request& request, httplib::Response& response) {
        std::optional<HttpResponse> refusal = self->Refusal(request);
        if (!refusal.has_value()) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        Send(*refusal, response);
        return httplib::Server::HandlerResponse::Handled;
      });
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& response) {
        if (!response.body.empty()) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        Send(HttplibError(response.status), response);
        return httplib::Server::HandlerResponse::Handled;
      }));
  // Handlers do not throw; should anything under them (an allocation), the
  // answer is a plain 500 rather than httplib's, which names the exception.
  server.set_exception_handler([](const httplib::Request&,
                                  httplib::Response& response,
                                  std::exception_ptr) {
    response.headers.clear();
    Send(HttplibError(500), response);
  });
  for (const HttpRoute& route : listener->routes_) {
    const std::string pattern = LiteralPattern(route.path);
    if (route.method == "POST") {
      server.Post(pattern, [self, &route](const httplib::Request& request,
                                          httplib::Response& response,
                                          const httplib::ContentReader& body) {
        Send(self->Serve(route, request, &body), response);
      });
    } else {
      server.Get(pattern, [self, &route](const httplib::Request& request,
                                         httplib::Response& response) {
        Send(self->Serve(route, request, nullptr), response);
      });
    }
  }

  // httplib binds what getaddrinfo takes: IPv6 without brackets.
  std::string bind_host = host == "localhost" ? "127.0.0.1" : host;
  if (bind_host.starts_with("[") && bind_host.ends_with("]")) {
    bind_host = bind_host.substr(1, bind_host.size() - 2);
  }
  const int bound = port == 0
                        ? server.bind_to_any_port(bind_host)
                        : (server.bind_to_port(bind_host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options.listen,
                     ": the address cannot be bound"));
  }
  listener->address_ = absl::StrCat(host, ":", bound);
  listener->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() stops only a running accept loop: Stop() must not come before.
  while (!server.is_running()) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return listener;
}

HttpListener::~HttpListener() { Stop(); }

void HttpListener::Stop() {
  if (server_ == nullptr) return;
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
  server_.reset();
}

std::optional<HttpResponse> HttpListener::Refusal(
    const httplib::Request& request) const {
  // httplib would answer each range a Range header names with its own copy
  // of the response, thousands of them; HTTP lets a server ignore Range.
  // `request` is httplib's own, not const, object.
  const_cast<httplib::Request&>(request).ranges.clear();
  const bool has_body = request.has_header("Content-Length") ||
                        request.has_header("Transfer-Encoding");
  std::optional<HttpResponse> refusal;
  const HttpRoute* path_match = nullptr;
  const HttpRoute* route = nullptr;
  for (const HttpRoute& candidate : routes_) {
    if (candidate.path != request.path) continue;
    path_match = &candidate;
    if (candidate.method == request.method) route = &candidate;
  }
  if (request.has_header("Content-Encoding")) {
    refusal = JsonError(415, "unsupported_media_type",
                        "Content-Encoding is not accepted: send the body "
                        "uncompressed");
  } else if (path_match == nullptr) {
    refusal = JsonError(404, "not_found", "no such endpoint");
  } else if (route == nullptr) {
    refusal = JsonError(
        405, "method_not_allowed",
        absl::StrCat(Sv(request.path), " takes ", path_match->method, " only"));
    refusal->headers.emplace_back("Allow", path_match->method);
  } else if (route->method == "POST") {
    const bool chunked = request.has_header("Transfer-Encoding");
    const std::string length = request.get_header_value("Content-Length");
    uint64_t bytes = 0;
    if (chunked) {
      if (request.get_header_value_count("Transfer-Encoding") != 1 ||
          !absl::EqualsIgnoreCase(request.get_header_value("Transfer-Encoding"),
                                  "chunked") ||
          request.has_header("Content-Length")) {
        refusal = JsonError(400, "invalid_request",
                            "Transfer-Encoding must be chunked, without "
                            "Content-Length");
      }
    } else if (request.get_header_value_count("Content-Length") != 1 ||
               !absl::SimpleAtoi(length, &bytes)) {
      refusal = JsonError(400, "invalid_request",
                          "the body needs one Content-Length");
    } else if (bytes > options_.max_body_bytes) {
      refusal = TooLarge(options_.max_body_bytes);
    }
    // httplib parses a multipart body itself, without a receiver here.
    if (!refusal.has_value() &&
        request.get_header_value("Content-Type").starts_with("multipart/")) {
      refusal = JsonError(415, "unsupported_media_type",
                          "the body must be Content-Type: application/json");
    }
  }
  if (refusal.has_value() && has_body) {
    refusal->headers.emplace_back("Connection", "close");
  }
  return refusal;
}

HttpResponse HttpListener::Serve(const HttpRoute& route,
                                 const httplib::Request& request,
                                 const httplib::ContentReader* body) const {
  HttpRequest served;
  served.method = request.method;
  served.path = request.path;
  std::string content;
  if (body != nullptr) {
    const size_t limit = options_.max_body_bytes;
    bool too_large = false;
    const bool read = (*body)([&](const char* data, size_t size) {
      if (content.size() + size > limit) {
        too_large = true;
        return false;
      }
      content.append(data, size);
      return true;
    });
    if (too_large) {
      HttpResponse response = TooLarge(limit);
      response.headers.emplace_back("Connection", "close");
      return response;
    }
    if (!read) {
      HttpResponse response =
          JsonError(400, "invalid_request", "the body could not be read");
      response.headers.emplace_back("Connection", "close");
      return response;
    }
    const std::string type = request.get_header_value("Content-Type");
    const std::string_view media =
        std::string_view(type).substr(0, type.find(';'));
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(Sv(media)),
                                "application/json")) {
      return JsonError(415, "unsupported_media_type",
                       "the body must be Content-Type: application/json");
    }
  }
  // httplib adds the connection's addresses as headers of its own.
  for (const auto& [name, value] : request.headers) {
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" ||
        name == "LOCAL_ADDR" || name == "LOCAL_PORT") {
      continue;
    }
    served.headers.try_emplace(absl::AsciiStrToLower(name), value);
  }
  served.body = content;
  served.tls = request.ssl != nullptr;
  served.listener_address = address_;
  served.peer =
      request.remote_addr.find(':') == std::string::npos
          ? absl::StrCat("ipv4:", request.remote_addr, ":", request.remote_port)
          : absl::StrCat("ipv6:[", request.remote_addr,
                         "]:", request.remote_port);
  served.spiffe_id = SpiffeIdOf(request.ssl);
  return route.handler(served);
}

}  // namespace verdict::authzen
