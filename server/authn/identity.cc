#include "server/authn/identity.h"

#include <utility>

namespace verdict::authn {
namespace {

constexpr std::string_view kSpiffeScheme = "spiffe://";

bool TrustDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool PathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == '/';
}

}  // namespace

model::Principal Identity::AsPrincipal() const {
  model::Principal principal;
  principal.id = subject;
  principal.roles = &roles;
  principal.scopes = &scopes;
  principal.attributes = &attributes;
  principal.trust_domain = trust_domain;
  principal.auth = method;
  return principal;
}

AuthOutcome AuthOutcome::Success(std::shared_ptr<const Identity> identity) {
  AuthOutcome outcome;
  outcome.identity = std::move(identity);
  return outcome;
}

AuthOutcome AuthOutcome::Failure(model::ReasonCode code, std::string message) {
  AuthOutcome outcome;
  outcome.code = code;
  outcome.message = std::move(message);
  return outcome;
}

std::string_view SpiffeTrustDomain(std::string_view id) {
  if (id.size() > 2048 || id.substr(0, kSpiffeScheme.size()) != kSpiffeScheme) {
    return {};
  }
  const std::string_view rest = id.substr(kSpiffeScheme.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  const std::string_view domain = rest.substr(0, slash);
  for (const char c : domain) {
    if (!TrustDomainChar(c)) return {};
  }
  const std::string_view path = rest.substr(slash);
  // Segments must be non-empty and not relative ("/./", "/../", trailing "/").
  size_t start = 0;
  while (start < path.size()) {
    const size_t end = path.find('/', start + 1);
    const std::string_view segment = path.substr(
        start + 1, end == std::string_view::npos ? std::string_view::npos
                                                 : end - start - 1);
    if (segment.empty() || segment == "." || segment == "..") return {};
    for (const char c : segment) {
      if (!PathChar(c)) return {};
    }
    if (end == std::string_view::npos) break;
    start = end;
  }
  return domain;
}

}  // namespace verdict::authn
