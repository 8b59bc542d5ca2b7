#include "server/decision/mcp_servers.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/common/quote.h"

namespace verdict::decision {
namespace {

// Debian's Abseil has its own string_view, which absl::StrCat and
// absl::flat_hash_map's lookups want.
absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

constexpr std::string_view kWellKnown = "/.well-known/oauth-protected-resource";

// An absolute http(s) URI split where RFC 9728 section 3.1 inserts the
// well-known path: "https://host:port" and the path and query after it.
struct SplitUri {
  std::string_view origin;
  std::string_view rest;
};

// The parts of `uri`; nullopt, and why in `*problem`, when it is not an
// absolute http or https URI with a host and without user info or fragment
// (RFC 8707 section 2). verdictd's configuration (server/config) checks
// this, and more, with positions in the file before it gets here.
std::optional<SplitUri> Split(std::string_view uri, std::string* problem) {
  size_t scheme_end = 0;
  if (uri.starts_with("https://")) {
    scheme_end = 8;
  } else if (uri.starts_with("http://")) {
    scheme_end = 7;
  } else {
    *problem = "does not start with https:// or http://";
    return std::nullopt;
  }
  if (uri.find('#') != std::string_view::npos) {
    *problem = "has a fragment";
    return std::nullopt;
  }
  const size_t authority_end =
      std::min(uri.find_first_of("/?", scheme_end), uri.size());
  const std::string_view authority =
      uri.substr(scheme_end, authority_end - scheme_end);
  if (authority.find('@') != std::string_view::npos) {
    *problem = "has user info";
    return std::nullopt;
  }
  if (authority.empty() || authority.front() == ':') {
    *problem = "has no host";
    return std::nullopt;
  }
  return SplitUri{.origin = uri.substr(0, authority_end),
                  .rest = uri.substr(authority_end)};
}

// RFC 9728 section 3.1: the well-known path goes between the host (and
// port) and the path and query, and a path that is only "/" is dropped.
std::string DefaultMetadataUrl(const SplitUri& resource) {
  std::string_view rest = resource.rest;
  if (rest.starts_with("/") && (rest.size() == 1 || rest[1] == '?')) {
    rest.remove_prefix(1);
  }
  return absl::StrCat(Piece(resource.origin), Piece(kWellKnown), Piece(rest));
}

}  // namespace

absl::StatusOr<McpServers> McpServers::Build(
    const std::vector<McpServerConfig>& servers) {
  McpServers out;
  out.servers_.reserve(servers.size());
  for (size_t i = 0; i < servers.size(); ++i) {
    const McpServerConfig& config = servers[i];
    auto invalid = [&](std::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mcp_servers[", i, "] ", QuoteToken(config.name), ": ", Piece(why)));
    };
    if (config.name.empty()) return invalid("name is empty");
    if (const auto [first, inserted] = out.by_name_.emplace(config.name, i);
        !inserted) {
      return invalid(
          absl::StrCat("name is taken by mcp_servers[", first->second, "]"));
    }
    std::string problem;
    const std::optional<SplitUri> resource = Split(config.resource, &problem);
    if (!resource.has_value()) {
      return invalid(absl::StrCat("resource ", QuoteToken(config.resource), " ",
                                  problem, " (RFC 8707 section 2)"));
    }
    // Servers sharing a resource would accept each other's tokens.
    for (size_t j = 0; j < i; ++j) {
      if (servers[j].resource == config.resource) {
        return invalid(absl::StrCat("resource is also mcp_servers[", j,
                                    "]'s: each server needs its own"));
      }
    }
    McpServer& server = out.servers_.emplace_back();
    server.name = config.name;
    server.resource = config.resource;
    server.resource_metadata = config.resource_metadata.empty()
                                   ? DefaultMetadataUrl(*resource)
                                   : config.resource_metadata;
    for (const std::string& pattern : config.callers) {
      absl::StatusOr<policy::Glob> glob = policy::Glob::Compile(pattern);
      if (!glob.ok()) {
        return invalid(absl::StrCat("callers: ", glob.status().message()));
      }
      server.callers.push_back(*std::move(glob));
    }
  }
  return out;
}

const McpServer* McpServers::Find(std::string_view name) const {
  const auto found = by_name_.find(Piece(name));
  return found == by_name_.end() ? nullptr : &servers_[found->second];
}

std::string McpServers::AudienceProblem(const authn::Identity& identity,
                                        std::string_view server) const {
  if (identity.method != "jwt") return "";
  const std::vector<std::string>& audiences = identity.audiences;
  if (const McpServer* bound = Find(server); bound != nullptr) {
    if (std::find(audiences.begin(), audiences.end(), bound->resource) !=
        audiences.end()) {
      return "";
    }
    // The name is quoted bounded (common/quote.h): it came in the request.
    return absl::StrCat("token audience does not include ", bound->resource,
                        ", the resource of MCP server ",
                        QuoteToken(bound->name));
  }
  // A server that is not configured has no resource of its own: a token
  // minted for a configured server must not be spent there, so one of the
  // issuer's own audiences has to be in it.
  for (const std::string& audience : audiences) {
    if (std::none_of(servers_.begin(), servers_.end(),
                     [&audience](const McpServer& configured) {
                       return configured.resource == audience;
                     })) {
      return "";
    }
  }
  return absl::StrCat("MCP server ", QuoteToken(server),
                      " is not configured, so the token audience must include "
                      "one of its issuer's own audiences, not only resources "
                      "of configured MCP servers");
}

bool McpServers::MaySpeakFor(std::string_view caller_id,
                             std::string_view server) const {
  const McpServer* bound = Find(server);
  if (bound == nullptr || bound->callers.empty()) return true;
  return std::any_of(bound->callers.begin(), bound->callers.end(),
                     [caller_id](const policy::Glob& glob) {
                       return glob.Matches(caller_id);
                     });
}

}  // namespace verdict::decision
