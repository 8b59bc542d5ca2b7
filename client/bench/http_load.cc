#include "client/bench/http_load.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace verdict::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Bounds on what a response may hold before it is an error.
constexpr size_t kMaxHeaderBytes = 64 << 10;
constexpr size_t kMaxBodyBytes = 16 << 20;

enum class Answer { kAllow, kDeny, kError };

// The resolved server address.
struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string host_header;
};

absl::StatusOr<Endpoint> Resolve(const std::string& server) {
  // HOST:PORT, the host possibly a bracketed IPv6 literal.
  const size_t colon = server.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == server.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server ", server, ": expected HOST:PORT"));
  }
  std::string host = server.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = server.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server ", server, ": does not resolve"));
  }
  Endpoint endpoint;
  std::memcpy(&endpoint.address, found->ai_addr, found->ai_addrlen);
  endpoint.length = found->ai_addrlen;
  endpoint.host_header = server;
  freeaddrinfo(found);
  return endpoint;
}

// Request line, headers and body, ready to send.
std::vector<std::string> Frame(const RequestMix& mix, const Endpoint& server) {
  std::vector<std::string> framed;
  framed.reserve(mix.payloads.size());
  for (const std::string& body : mix.payloads) {
    framed.push_back(
        absl::StrCat("POST ", kAuthzenEvaluationPath,
                     " HTTP/1.1\r\nHost: ", server.host_header,
                     "\r\nContent-Type: application/json\r\nAccept: "
                     "application/json\r\nContent-Length: ",
                     body.size(), "\r\n\r\n", body));
  }
  return framed;
}

// One keep-alive connection with a reusable read buffer.
class HttpConnection {
 public:
  HttpConnection(const Endpoint* endpoint, absl::Duration timeout)
      : endpoint_(endpoint), timeout_(timeout) {
    buffer_.reserve(kMaxHeaderBytes);
  }
  ~HttpConnection() { Close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends `request` and reads its answer; on kError, `*error` says why and
  // the connection is closed (the next call opens it again).
  Answer Exchange(absl::string_view request, std::string* error) {
    if (fd_ < 0 && !Open(error)) return Answer::kError;
    const Answer answer = SendAndRead(request, error);
    if (answer == Answer::kError || close_after_) Close();
    return answer;
  }

  // Opens the connection now, so that set-up falls before the clock starts.
  bool Open(std::string* error) {
    fd_ = socket(endpoint_->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Fail("socket", error);
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const timeval tv = absl::ToTimeval(timeout_);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&endpoint_->address),
                endpoint_->length) != 0) {
      return Fail("connect", error);
    }
    buffer_.clear();
    return true;
  }

 private:
  bool Fail(const char* what, std::string* error) {
    *error = absl::StrCat(what, ": ", std::strerror(errno));
    Close();
    return false;
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    close_after_ = false;
  }

  // Reads more bytes into buffer_; false at end of stream, a timeout or an
  // error, with `*error` set.
  bool ReadMore(std::string* error) {
    char chunk[16 << 10];
    while (true) {
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      if (n == 0) {
        *error = "connection closed by the server";
        return false;
      }
      if (errno == EINTR) continue;
      *error = errno == EAGAIN || errno == EWOULDBLOCK
                   ? std::string("timed out")
                   : absl::StrCat("recv: ", std::strerror(errno));
      return false;
    }
  }

  Answer SendAndRead(absl::string_view request, std::string* error) {
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n =
          send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        *error = absl::StrCat("send: ", std::strerror(errno));
        return Answer::kError;
      }
      sent += static_cast<size_t>(n);
    }
    // The header block.
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > kMaxHeaderBytes) {
        *error = "response headers too large";
        return Answer::kError;
      }
      if (!ReadMore(error)) return Answer::kError;
    }
    const absl::string_view head(buffer_.data(), header_end);
    int status = 0;
    size_t content_length = 0;
    bool has_length = false;
    bool first = true;
    for (size_t pos = 0; pos <= head.size();) {
      size_t eol = head.find("\r\n", pos);
      if (eol == absl::string_view::npos) eol = head.size();
      const absl::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      if (first) {
        first = false;
        // HTTP/1.1 200 OK
        if (!absl::StartsWith(line, "HTTP/1.") || line.size() < 12 ||
            !absl::SimpleAtoi(line.substr(9, 3), &status)) {
          *error = "malformed status line";
          return Answer::kError;
        }
        continue;
      }
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      const absl::string_view name = line.substr(0, colon);
      const absl::string_view value =
          absl::StripAsciiWhitespace(line.substr(colon + 1));
      if (absl::EqualsIgnoreCase(name, "content-length")) {
        has_length = absl::SimpleAtoi(value, &content_length);
      } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
        *error = "chunked responses are not supported";
        return Answer::kError;
      } else if (absl::EqualsIgnoreCase(name, "connection") &&
                 absl::EqualsIgnoreCase(value, "close")) {
        close_after_ = true;
      }
    }
    if (!has_length || content_length > kMaxBodyBytes) {
      *error = "response without a usable Content-Length";
      return Answer::kError;
    }
    const size_t body_start = header_end + 4;
    while (buffer_.size() < body_start + content_length) {
      if (!ReadMore(error)) return Answer::kError;
    }
    const absl::string_view body(buffer_.data() + body_start, content_length);
    Answer answer = Answer::kError;
    if (status != 200) {
      *error = absl::StrCat("HTTP ", status);
    } else {
      const nlohmann::json parsed =
          nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                /*allow_exceptions=*/false);
      const auto decision =
          parsed.is_object() ? parsed.find("decision") : parsed.end();
      if (parsed.is_object() && decision != parsed.end() &&
          decision->is_boolean()) {
        answer = decision->get<bool>() ? Answer::kAllow : Answer::kDeny;
      } else {
        *error = "unparsable response";
      }
    }
    // With one request outstanding nothing should follow the body.
    buffer_.erase(0, body_start + content_length);
    return answer;
  }

  const Endpoint* const endpoint_;
  const absl::Duration timeout_;
  int fd_ = -1;
  bool close_after_ = false;
  std::string buffer_;
};

// One connection's thread: closed loop or paced.
class HttpWorker {
 public:
  HttpWorker(const LoadOptions& options, const Endpoint* endpoint,
             const std::vector<std::string>* requests, size_t first_request)
      : options_(options),
        connection_(endpoint, options.call_deadline),
        requests_(requests),
        next_request_(first_request) {}

  void Connect() {
    std::string ignored;
    // A failure shows up as failed requests, which reopen the connection.
    connection_.Open(&ignored);
  }

  // `first_send` staggers the connections in open loop.
  void Run(Clock::time_point begin, Clock::time_point measure_from,
           Clock::time_point end, Clock::duration interval,
           Clock::duration first_send) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    const bool open_loop = interval > Clock::duration::zero();
    Clock::time_point next = begin + first_send;
    std::string error;
    while (true) {
      Clock::time_point start = Clock::now();
      if (open_loop) {
        if (next >= end) break;
        if (start >= end) {
          // Due before the end, never sent: the server fell behind.
          for (; next < end; next += interval) {
            if (next >= measure_from) ++result_.not_sent;
          }
          break;
        }
        if (next > start) std::this_thread::sleep_until(next);
        start = next;
        next += interval;
      } else if (start >= end) {
        break;
      }
      const std::string& request =
          (*requests_)[next_request_++ % requests_->size()];
      const Answer answer = connection_.Exchange(request, &error);
      const Clock::time_point done = Clock::now();
      if (start < measure_from) continue;
      switch (answer) {
        case Answer::kAllow:
          ++result_.allows;
          break;
        case Answer::kDeny:
          ++result_.denies;
          break;
        case Answer::kError:
          ++result_.errors;
          if (result_.first_error.empty()) result_.first_error = error;
          continue;
      }
      result_.latency.Record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(done - start)
              .count()));
    }
  }

  const LoadResult& result() const { return result_; }

 private:
  const LoadOptions& options_;
  HttpConnection connection_;
  const std::vector<std::string>* const requests_;
  size_t next_request_;
  LoadResult result_;
};

}  // namespace

absl::StatusOr<LoadResult> RunHttpLoad(const LoadOptions& options,
                                       const RequestMix& mix) {
  if (mix.payloads.empty()) {
    return absl::InvalidArgumentError("the request mix is empty");
  }
  if (options.connections < 1 || options.rate < 0 ||
      options.duration <= absl::ZeroDuration() ||
      options.warmup < absl::ZeroDuration() || options.spin) {
    return absl::InvalidArgumentError(
        "connections must be positive, the duration positive, the rate and "
        "warm-up not negative; AuthZEN does not spin");
  }
  absl::StatusOr<Endpoint> endpoint = Resolve(options.server);
  if (!endpoint.ok()) return endpoint.status();
  const std::vector<std::string> requests = Frame(mix, *endpoint);
  std::vector<std::unique_ptr<HttpWorker>> workers;
  for (int i = 0; i < options.connections; ++i) {
    workers.push_back(std::make_unique<HttpWorker>(
        options, &*endpoint, &requests, static_cast<size_t>(i) * 7919));
    workers.back()->Connect();
  }
  const Clock::duration interval =
      options.rate > 0 ? std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(options.connections /
                                                           options.rate))
                       : Clock::duration::zero();
  const Clock::time_point begin = Clock::now();
  const Clock::time_point measure_from =
      begin + absl::ToChronoNanoseconds(options.warmup);
  const Clock::time_point end =
      measure_from + absl::ToChronoNanoseconds(options.duration);
  std::vector<std::thread> threads;
  for (int i = 0; i < options.connections; ++i) {
    threads.emplace_back([&, i] {
      workers[i]->Run(begin, measure_from, end, interval,
                      interval * i / options.connections);
    });
  }
  for (std::thread& thread : threads) thread.join();
  LoadResult total;
  total.seconds = absl::ToDoubleSeconds(options.duration);
  for (const auto& worker : workers) {
    total.Add(worker->result());
  }
  return total;
}

absl::StatusOr<std::vector<std::string>> CollectHttpDecisions(
    const std::string& server, const RequestMix& mix,
    absl::Duration call_deadline) {
  if (mix.payloads.empty()) {
    return absl::InvalidArgumentError("the request mix is empty");
  }
  absl::StatusOr<Endpoint> endpoint = Resolve(server);
  if (!endpoint.ok()) return endpoint.status();
  HttpConnection connection(&*endpoint, call_deadline);
  std::vector<std::string> lines;
  std::string error;
  for (const std::string& request : Frame(mix, *endpoint)) {
    switch (connection.Exchange(request, &error)) {
      case Answer::kAllow:
        lines.push_back("allow");
        break;
      case Answer::kDeny:
        lines.push_back("deny");
        break;
      case Answer::kError:
        lines.push_back(absl::StrCat("error: ", error));
        break;
    }
  }
  return lines;
}

}  // namespace verdict::bench
