#include "server/authn/jwt_authenticator.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/authn/base64url.h"
#include "server/authn/strict_json.h"
#include "server/common/log.h"

namespace verdict::authn {
namespace {

using model::ReasonCode;

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

AuthOutcome Fail(ReasonCode code, std::string message) {
  return AuthOutcome::Failure(code, std::move(message));
}

// NumericDate (RFC 7519 section 2) limited to [0, 10^11) seconds: anything
// else is malformed rather than "forever".
std::optional<absl::Time> NumericDate(const nlohmann::json& value) {
  if (!value.is_number()) return std::nullopt;
  const double seconds = value.get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds >= 1e11) {
    return std::nullopt;
  }
  return absl::UnixEpoch() + absl::Seconds(seconds);
}

// Appends the strings of `claim` (a list of strings, or one string, split at
// spaces when `split_string`) to `out`; false for any other shape.
bool AppendStrings(const nlohmann::json& claim, bool split_string,
                   model::StringList* out) {
  if (claim.is_string()) {
    const std::string& text = claim.get_ref<const std::string&>();
    if (!split_string) {
      *out->Add() = text;
      return true;
    }
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find(' ', start);
      if (end == std::string::npos) end = text.size();
      if (end > start) out->Add()->assign(text, start, end - start);
      start = end + 1;
    }
    return true;
  }
  if (!claim.is_array()) return false;
  for (const auto& element : claim) {
    if (!element.is_string()) return false;
    *out->Add() = element.get_ref<const std::string&>();
  }
  return true;
}

}  // namespace

struct JwtAuthenticator::Issuer {
  JwtIssuerOptions options;
  // options.audiences as a set: with every MCP server's resource in it, a
  // token's aud list is checked in time linear in its length.
  absl::flat_hash_set<std::string> audiences;
  std::array<bool, kJwsAlgorithmCount> allowed{};
  mutable absl::Mutex mu;
  std::shared_ptr<const JwkSet> keys ABSL_GUARDED_BY(mu);
  FileStamp stamp;  // guarded by the authenticator's reload_mu_

  std::shared_ptr<const JwkSet> Keys() const {
    absl::MutexLock lock(&mu);
    return keys;
  }
};

JwtAuthenticator::JwtAuthenticator(JwtAuthenticatorOptions options)
    : options_(std::move(options)), cache_(options_.cache_capacity) {}

JwtAuthenticator::~JwtAuthenticator() = default;

absl::StatusOr<std::unique_ptr<JwtAuthenticator>> JwtAuthenticator::Create(
    JwtAuthenticatorOptions options) {
  std::unique_ptr<JwtAuthenticator> authenticator(
      new JwtAuthenticator(std::move(options)));
  for (const JwtIssuerOptions& issuer_options :
       authenticator->options_.issuers) {
    const std::string& name = issuer_options.issuer;
    auto invalid = [&name](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWT issuer \"", name, "\": ", why));
    };
    if (name.empty()) return invalid("issuer is empty");
    if (issuer_options.audiences.empty()) {
      return invalid("no audiences: tokens must be bound to this server");
    }
    if (issuer_options.claims.subject.empty()) {
      return invalid("claims.subject is empty");
    }
    if (issuer_options.clock_skew < absl::ZeroDuration() ||
        issuer_options.max_lifetime < absl::ZeroDuration()) {
      return invalid("negative clock_skew or max_lifetime");
    }
    auto issuer = std::make_unique<Issuer>();
    issuer->options = issuer_options;
    issuer->audiences.insert(issuer_options.audiences.begin(),
                             issuer_options.audiences.end());
    if (issuer_options.algorithms.empty()) return invalid("no algorithms");
    for (const std::string& algorithm : issuer_options.algorithms) {
      const std::optional<JwsAlgorithm> parsed = ParseJwsAlgorithm(algorithm);
      if (!parsed.has_value()) {
        return invalid(absl::StrCat("algorithm \"", algorithm,
                                    "\" is not supported (asymmetric "
                                    "signatures only)"));
      }
      issuer->allowed[static_cast<int>(*parsed)] = true;
    }
    absl::StatusOr<FileStamp> stamp = StampFile(issuer_options.jwks_file);
    if (!stamp.ok()) return invalid(stamp.status().message());
    absl::StatusOr<std::string> text = ReadKeyFile(issuer_options.jwks_file);
    if (!text.ok()) return invalid(text.status().message());
    absl::StatusOr<JwkSet> keys = ParseJwks(*text);
    if (!keys.ok()) {
      return invalid(absl::StrCat(issuer_options.jwks_file, ": ",
                                  keys.status().message()));
    }
    issuer->stamp = *stamp;
    issuer->keys = std::make_shared<const JwkSet>(*std::move(keys));
    if (!authenticator->issuers_.emplace(name, std::move(issuer)).second) {
      return invalid("configured twice");
    }
  }
  return authenticator;
}

AuthOutcome JwtAuthenticator::Authenticate(std::string_view token,
                                           absl::Time now) const {
  if (token.empty()) {
    return Fail(ReasonCode::kUnauthenticated, "empty bearer token");
  }
  if (token.size() > options_.max_token_bytes) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("bearer token larger than ",
                             options_.max_token_bytes, " bytes"));
  }
  if (options_.cache_capacity == 0) return VerifyNoThrow(token, now);
  const Sha256Digest digest = sha256_.Of(token);
  if (std::shared_ptr<const Identity> cached = cache_.Find(digest, now)) {
    return AuthOutcome::Success(std::move(cached));
  }
  const uint64_t generation = cache_.generation();
  AuthOutcome outcome = VerifyNoThrow(token, now);
  if (outcome.ok()) {
    const Issuer& issuer = *issuers_.find(outcome.identity->issuer)->second;
    cache_.Insert(digest, outcome.identity,
                  outcome.identity->expires_at + issuer.options.clock_skew, now,
                  generation);
  }
  return outcome;
}

AuthOutcome JwtAuthenticator::VerifyNoThrow(std::string_view token,
                                            absl::Time now) const {
  // Every JSON access is type-checked first; this is the boundary that keeps
  // a missed case (or an allocation failure) from escaping as an exception.
  try {
    return Verify(token, now);
  } catch (...) {
    return Fail(ReasonCode::kUnauthenticated, "bearer token could not be read");
  }
}

AuthOutcome JwtAuthenticator::Verify(std::string_view token,
                                     absl::Time now) const {
  // Structure: header.payload.signature, nothing else.
  std::string_view malformed;
  std::optional<CompactJws> jws = DecodeCompactJws(token, &malformed);
  if (!jws.has_value()) {
    return Fail(
        ReasonCode::kUnauthenticated,
        absl::StrCat("bearer token ",
                     absl::string_view(malformed.data(), malformed.size())));
  }
  absl::StatusOr<nlohmann::json> header = ParseStrictJsonObject(jws->header);
  if (!header.ok()) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("token header: ", header.status().message()));
  }
  const auto alg_member = header->find("alg");
  if (alg_member == header->end() || !alg_member->is_string()) {
    return Fail(ReasonCode::kUnauthenticated, "token header has no alg");
  }
  const std::optional<JwsAlgorithm> algorithm =
      ParseJwsAlgorithm(alg_member->get_ref<const std::string&>());
  if (!algorithm.has_value()) {
    return Fail(ReasonCode::kAlgorithmNotAllowed,
                "token alg is not an accepted signature algorithm");
  }
  if (jws->signature.empty()) {
    return Fail(ReasonCode::kSignatureInvalid, "token signature is empty");
  }
  if (header->contains("crit")) {
    return Fail(ReasonCode::kUnauthenticated,
                "token header has a crit extension that is not understood");
  }
  const auto kid_member = header->find("kid");
  if (kid_member != header->end() && !kid_member->is_string()) {
    return Fail(ReasonCode::kUnauthenticated, "token kid is not a string");
  }

  absl::StatusOr<nlohmann::json> claims = ParseStrictJsonObject(jws->payload);
  if (!claims.ok()) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("token claims: ", claims.status().message()));
  }
  const auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string()) {
    return Fail(ReasonCode::kIssuerUnknown, "token has no iss");
  }
  const auto issuer_it = issuers_.find(iss->get_ref<const std::string&>());
  if (issuer_it == issuers_.end()) {
    return Fail(ReasonCode::kIssuerUnknown,
                "token iss is not a configured issuer");
  }
  const Issuer& issuer = *issuer_it->second;
  if (!issuer.allowed[static_cast<int>(*algorithm)]) {
    return Fail(ReasonCode::kAlgorithmNotAllowed,
                absl::StrCat("alg ", Piece(JwsAlgorithmName(*algorithm)),
                             " is not allowed for this issuer"));
  }

  // The key: by kid only; without a kid, the set's only key.
  const std::shared_ptr<const JwkSet> keys = issuer.Keys();
  const Jwk* key = nullptr;
  if (kid_member != header->end()) {
    key = keys->Find(kid_member->get_ref<const std::string&>());
    if (key == nullptr) {
      return Fail(ReasonCode::kSignatureInvalid,
                  "token kid is not in the issuer's JWKS");
    }
  } else if (keys->keys.size() == 1) {
    key = &keys->keys.front();
  } else {
    return Fail(ReasonCode::kSignatureInvalid,
                "token has no kid and the issuer's JWKS has several keys");
  }
  if (!KeyAllowsAlgorithm(*key, *algorithm)) {
    return Fail(ReasonCode::kAlgorithmNotAllowed,
                absl::StrCat("alg ", Piece(JwsAlgorithmName(*algorithm)),
                             " does not fit the key's type or alg"));
  }
  if (!verifier_.Verify(*algorithm, *key, jws->signing_input, jws->signature)) {
    return Fail(ReasonCode::kSignatureInvalid, "token signature is invalid");
  }

  // Time claims.
  const absl::Duration skew = issuer.options.clock_skew;
  std::optional<absl::Time> times[3];  // exp, nbf, iat
  const char* const kTimeClaims[3] = {"exp", "nbf", "iat"};
  for (int i = 0; i < 3; ++i) {
    const auto member = claims->find(kTimeClaims[i]);
    if (member == claims->end()) continue;
    times[i] = NumericDate(*member);
    if (!times[i].has_value()) {
      return Fail(ReasonCode::kUnauthenticated,
                  absl::StrCat("token ", kTimeClaims[i],
                               " is not a valid NumericDate"));
    }
  }
  const std::optional<absl::Time>& exp = times[0];
  const std::optional<absl::Time>& nbf = times[1];
  const std::optional<absl::Time>& iat = times[2];
  if (!exp.has_value()) {
    return Fail(ReasonCode::kUnauthenticated, "token has no exp");
  }
  if (now >= *exp + skew) {
    return Fail(ReasonCode::kTokenExpired, "token has expired");
  }
  if (nbf.has_value() && now + skew < *nbf) {
    return Fail(ReasonCode::kTokenNotYetValid, "token nbf is in the future");
  }
  if (iat.has_value() && now + skew < *iat) {
    return Fail(ReasonCode::kTokenNotYetValid, "token iat is in the future");
  }
  if (issuer.options.max_lifetime > absl::ZeroDuration()) {
    const absl::Time start = iat.has_value()   ? *iat
                             : nbf.has_value() ? *nbf
                                               : now;
    if (*exp - start > issuer.options.max_lifetime) {
      return Fail(ReasonCode::kUnauthenticated,
                  "token lifetime exceeds the issuer's max_lifetime");
    }
  }

  // Audience (RFC 8707): minted for an accepted audience, or refused. The
  // accepted values stay with the identity, which decision/mcp_servers.h
  // binds to the MCP server a request names.
  auto identity = std::make_shared<Identity>();
  const auto aud = claims->find("aud");
  if (aud != claims->end()) {
    auto take = [&issuer, &identity](const nlohmann::json& value) {
      if (!value.is_string()) return;
      const std::string& text = value.get_ref<const std::string&>();
      const std::vector<std::string>& taken = identity->audiences;
      if (issuer.audiences.contains(text) &&
          std::find(taken.begin(), taken.end(), text) == taken.end()) {
        identity->audiences.push_back(text);
      }
    };
    if (aud->is_array()) {
      for (const auto& value : *aud) take(value);
    } else {
      take(*aud);
    }
  }
  if (identity->audiences.empty()) {
    return Fail(ReasonCode::kAudienceMismatch,
                "token aud does not name an accepted audience");
  }

  // Claim mapping.
  const JwtClaimMapping& mapping = issuer.options.claims;
  const auto subject = claims->find(mapping.subject);
  if (subject == claims->end() || !subject->is_string() ||
      subject->get_ref<const std::string&>().empty()) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("token claim ", mapping.subject,
                             " (subject) is missing or not a string"));
  }
  identity->subject = subject->get<std::string>();
  if (!mapping.roles.empty()) {
    const auto roles = claims->find(mapping.roles);
    if (roles != claims->end() &&
        !AppendStrings(*roles, /*split_string=*/false, &identity->roles)) {
      return Fail(ReasonCode::kUnauthenticated,
                  absl::StrCat("token claim ", mapping.roles,
                               " (roles) is not a string list"));
    }
  }
  if (!mapping.scopes.empty()) {
    auto scopes = claims->find(mapping.scopes);
    if (scopes == claims->end() && mapping.scopes == "scope") {
      scopes = claims->find("scp");
    }
    if (scopes != claims->end() &&
        !AppendStrings(*scopes, /*split_string=*/true, &identity->scopes)) {
      return Fail(ReasonCode::kUnauthenticated,
                  absl::StrCat("token claim ", mapping.scopes,
                               " (scopes) is not a string or string list"));
    }
  }
  auto* fields = identity->attributes.mutable_fields();
  for (const std::string& name : mapping.attributes) {
    const auto claim = claims->find(name);
    if (claim != claims->end()) JsonToProtoValue(*claim, &(*fields)[name]);
  }
  identity->trust_domain = std::string(SpiffeTrustDomain(identity->subject));
  identity->method = "jwt";
  identity->issuer = issuer.options.issuer;
  identity->expires_at = *exp;
  return AuthOutcome::Success(std::move(identity));
}

absl::Status JwtAuthenticator::ReloadChangedKeys() {
  absl::MutexLock reload_lock(&reload_mu_);
  std::vector<std::string> errors;
  bool changed = false;
  for (auto& [name, issuer] : issuers_) {
    const std::string& file = issuer->options.jwks_file;
    absl::StatusOr<FileStamp> stamp = StampFile(file);
    if (!stamp.ok()) {
      errors.push_back(std::string(stamp.status().message()));
      continue;
    }
    if (*stamp == issuer->stamp) continue;
    absl::StatusOr<std::string> text = ReadKeyFile(file);
    absl::StatusOr<JwkSet> keys =
        text.ok() ? ParseJwks(*text) : absl::StatusOr<JwkSet>(text.status());
    if (!keys.ok()) {
      errors.push_back(absl::StrCat(file, ": ", keys.status().message(),
                                    " (previous keys kept)"));
      continue;
    }
    auto fresh = std::make_shared<const JwkSet>(*std::move(keys));
    {
      absl::MutexLock lock(&issuer->mu);
      issuer->keys.swap(fresh);
    }
    issuer->stamp = *stamp;
    changed = true;
  }
  // Tokens verified with a key that is gone must not outlive it.
  if (changed) cache_.Clear();
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  }
  return absl::OkStatus();
}

absl::Status JwtAuthenticator::StartWatching(absl::Duration debounce) {
  std::vector<std::string> files;
  for (const auto& [name, issuer] : issuers_) {
    files.push_back(issuer->options.jwks_file);
  }
  absl::StatusOr<std::vector<std::unique_ptr<DirWatcher>>> watchers =
      WatchKeyFiles(files, debounce, [this] {
        const absl::Status status = ReloadChangedKeys();
        if (!status.ok()) {
          Log(LogLevel::kError, "JWKS reload: ", status.message());
        }
      });
  if (!watchers.ok()) return watchers.status();
  absl::MutexLock reload_lock(&reload_mu_);
  for (auto& watcher : *watchers) watchers_.push_back(std::move(watcher));
  return absl::OkStatus();
}

size_t JwtAuthenticator::cached_tokens() const { return cache_.size(); }

}  // namespace verdict::authn
