// `verdict status`: asks every replica of a fleet for Admin.Status, prints
// them side by side and says whether they agree (docs/fleet.md, "Fleet
// visibility").

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/cli/commands.h"
#include "client/verdict_client.h"
#include "nlohmann/json.hpp"
#include "server/common/flags.h"

namespace verdict::cli {
namespace {

constexpr char kUsage[] =
    "usage: verdict status --server ADDR [--server ADDR ...] [flags]\n"
    "\n"
    "Asks every replica for its status and prints them side by side: policy\n"
    "revision, rule count, last reload, shared state (the Redis a fleet\n"
    "shares revocations through) and its lag.\n"
    "Exit status: 0 when every replica answered and all agree (same\n"
    "revision, no reload error, shared state up where configured), 1 when\n"
    "one is unreachable or they disagree (each problem is named), 2 on bad\n"
    "flags.\n"
    "\n"
    "flags:\n";

const std::vector<FlagSpec>& StatusFlags() {
  static const std::vector<FlagSpec>* const kFlags = new std::vector<FlagSpec>{
      {"server", "ADDR", "a replica's address (repeat for each replica)",
       Repeated::kCollect},
      {"ca", "FILE", "connect over TLS: PEM CA of the servers"},
      {"cert", "FILE", "PEM client certificate (with --ca)"},
      {"key", "FILE", "PEM client private key (with --ca)"},
      {"timeout", "DURATION", "per replica, e.g. 2s (default 5s)"},
      {"json", "", "print the replicas and problems as JSON"},
      {"help", "", "print this help"},
  };
  return *kFlags;
}

// One replica's answer, or why there is none.
struct Replica {
  std::string address;
  absl::StatusOr<v1::StatusResponse> status = absl::UnknownError("not asked");
};

std::string ErrorText(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                      status.message());
}

absl::Duration LagOf(const v1::SharedState& shared) {
  return absl::Seconds(shared.lag().seconds()) +
         absl::Nanoseconds(shared.lag().nanos());
}

// Every reason the fleet does not agree, naming the replica.
std::vector<std::string> Problems(const std::vector<Replica>& replicas) {
  std::vector<std::string> problems;
  std::string revision;
  std::string revision_of;
  for (const Replica& replica : replicas) {
    if (!replica.status.ok()) {
      problems.push_back(absl::StrCat(replica.address, " is unreachable (",
                                      ErrorText(replica.status.status()), ")"));
      continue;
    }
    const v1::StatusResponse& status = *replica.status;
    if (revision_of.empty()) {
      revision = status.policy_revision();
      revision_of = replica.address;
    } else if (status.policy_revision() != revision) {
      problems.push_back(absl::StrCat(replica.address, " serves revision ",
                                      status.policy_revision(), ", ",
                                      revision_of, " serves ", revision));
    }
    if (!status.last_reload_ok()) {
      problems.push_back(
          absl::StrCat(replica.address, " failed its last reload",
                       status.last_reload_errors().empty()
                           ? ""
                           : absl::StrCat(": ", status.last_reload_errors(0))));
    }
    if (status.shared_state().configured() && !status.shared_state().up()) {
      problems.push_back(absl::StrCat(
          replica.address, " does not follow the shared state",
          status.shared_state().last_error().empty()
              ? ""
              : absl::StrCat(" (", status.shared_state().last_error(), ")")));
    }
  }
  return problems;
}

void PrintText(const std::vector<Replica>& replicas,
               const std::vector<std::string>& problems, std::ostream& out) {
  out << absl::StrFormat("%-24s %-20s %6s  %-7s %s\n", "REPLICA", "REVISION",
                         "RULES", "RELOAD", "SHARED STATE");
  for (const Replica& replica : replicas) {
    if (!replica.status.ok()) {
      out << absl::StrFormat("%-24s unreachable: %s\n", replica.address,
                             ErrorText(replica.status.status()));
      continue;
    }
    const v1::StatusResponse& status = *replica.status;
    const v1::SharedState& shared = status.shared_state();
    std::string shared_text = "not configured";
    if (shared.configured()) {
      shared_text = shared.up() ? "up" : "DOWN";
      absl::StrAppend(&shared_text, ", lag ",
                      absl::FormatDuration(LagOf(shared)));
      if (!shared.up() && !shared.last_error().empty()) {
        absl::StrAppend(&shared_text, " (", shared.last_error(), ")");
      }
    }
    out << absl::StrFormat("%-24s %-20s %6d  %-7s %s\n", replica.address,
                           status.policy_revision(), status.rule_count(),
                           status.last_reload_ok() ? "ok" : "ERROR",
                           shared_text);
  }
  if (problems.empty()) {
    out << "fleet: " << replicas.size() << " replicas agree\n";
    return;
  }
  out << "fleet: " << problems.size() << " problems\n";
  for (const std::string& problem : problems) out << "  " << problem << "\n";
}

void PrintJson(const std::vector<Replica>& replicas,
               const std::vector<std::string>& problems, std::ostream& out) {
  nlohmann::json json = {{"agree", problems.empty()},
                         {"problems", problems},
                         {"replicas", nlohmann::json::array()}};
  for (const Replica& replica : replicas) {
    nlohmann::json entry = {{"address", replica.address},
                            {"reachable", replica.status.ok()}};
    if (!replica.status.ok()) {
      entry["error"] = ErrorText(replica.status.status());
    } else {
      const v1::StatusResponse& status = *replica.status;
      const v1::SharedState& shared = status.shared_state();
      entry["policy_revision"] = status.policy_revision();
      entry["rule_count"] = status.rule_count();
      entry["last_reload_ok"] = status.last_reload_ok();
      entry["last_reload_errors"] =
          std::vector<std::string>(status.last_reload_errors().begin(),
                                   status.last_reload_errors().end());
      entry["shared_state"] = {
          {"configured", shared.configured()},
          {"up", shared.up()},
          {"lag_seconds", absl::ToDoubleSeconds(LagOf(shared))},
          {"last_error", shared.last_error()},
          {"revocations_applied", shared.revocations_applied()},
      };
    }
    json["replicas"].push_back(std::move(entry));
  }
  // Replace: a server's message is not ours to trust as UTF-8.
  out << json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
      << "\n";
}

}  // namespace

int RunStatus(const std::vector<std::string>& argv, std::ostream& out,
              std::ostream& err) {
  for (const std::string& arg : argv) {
    if (arg == "-h") {
      out << kUsage << FlagsUsage(StatusFlags());
      return kExitOk;
    }
  }
  absl::StatusOr<ParsedFlags> args = ParseFlags(StatusFlags(), argv);
  if (!args.ok()) {
    err << "verdict status: " << args.status().message() << "\n"
        << "run 'verdict status --help' for usage\n";
    return kExitError;
  }
  if (args->Has("help")) {
    out << kUsage << FlagsUsage(StatusFlags());
    return kExitOk;
  }
  if (!args->positional().empty()) {
    err << "verdict status: unexpected argument " << args->positional()[0]
        << "\n";
    return kExitError;
  }
  if (!args->Has("server")) {
    err << "verdict status: --server is required (once per replica)\n";
    return kExitError;
  }
  if (!args->Has("ca") && (args->Has("cert") || args->Has("key"))) {
    err << "verdict status: --cert and --key need --ca\n";
    return kExitError;
  }
  if (args->Has("cert") != args->Has("key")) {
    err << "verdict status: --cert and --key go together\n";
    return kExitError;
  }
  client::ClientOptions options;
  if (args->Has("timeout") &&
      (!absl::ParseDuration(args->Get("timeout", ""), &options.timeout) ||
       options.timeout <= absl::ZeroDuration())) {
    err << "verdict status: --timeout " << args->Get("timeout", "")
        << ": expected a positive duration such as 2s\n";
    return kExitError;
  }
  std::vector<std::unique_ptr<client::VerdictClient>> clients;
  std::vector<Replica> replicas;
  for (const std::string& address : args->GetAll("server")) {
    if (!args->Has("ca")) {
      clients.push_back(client::VerdictClient::Connect(address, options));
    } else {
      absl::StatusOr<std::unique_ptr<client::VerdictClient>> connected =
          client::VerdictClient::ConnectTls(
              address,
              client::ClientTlsOptions{.ca_file = args->Get("ca", ""),
                                       .cert_file = args->Get("cert", ""),
                                       .key_file = args->Get("key", "")},
              options);
      if (!connected.ok()) {
        err << "verdict status: " << connected.status().message() << "\n";
        return kExitError;
      }
      clients.push_back(*std::move(connected));
    }
    replicas.push_back(Replica{.address = address});
  }
  // All at once: an unreachable replica costs one timeout, not one each.
  std::vector<std::thread> askers;
  for (size_t i = 0; i < replicas.size(); ++i) {
    askers.emplace_back([&clients, &replicas, i] {
      replicas[i].status = clients[i]->Status();
    });
  }
  for (std::thread& asker : askers) asker.join();

  const std::vector<std::string> problems = Problems(replicas);
  if (args->Has("json")) {
    PrintJson(replicas, problems, out);
  } else {
    PrintText(replicas, problems, out);
  }
  return problems.empty() ? kExitOk : kExitDenied;
}

}  // namespace verdict::cli
