#include "client/bench/load_generator.h"

#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/bench/cerbos_min.pb.h"
#include "client/bench/gateway_requests.h"
#include "client/bench/http_load.h"
#include "envoy/service/auth/v3/external_auth.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/support/time.h"
#include "grpcpp/alarm.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"
#include "nlohmann/json.hpp"
#include "verdict/v1/authorizer.pb.h"

namespace verdict::bench {
namespace {

using Clock = std::chrono::steady_clock;

// gRPC takes deadlines as system_clock points or gpr_timespec only.
gpr_timespec ToGpr(Clock::time_point when) {
  const int64_t delta =
      std::chrono::duration_cast<std::chrono::nanoseconds>(when - Clock::now())
          .count();
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(delta, GPR_TIMESPAN));
}

const char* MethodOf(Api api) {
  switch (api) {
    case Api::kVerdict:
      return "/verdict.v1.Authorizer/Check";
    case Api::kExtAuthz:
      return "/envoy.service.auth.v3.Authorization/Check";
    default:
      return "/cerbos.svc.v1.CerbosService/CheckResources";
  }
}

// The mix's requests as slices: a ByteBuffer built from a Slice shares its
// bytes instead of copying them per call.
std::vector<grpc::Slice> ToSlices(const RequestMix& mix) {
  std::vector<grpc::Slice> slices;
  slices.reserve(mix.payloads.size());
  for (const std::string& payload : mix.payloads) {
    slices.emplace_back(payload.data(), payload.size());
  }
  return slices;
}

enum class Outcome { kAllow, kDeny, kError };

// Reads the decision out of a response; a response that does not parse, or a
// Cerbos answer without exactly one result with one action, is an error.
Outcome ParseDecision(Api api, grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.TrySingleSlice(&slice).ok() &&
      !buffer.DumpToSingleSlice(&slice).ok()) {
    return Outcome::kError;
  }
  const auto* data = reinterpret_cast<const char*>(slice.begin());
  const int size = static_cast<int>(slice.size());
  if (api == Api::kVerdict) {
    v1::CheckResponse response;
    if (!response.ParseFromArray(data, size)) return Outcome::kError;
    return response.decision() == v1::ALLOW ? Outcome::kAllow : Outcome::kDeny;
  }
  if (api == Api::kExtAuthz) {
    // Envoy lets the request through on an OK status only.
    envoy::service::auth::v3::CheckResponse response;
    if (!response.ParseFromArray(data, size)) return Outcome::kError;
    return response.status().code() == 0 ? Outcome::kAllow : Outcome::kDeny;
  }
  cerbos::CheckResourcesResponse response;
  if (!response.ParseFromArray(data, size) || response.results_size() != 1 ||
      response.results(0).actions_size() != 1) {
    return Outcome::kError;
  }
  return response.results(0).actions().begin()->second == cerbos::EFFECT_ALLOW
             ? Outcome::kAllow
             : Outcome::kDeny;
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& server) {
  grpc::ChannelArguments args;
  // Without a local subchannel pool, channels to one address share a single
  // TCP connection, and --connections would mean nothing.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(),
                                   args);
}

// Completion-queue tags: a call finishing, or the pacer's last word.
struct Tag {
  enum Kind { kCall, kWake } kind;
};

struct Connection;

struct Call : Tag {
  Call() : Tag{kCall} {}
  Connection* connection = nullptr;
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  Clock::time_point start;  // intended start in open loop
};

struct Connection {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  size_t next_request = 0;  // touched by one thread only (pacer or queue)
  std::atomic<int> outstanding{0};
};

// One completion-queue thread and the connections it drives. In open loop a
// second thread, the pacer, sends the calls: gRPC's alarms fire on the
// poller's millisecond timeouts, which would add up to a millisecond of the
// generator's own lateness to every latency measured from the intended time.
class Worker {
 public:
  Worker(const LoadOptions& options, const RequestMix& mix,
         const std::vector<grpc::Slice>& slices, int connections)
      : options_(options), mix_(mix), slices_(slices) {
    for (int i = 0; i < connections; ++i) {
      auto connection = std::make_unique<Connection>();
      connection->channel = NewChannel(options.server);
      connection->stub =
          std::make_unique<grpc::GenericStub>(connection->channel);
      connection->next_request = static_cast<size_t>(i) * 7919;
      connections_.push_back(std::move(connection));
    }
  }

  // Opens every connection, so that TCP and HTTP/2 set-up fall before the
  // clock starts; a server that cannot be reached shows up as failed calls.
  void Connect(Clock::time_point deadline) {
    for (auto& connection : connections_) {
      connection->channel->WaitForConnected(ToGpr(deadline));
    }
  }

  // Sends calls from `begin` until `end`, counting those intended from
  // `measure_from` on, and returns when all have finished.
  void Run(Clock::time_point begin, Clock::time_point measure_from,
           Clock::time_point end) {
    begin_ = begin;
    measure_from_ = measure_from;
    end_ = end;
    if (options_.rate <= 0) {
      for (auto& connection : connections_) {
        for (int k = 0; k < options_.inflight; ++k) {
          StartCall(*connection, Clock::now());
        }
      }
    }
    if (options_.spin) {
      Spin();
    } else {
      WaitForCompletions();
    }
    result_.not_sent = not_sent_;
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  LoadResult& result() { return result_; }

 private:
  // Sends each call at its intended time, stamped with that time; calls
  // whose time passed while the pacer slept go out at once.
  void Pace() {
    // Linux's default 50 us timer slack would show up in every latency.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    Schedule schedule = NewSchedule();
    while (true) {
      const Clock::time_point soonest = schedule.Soonest();
      if (soonest >= end_) break;
      std::this_thread::sleep_until(soonest);
      SendDue(Clock::now(), &schedule);
    }
    wake_.Set(&queue_, gpr_now(GPR_CLOCK_MONOTONIC), &wake_tag_);
  }

  // Blocks on the queue until every call has finished; in open loop a
  // pacing thread sends the calls meanwhile.
  void WaitForCompletions() {
    std::thread pacer;
    if (options_.rate > 0) {
      // The pacer holds one count of pending_ until its wake tag arrives, so
      // the loop below cannot see zero while calls may still be started.
      pending_.fetch_add(1);
      pacer = std::thread([this] { Pace(); });
    }
    void* tag = nullptr;
    bool ok = false;
    while (pending_.load() > 0 && queue_.Next(&tag, &ok)) {
      Tag* base = static_cast<Tag*>(tag);
      if (base->kind == Tag::kCall) {
        FinishCall(std::unique_ptr<Call>(static_cast<Call*>(base)));
      } else {
        pending_.fetch_sub(1);
      }
    }
    if (pacer.joinable()) pacer.join();
  }

  // One thread that never sleeps: it sends what is due and polls the queue
  // without blocking. No thread hand-off or wake-up sits between a call's
  // time and its send, or between its answer and its timestamp.
  void Spin() {
    const bool open_loop = options_.rate > 0;
    Schedule schedule = NewSchedule();
    const gpr_timespec no_wait = gpr_inf_past(GPR_CLOCK_MONOTONIC);
    void* tag = nullptr;
    bool ok = false;
    while (true) {
      if (open_loop) SendDue(Clock::now(), &schedule);
      while (queue_.AsyncNext(&tag, &ok, no_wait) ==
             grpc::CompletionQueue::GOT_EVENT) {
        FinishCall(std::unique_ptr<Call>(static_cast<Call*>(tag)));
      }
      const bool sending = open_loop && schedule.Soonest() < end_;
      if (!sending && pending_.load() == 0) break;
    }
  }

  // Open loop: each connection's next intended send time.
  struct Schedule {
    Clock::duration interval;
    std::vector<Clock::time_point> next;
    Clock::time_point Soonest() const {
      return *std::min_element(next.begin(), next.end());
    }
  };

  Schedule NewSchedule() const {
    const double per_connection_rate =
        options_.rate / std::max(1, options_.connections);
    Schedule schedule;
    schedule.interval =
        per_connection_rate > 0
            ? std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(1.0 / per_connection_rate))
            : Clock::duration::zero();
    schedule.next.resize(connections_.size());
    for (size_t i = 0; i < schedule.next.size(); ++i) {
      // Staggered so the connections do not send in lockstep.
      schedule.next[i] = begin_ + schedule.interval * i / schedule.next.size();
    }
    return schedule;
  }

  // Starts every call whose intended time is at or before `now`; one that
  // the in-flight cap holds back is counted as not sent.
  void SendDue(Clock::time_point now, Schedule* schedule) {
    for (size_t i = 0; i < schedule->next.size(); ++i) {
      Connection& connection = *connections_[i];
      Clock::time_point& next = schedule->next[i];
      while (next <= now && next < end_) {
        if (connection.outstanding.load() < options_.inflight) {
          StartCall(connection, next);
        } else if (next >= measure_from_) {
          ++not_sent_;
        }
        next += schedule->interval;
      }
    }
  }

  void StartCall(Connection& connection, Clock::time_point start) {
    if (start >= end_) return;
    auto call = std::make_unique<Call>();
    call->connection = &connection;
    call->start = start;
    call->context.set_deadline(ToGpr(
        Clock::now() + absl::ToChronoNanoseconds(options_.call_deadline)));
    grpc::Slice slice = slices_[connection.next_request % slices_.size()];
    ++connection.next_request;
    grpc::ByteBuffer request(&slice, 1);
    call->reader = connection.stub->PrepareUnaryCall(
        &call->context, MethodOf(mix_.api), request, &queue_);
    connection.outstanding.fetch_add(1);
    pending_.fetch_add(1);
    call->reader->StartCall();
    Call* raw = call.release();
    raw->reader->Finish(&raw->response, &raw->status, raw);
  }

  void FinishCall(std::unique_ptr<Call> call) {
    const Clock::time_point now = Clock::now();
    Connection& connection = *call->connection;
    if (call->start >= measure_from_ && call->start < end_) {
      Outcome outcome = Outcome::kError;
      if (call->status.ok()) {
        outcome = ParseDecision(mix_.api, call->response);
      } else if (result_.first_error.empty()) {
        result_.first_error =
            absl::StrCat("code ", static_cast<int>(call->status.error_code()),
                         ": ", call->status.error_message());
      }
      switch (outcome) {
        case Outcome::kAllow:
          ++result_.allows;
          break;
        case Outcome::kDeny:
          ++result_.denies;
          break;
        case Outcome::kError:
          ++result_.errors;
          if (result_.first_error.empty()) {
            result_.first_error = "unparsable response";
          }
          break;
      }
      if (outcome != Outcome::kError) {
        result_.latency.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now -
                                                                 call->start)
                .count()));
      }
    }
    // Started before this call is counted down, so pending_ stays above
    // zero in closed loop until the window ends.
    if (options_.rate <= 0) StartCall(connection, now);
    connection.outstanding.fetch_sub(1);
    pending_.fetch_sub(1);
  }

  const LoadOptions& options_;
  const RequestMix& mix_;
  const std::vector<grpc::Slice>& slices_;
  Clock::time_point begin_, measure_from_, end_;  // set by Run()
  grpc::CompletionQueue queue_;
  std::vector<std::unique_ptr<Connection>> connections_;
  // Calls started and not finished, plus one while the pacer runs.
  std::atomic<int64_t> pending_{0};
  uint64_t not_sent_ = 0;  // pacer only; read after it is joined
  grpc::Alarm wake_;
  Tag wake_tag_{Tag::kWake};
  LoadResult result_;  // completion-queue thread only
};

absl::Status CheckMix(const RequestMix& mix) {
  if (mix.payloads.empty()) {
    return absl::InvalidArgumentError("the request mix is empty");
  }
  return absl::OkStatus();
}

std::string Micros(uint64_t nanos) {
  return absl::StrFormat("%.1f", nanos / 1000.0);
}

}  // namespace

absl::StatusOr<RequestMix> LoadRequestMix(const std::string& path, Api api) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  RequestMix mix;
  mix.api = api;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string payload;
    google::protobuf::util::Status status;
    if (api == Api::kAuthzen) {
      // Sent as it is: only checked to be one JSON object.
      if (!nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false)
               .is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":", number, ": an AuthZEN request is one JSON object"));
      }
      payload = line;
    } else if (api == Api::kVerdict) {
      v1::CheckRequest request;
      status = google::protobuf::util::JsonStringToMessage(line, &request);
      request.SerializeToString(&payload);
    } else if (api == Api::kExtAuthz) {
      envoy::service::auth::v3::CheckRequest request;
      status = google::protobuf::util::JsonStringToMessage(line, &request);
      request.SerializeToString(&payload);
    } else {
      cerbos::CheckResourcesRequest request;
      status = google::protobuf::util::JsonStringToMessage(line, &request);
      if (status.ok() && (request.resources_size() != 1 ||
                          request.resources(0).actions_size() != 1)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", number,
                         ": a Cerbos request needs one resource with one "
                         "action"));
      }
      request.SerializeToString(&payload);
    }
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": ",
          std::string(status.message().data(), status.message().size())));
    }
    mix.payloads.push_back(std::move(payload));
  }
  if (mix.payloads.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no requests"));
  }
  return mix;
}

RequestMix BuiltinRequestMix(Api api) {
  static const char* const kRequests[] = {
      R"({"subject": {"id": "spiffe://corp.example/agent/crm/1",
          "roles": ["crm-reader"]},
          "tool": {"server": "crm", "name": "get_contact",
                   "arguments": {"id": "c-17"}},
          "action": "tools/call", "context": {"environment": "prod"}})",
      R"({"subject": {"id": "spiffe://corp.example/agent/crm/2",
          "roles": ["crm-reader"]},
          "tool": {"server": "crm", "name": "delete_contact"},
          "action": "tools/call", "context": {"environment": "prod"}})",
      R"({"subject": {"id": "spiffe://corp.example/agent/crm/3",
          "roles": ["crm-exporter"], "attributes": {"clearance": 2}},
          "tool": {"server": "crm", "name": "export_contacts",
                   "arguments": {"limit": 500}},
          "action": "tools/call",
          "context": {"environment": "staging", "task_id": "TASK-42"}})",
      R"({"subject": {"id": "spiffe://corp.example/agent/crm/4",
          "roles": ["crm-reader"]},
          "tool": {"server": "crm", "name": "search_contacts",
                   "arguments": {"query": "acme"}},
          "action": "tools/list", "context": {"environment": "dev"}})",
      R"({"subject": {"id": "spiffe://corp.example/agent/ops/1",
          "roles": ["workflow-operator"]},
          "tool": {"server": "workflows", "name": "start_deploy",
                   "annotations": {"destructiveHint": true}},
          "action": "tools/call", "context": {"environment": "prod"}})",
      R"({"subject": {"id": "spiffe://corp.example/agent/bi/a1",
          "roles": ["analyst"]},
          "tool": {"server": "warehouse", "name": "run_query",
                   "arguments": {"sql": "select 1", "limit": 100}},
          "action": "tools/call", "context": {"environment": "dev"}})",
      R"({"subject": {"id": "spiffe://corp.example/agent/kb/1",
          "roles": ["researcher"]},
          "tool": {"server": "kb", "name": "search_articles"},
          "action": "tools/call", "context": {"environment": "prod"}})",
      R"({"subject": {"id": "spiffe://corp.example/agent/unknown",
          "roles": []},
          "tool": {"server": "filesystem", "name": "write_file",
                   "arguments": {"path": "/etc/passwd"}},
          "action": "tools/call", "context": {"environment": "prod"}})",
  };
  RequestMix mix;
  mix.api = api;
  if (api == Api::kCerbos) return mix;
  int id = 0;
  for (const char* json : kRequests) {
    v1::CheckRequest request;
    // The literals above are fixed and valid; a failure here is a bug that
    // the smoke test catches as an empty or short mix.
    if (!google::protobuf::util::JsonStringToMessage(json, &request).ok()) {
      continue;
    }
    switch (api) {
      case Api::kExtAuthz:
        mix.payloads.push_back(
            ToExtAuthzRequest(request, ++id).SerializeAsString());
        break;
      case Api::kAuthzen:
        mix.payloads.push_back(ToAuthzenEvaluation(request));
        break;
      default:
        mix.payloads.push_back(request.SerializeAsString());
        break;
    }
  }
  return mix;
}

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options,
                                   const RequestMix& mix) {
  if (absl::Status status = CheckMix(mix); !status.ok()) return status;
  if (options.server.empty()) {
    return absl::InvalidArgumentError("no server address");
  }
  if (mix.api == Api::kAuthzen) return RunHttpLoad(options, mix);
  if (options.connections < 1 || options.inflight < 1 || options.threads < 1 ||
      options.rate < 0 || options.duration <= absl::ZeroDuration() ||
      options.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "connections, inflight and threads must be positive, the duration "
        "positive, the rate and warm-up not negative");
  }
  const std::vector<grpc::Slice> slices = ToSlices(mix);
  const int threads = std::min(options.threads, options.connections);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) {
    const int connections =
        options.connections / threads + (t < options.connections % threads);
    workers.push_back(
        std::make_unique<Worker>(options, mix, slices, connections));
  }
  // The clock starts once every connection is open, or the call deadline
  // passed trying.
  const Clock::time_point connect_deadline =
      Clock::now() + absl::ToChronoNanoseconds(options.call_deadline);
  for (auto& worker : workers) worker->Connect(connect_deadline);
  const Clock::time_point begin = Clock::now();
  const Clock::time_point measure_from =
      begin + absl::ToChronoNanoseconds(options.warmup);
  const Clock::time_point end =
      measure_from + absl::ToChronoNanoseconds(options.duration);
  std::vector<std::thread> running;
  for (auto& worker : workers) {
    running.emplace_back(
        [&, w = worker.get()] { w->Run(begin, measure_from, end); });
  }
  for (std::thread& thread : running) thread.join();

  LoadResult total;
  total.seconds = absl::ToDoubleSeconds(options.duration);
  for (auto& worker : workers) {
    total.Add(worker->result());
  }
  return total;
}

void LoadResult::Add(const LoadResult& part) {
  allows += part.allows;
  denies += part.denies;
  errors += part.errors;
  not_sent += part.not_sent;
  if (first_error.empty()) first_error = part.first_error;
  latency.Merge(part.latency);
}

absl::StatusOr<std::vector<std::string>> CollectDecisions(
    const std::string& server, const RequestMix& mix,
    absl::Duration call_deadline) {
  if (absl::Status status = CheckMix(mix); !status.ok()) return status;
  if (mix.api == Api::kAuthzen) {
    return CollectHttpDecisions(server, mix, call_deadline);
  }
  grpc::GenericStub stub(NewChannel(server));
  grpc::CompletionQueue queue;
  std::vector<std::string> lines;
  lines.reserve(mix.payloads.size());
  for (const std::string& payload : mix.payloads) {
    grpc::ClientContext context;
    context.set_deadline(
        ToGpr(Clock::now() + absl::ToChronoNanoseconds(call_deadline)));
    grpc::Slice slice(payload.data(), payload.size());
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    auto reader =
        stub.PrepareUnaryCall(&context, MethodOf(mix.api), request, &queue);
    reader->StartCall();
    reader->Finish(&response, &status, &response);
    void* tag = nullptr;
    bool ok = false;
    if (!queue.Next(&tag, &ok)) {
      return absl::InternalError("completion queue shut down");
    }
    if (!status.ok()) {
      lines.push_back(absl::StrCat("error: code ",
                                   static_cast<int>(status.error_code()), ": ",
                                   status.error_message()));
      continue;
    }
    switch (ParseDecision(mix.api, response)) {
      case Outcome::kAllow:
        lines.push_back("allow");
        break;
      case Outcome::kDeny:
        lines.push_back("deny");
        break;
      case Outcome::kError:
        lines.push_back("error: unparsable response");
        break;
    }
  }
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  return lines;
}

void WriteText(const LoadOptions& options, const LoadResult& result,
               std::ostream& out) {
  const LatencyHistogram& h = result.latency;
  out << absl::StrFormat(
      "%s loop, %d connection(s) x %d in flight%s, %.1fs measured\n",
      options.rate > 0 ? "open" : "closed", options.connections,
      options.inflight,
      options.rate > 0
          ? absl::StrFormat(", %.0f calls/s scheduled", options.rate)
          : "",
      result.seconds);
  out << absl::StrFormat("decisions/s  %.0f\n", result.decisions_per_second());
  out << "decisions    " << result.decisions() << " (allow " << result.allows
      << ", deny " << result.denies << ")\n";
  out << "errors       " << result.errors;
  if (!result.first_error.empty())
    out << " (first: " << result.first_error << ")";
  out << "\n";
  if (options.rate > 0) out << "not sent     " << result.not_sent << "\n";
  out << "latency us   p50 " << Micros(h.Percentile(0.5)) << "  p90 "
      << Micros(h.Percentile(0.9)) << "  p99 " << Micros(h.Percentile(0.99))
      << "  p99.9 " << Micros(h.Percentile(0.999)) << "  max "
      << Micros(h.max()) << "\n";
}

void WriteJson(const LoadOptions& options, const LoadResult& result,
               std::ostream& out) {
  const LatencyHistogram& h = result.latency;
  // Error text is escaped minimally: quotes, backslashes and control bytes.
  std::string error;
  for (char c : result.first_error) {
    if (c == '"' || c == '\\') {
      error += '\\';
      error += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      error += absl::StrFormat("\\u%04x", c);
    } else {
      error += c;
    }
  }
  out << absl::StrFormat(
      "{\"mode\": \"%s\", \"connections\": %d, \"inflight\": %d, "
      "\"rate\": %.1f, \"seconds\": %.3f, \"decisions\": %d, "
      "\"decisions_per_second\": %.1f, \"allows\": %d, \"denies\": %d, "
      "\"errors\": %d, \"not_sent\": %d, \"first_error\": \"%s\", "
      "\"latency_us\": {\"min\": %s, \"mean\": %.1f, \"p50\": %s, "
      "\"p90\": %s, \"p99\": %s, \"p999\": %s, \"max\": %s}}\n",
      options.rate > 0 ? "open" : "closed", options.connections,
      options.inflight, options.rate, result.seconds, result.decisions(),
      result.decisions_per_second(), result.allows, result.denies,
      result.errors, result.not_sent, error, Micros(h.min()), h.mean() / 1000,
      Micros(h.Percentile(0.5)), Micros(h.Percentile(0.9)),
      Micros(h.Percentile(0.99)), Micros(h.Percentile(0.999)), Micros(h.max()));
}

absl::Status PinToCpus(const std::string& cpu_list) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (absl::string_view part : absl::StrSplit(cpu_list, ',')) {
    std::pair<std::string, std::string> range =
        absl::StrSplit(part, absl::MaxSplits('-', 1));
    int first = 0;
    int last = 0;
    if (!absl::SimpleAtoi(range.first, &first) ||
        !absl::SimpleAtoi(range.second.empty() ? range.first : range.second,
                          &last) ||
        first < 0 || last < first || last >= CPU_SETSIZE) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cpus ", cpu_list, ": expected e.g. 1, 0,2 or 0-3"));
    }
    for (int cpu = first; cpu <= last; ++cpu) CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cpus ", cpu_list, ": sched_setaffinity failed"));
  }
  return absl::OkStatus();
}

}  // namespace verdict::bench
