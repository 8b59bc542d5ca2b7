#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/bench/command.h"
#include "client/bench/load_generator.h"
#include "client/cli/commands.h"
#include "server/common/cpus.h"
#include "server/common/flags.h"

namespace verdict::cli {
namespace {

constexpr char kUsage[] =
    "usage: verdict bench --server ADDR [flags]\n"
    "\n"
    "Drives a decision service over gRPC (Verdict's Authorizer.Check, Envoy\n"
    "ext_authz, Cerbos) or HTTP/1.1 (AuthZEN) and reports decisions per\n"
    "second, allows, denies, errors and latency percentiles. Closed loop by\n"
    "default (connections x inflight calls outstanding); with --rate, open\n"
    "loop at a fixed rate, latency measured from each call's intended send\n"
    "time. With --api authzen every connection has one request outstanding\n"
    "and a thread of its own (--inflight, --threads and --spin do not apply).\n"
    "Exit status: 0 no failed call, 1 some calls failed, 2 bad flags.\n"
    "\n"
    "flags:\n";

const std::vector<FlagSpec>& BenchFlags() {
  static const std::vector<FlagSpec>* const kFlags = new std::vector<FlagSpec>{
      {"server", "ADDR", "address of the service (plaintext gRPC)"},
      {"connections", "N", "TCP connections (default 1)"},
      {"inflight", "M",
       "calls outstanding per connection; with --rate, the cap (default 16)"},
      {"rate", "R", "open loop: R calls per second in all"},
      {"duration", "D", "measured time, e.g. 10s (default 10s)"},
      {"warmup", "D", "unmeasured time first (default 2s)"},
      {"requests", "FILE",
       "JSON Lines request mix in the API's JSON (default: a built-in MCP "
       "mix, as the API carries it)"},
      {"api", "A",
       "verdict (Authorizer.Check), ext_authz (Envoy Authorization/Check as "
       "an MCP gateway sends it), authzen (POST /access/v1/evaluation) or "
       "cerbos (CheckResources); default verdict"},
      {"cpus", "LIST", "pin the generator to CPUs, e.g. 1 or 0-3"},
      {"threads", "T",
       "completion-queue threads (default: one per pinned CPU)"},
      {"spin", "",
       "poll without sleeping and send from the polling thread: no wake-up "
       "latency in the generator; each thread keeps a CPU fully busy"},
      {"decisions", "",
       "send each request of the mix once and print its decision per line"},
      {"json", "", "print the report as one JSON object"},
      {"help", "", "print this help"},
  };
  return *kFlags;
}

bool ParseInt(const ParsedFlags& parsed, const std::string& flag, int* value,
              std::ostream& err) {
  if (!parsed.Has(flag)) return true;
  if (!absl::SimpleAtoi(parsed.Get(flag, ""), value)) {
    err << "verdict bench: --" << flag << " needs an integer\n";
    return false;
  }
  return true;
}

bool ParseDuration(const ParsedFlags& parsed, const std::string& flag,
                   absl::Duration* value, std::ostream& err) {
  if (!parsed.Has(flag)) return true;
  if (!absl::ParseDuration(parsed.Get(flag, ""), value)) {
    err << "verdict bench: --" << flag << " needs a duration such as 10s\n";
    return false;
  }
  return true;
}

}  // namespace

int RunBench(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err) {
  absl::StatusOr<ParsedFlags> parsed = ParseFlags(BenchFlags(), args);
  if (!parsed.ok()) {
    err << "verdict bench: " << parsed.status().message() << "\n"
        << kUsage << FlagsUsage(BenchFlags());
    return kExitError;
  }
  if (parsed->Has("help")) {
    out << kUsage << FlagsUsage(BenchFlags());
    return kExitOk;
  }
  if (!parsed->positional().empty() || !parsed->Has("server")) {
    err << "verdict bench: --server is required and takes no positional "
           "arguments\n";
    return kExitError;
  }
  bench::LoadOptions options;
  options.server = parsed->Get("server", "");
  if (!ParseInt(*parsed, "connections", &options.connections, err) ||
      !ParseInt(*parsed, "inflight", &options.inflight, err) ||
      !ParseDuration(*parsed, "duration", &options.duration, err) ||
      !ParseDuration(*parsed, "warmup", &options.warmup, err)) {
    return kExitError;
  }
  if (parsed->Has("rate") &&
      (!absl::SimpleAtod(parsed->Get("rate", ""), &options.rate) ||
       options.rate <= 0)) {
    err << "verdict bench: --rate needs a positive number\n";
    return kExitError;
  }
  const std::string api_name = parsed->Get("api", "verdict");
  bench::Api api = bench::Api::kVerdict;
  if (api_name == "cerbos") {
    api = bench::Api::kCerbos;
  } else if (api_name == "ext_authz") {
    api = bench::Api::kExtAuthz;
  } else if (api_name == "authzen") {
    api = bench::Api::kAuthzen;
  } else if (api_name != "verdict") {
    err << "verdict bench: --api is verdict, ext_authz, authzen or cerbos\n";
    return kExitError;
  }
  if (api == bench::Api::kAuthzen && parsed->Has("spin")) {
    err << "verdict bench: --spin does not apply to --api authzen\n";
    return kExitError;
  }
  if (parsed->Has("cpus")) {
    if (absl::Status pinned = bench::PinToCpus(parsed->Get("cpus", ""));
        !pinned.ok()) {
      err << "verdict bench: " << pinned.message() << "\n";
      return kExitError;
    }
  }
  options.threads = UsableCpuCount();
  if (!ParseInt(*parsed, "threads", &options.threads, err)) return kExitError;
  options.spin = parsed->Has("spin");

  bench::RequestMix mix;
  if (parsed->Has("requests")) {
    absl::StatusOr<bench::RequestMix> loaded =
        bench::LoadRequestMix(parsed->Get("requests", ""), api);
    if (!loaded.ok()) {
      err << "verdict bench: " << loaded.status().message() << "\n";
      return kExitError;
    }
    mix = *std::move(loaded);
  } else if (api == bench::Api::kCerbos) {
    err << "verdict bench: --api cerbos needs --requests\n";
    return kExitError;
  } else {
    mix = bench::BuiltinRequestMix(api);
  }

  if (parsed->Has("decisions")) {
    absl::StatusOr<std::vector<std::string>> decisions =
        bench::CollectDecisions(options.server, mix);
    if (!decisions.ok()) {
      err << "verdict bench: " << decisions.status().message() << "\n";
      return kExitError;
    }
    bool failed = false;
    for (const std::string& line : *decisions) {
      out << line << "\n";
      failed |= line.rfind("error", 0) == 0;
    }
    return failed ? kExitDenied : kExitOk;
  }

  absl::StatusOr<bench::LoadResult> result = bench::RunLoad(options, mix);
  if (!result.ok()) {
    err << "verdict bench: " << result.status().message() << "\n";
    return kExitError;
  }
  if (parsed->Has("json")) {
    bench::WriteJson(options, *result, out);
  } else {
    bench::WriteText(options, *result, out);
  }
  return result->errors == 0 ? kExitOk : kExitDenied;
}

}  // namespace verdict::cli
