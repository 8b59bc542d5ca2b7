#include "server/grants/grant_token.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/authn/base64url.h"
#include "server/authn/jwk.h"
#include "server/authn/openssl_util.h"
#include "server/authn/strict_json.h"
#include "server/common/log.h"

namespace verdict::grants {
namespace {

using authn::JwsAlgorithm;
using model::ReasonCode;
using nlohmann::json;

// RFC 7519 NumericDate, limited to whole seconds in [0, 10^11): Verdict only
// writes such values, so anything else is not one of its tokens.
constexpr int64_t kNumericDateLimit = 100000000000;

// Payload object, "principal", "attributes": the attributes struct opens the
// third level of JSON nesting.
constexpr int kAttributesDepth = 3;

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

GrantOutcome Fail(ReasonCode code, std::string message,
                  std::shared_ptr<const GrantClaims> claims = nullptr) {
  GrantOutcome outcome;
  outcome.code = code;
  outcome.message = std::move(message);
  outcome.claims = std::move(claims);
  return outcome;
}

GrantOutcome Succeed(std::shared_ptr<const VerifiedGrant> grant) {
  GrantOutcome outcome;
  outcome.claims = std::shared_ptr<const GrantClaims>(grant, &grant->claims());
  outcome.grant = std::move(grant);
  return outcome;
}

std::optional<int64_t> NumericDateOf(absl::Time time) {
  if (time < absl::UnixEpoch() ||
      time >= absl::FromUnixSeconds(kNumericDateLimit)) {
    return std::nullopt;
  }
  return absl::ToUnixSeconds(time);
}

std::optional<absl::Time> ParseNumericDate(const json& value) {
  int64_t seconds = 0;
  if (value.is_number_unsigned()) {
    const uint64_t unsigned_seconds = value.get<uint64_t>();
    if (unsigned_seconds >= kNumericDateLimit) return std::nullopt;
    seconds = static_cast<int64_t>(unsigned_seconds);
  } else if (value.is_number_integer()) {
    seconds = value.get<int64_t>();
    if (seconds < 0 || seconds >= kNumericDateLimit) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(seconds);
}

// The strings of `list` as a JSON array.
json StringArray(const model::StringList& list) {
  json array = json::array();
  for (const std::string& value : list) array.push_back(value);
  return array;
}

bool StructToJson(const model::Struct& object, int depth, json* out);

// Copies `value`, which opens JSON nesting level `depth` if it is a struct or
// a list. False when that is deeper than a token may be or a number is not
// finite (JSON has no NaN or infinity).
bool ValueToJson(const google::protobuf::Value& value, int depth, json* out) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      if (!std::isfinite(value.number_value())) return false;
      *out = value.number_value();
      return true;
    case google::protobuf::Value::kStringValue:
      *out = value.string_value();
      return true;
    case google::protobuf::Value::kBoolValue:
      *out = value.bool_value();
      return true;
    case google::protobuf::Value::kStructValue:
      return StructToJson(value.struct_value(), depth, out);
    case google::protobuf::Value::kListValue:
      if (depth > authn::kMaxJsonDepth) return false;
      *out = json::array();
      for (const google::protobuf::Value& element :
           value.list_value().values()) {
        json copied;
        if (!ValueToJson(element, depth + 1, &copied)) return false;
        out->push_back(std::move(copied));
      }
      return true;
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      *out = nullptr;
      return true;
  }
  return false;
}

bool StructToJson(const model::Struct& object, int depth, json* out) {
  if (depth > authn::kMaxJsonDepth) return false;
  *out = json::object();
  for (const auto& [name, value] : object.fields()) {
    if (!ValueToJson(value, depth + 1, &(*out)[name])) return false;
  }
  return true;
}

// The payload text of `claims`, or why they cannot be signed. May throw
// nlohmann's exception for a string that is not UTF-8.
absl::StatusOr<std::string> PayloadOf(const GrantClaims& claims) {
  auto invalid = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("grant claims: ", why));
  };
  if (claims.id.empty()) return invalid("id is empty");
  if (claims.subject.empty()) return invalid("subject is empty");
  if (claims.auth_method.empty()) return invalid("auth method is empty");
  if (absl::Status task = ValidateTask(claims.task); !task.ok()) {
    return invalid(task.message());
  }
  if (absl::Status scope = ValidateScope(claims.scope); !scope.ok()) {
    return invalid(scope.message());
  }
  const std::optional<int64_t> iat = NumericDateOf(claims.issued_at);
  const std::optional<int64_t> exp = NumericDateOf(claims.expires_at);
  if (!iat.has_value() || !exp.has_value()) {
    return invalid("issued_at or expires_at is not a NumericDate");
  }
  if (*exp <= *iat) {
    return invalid("expires_at is not after issued_at (in whole seconds)");
  }
  json attributes;
  if (!StructToJson(claims.attributes, kAttributesDepth, &attributes)) {
    return invalid(
        "attributes are nested too deeply or hold a non-finite number");
  }
  json scope = json::array();
  for (const ScopeItem& item : claims.scope) {
    scope.push_back({{"tool_server", item.tool_server},
                     {"tool_name", item.tool_name},
                     {"action", item.action},
                     {"resource", item.resource}});
  }
  const json payload = {{"iss", std::string(kGrantIssuer)},
                        {"jti", claims.id},
                        {"sub", claims.subject},
                        {"iat", *iat},
                        {"nbf", *iat},
                        {"exp", *exp},
                        {"task",
                         {{"id", claims.task.id},
                          {"purpose", claims.task.purpose},
                          {"environment", claims.task.environment}}},
                        {"scope", std::move(scope)},
                        {"principal",
                         {{"roles", StringArray(claims.roles)},
                          {"scopes", StringArray(claims.scopes)},
                          {"attributes", std::move(attributes)},
                          {"trust_domain", claims.trust_domain},
                          {"auth", claims.auth_method}}}};
  return payload.dump();
}

const std::string* StringMember(const json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

bool StringListMember(const json& object, std::string_view name,
                      model::StringList* out) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return false;
  for (const json& element : *it) {
    if (!element.is_string()) return false;
    *out->Add() = element.get_ref<const std::string&>();
  }
  return true;
}

struct ParsedClaims {
  GrantClaims claims;
  absl::Time not_before;
};

// The claims of a payload whose signature verified, or why it is not a
// grant Verdict would have signed.
absl::StatusOr<ParsedClaims> ParseClaims(const json& payload) {
  auto malformed = [](absl::string_view claim) {
    return absl::InvalidArgumentError(
        absl::StrCat("grant token claim ", claim, " is missing or malformed"));
  };
  ParsedClaims parsed;
  GrantClaims& claims = parsed.claims;
  const std::string* iss = StringMember(payload, "iss");
  if (iss == nullptr || *iss != kGrantIssuer) {
    return absl::InvalidArgumentError("grant token iss is not verdict");
  }
  const std::string* jti = StringMember(payload, "jti");
  if (jti == nullptr || jti->empty()) return malformed("jti");
  claims.id = *jti;
  const std::string* sub = StringMember(payload, "sub");
  if (sub == nullptr || sub->empty()) return malformed("sub");
  claims.subject = *sub;

  std::optional<absl::Time> times[3];
  const char* const kTimeClaims[3] = {"iat", "nbf", "exp"};
  for (int i = 0; i < 3; ++i) {
    const auto member = payload.find(kTimeClaims[i]);
    if (member != payload.end()) times[i] = ParseNumericDate(*member);
    if (!times[i].has_value()) return malformed(kTimeClaims[i]);
  }
  claims.issued_at = *times[0];
  parsed.not_before = *times[1];
  claims.expires_at = *times[2];

  const auto task = payload.find("task");
  if (task == payload.end() || !task->is_object()) return malformed("task");
  const std::string* task_id = StringMember(*task, "id");
  const std::string* purpose = StringMember(*task, "purpose");
  const std::string* environment = StringMember(*task, "environment");
  if (task_id == nullptr || purpose == nullptr || environment == nullptr) {
    return malformed("task");
  }
  claims.task = Task{*task_id, *purpose, *environment};
  if (!ValidateTask(claims.task).ok()) return malformed("task");

  const auto scope = payload.find("scope");
  if (scope == payload.end() || !scope->is_array()) return malformed("scope");
  for (const json& element : *scope) {
    if (!element.is_object()) return malformed("scope");
    const std::string* fields[4] = {StringMember(element, "tool_server"),
                                    StringMember(element, "tool_name"),
                                    StringMember(element, "action"),
                                    StringMember(element, "resource")};
    for (const std::string* field : fields) {
      if (field == nullptr) return malformed("scope");
    }
    claims.scope.push_back(
        ScopeItem{*fields[0], *fields[1], *fields[2], *fields[3]});
  }
  if (!ValidateScope(claims.scope).ok()) return malformed("scope");

  const auto principal = payload.find("principal");
  if (principal == payload.end() || !principal->is_object()) {
    return malformed("principal");
  }
  const auto attributes = principal->find("attributes");
  const std::string* trust_domain = StringMember(*principal, "trust_domain");
  const std::string* auth = StringMember(*principal, "auth");
  if (!StringListMember(*principal, "roles", &claims.roles) ||
      !StringListMember(*principal, "scopes", &claims.scopes) ||
      attributes == principal->end() || !attributes->is_object() ||
      trust_domain == nullptr || auth == nullptr || auth->empty()) {
    return malformed("principal");
  }
  google::protobuf::Value attributes_value;
  authn::JsonToProtoValue(*attributes, &attributes_value);
  claims.attributes.Swap(attributes_value.mutable_struct_value());
  claims.trust_domain = *trust_domain;
  claims.auth_method = *auth;
  return parsed;
}

// "ES256", "EdDSA" or "ES256, EdDSA": what the keys of `keys` sign with.
std::string AlgorithmsOf(const GrantKeySet& keys) {
  std::string names;
  for (const JwsAlgorithm algorithm :
       {JwsAlgorithm::kES256, JwsAlgorithm::kEdDSA}) {
    if (!keys.Uses(algorithm)) continue;
    absl::StrAppend(&names, names.empty() ? "" : ", ",
                    Piece(authn::JwsAlgorithmName(algorithm)));
  }
  return names;
}

}  // namespace

VerifiedGrant::VerifiedGrant(GrantClaims claims, absl::Time not_before)
    : claims_(std::move(claims)), not_before_(not_before) {
  google::protobuf::ListValue* items =
      (*scope_.mutable_fields())["items"].mutable_list_value();
  for (const ScopeItem& item : claims_.scope) {
    auto* fields =
        items->add_values()->mutable_struct_value()->mutable_fields();
    (*fields)["tool_server"].set_string_value(item.tool_server);
    (*fields)["tool_name"].set_string_value(item.tool_name);
    (*fields)["action"].set_string_value(item.action);
    (*fields)["resource"].set_string_value(item.resource);
  }
}

model::Principal VerifiedGrant::AsPrincipal() const {
  model::Principal principal;
  principal.id = claims_.subject;
  principal.roles = &claims_.roles;
  principal.scopes = &claims_.scopes;
  principal.attributes = &claims_.attributes;
  principal.trust_domain = claims_.trust_domain;
  principal.auth = kGrantAuthMethod;
  return principal;
}

model::Grant VerifiedGrant::AsEngineGrant() const {
  model::Grant grant;
  grant.present = true;
  grant.id = claims_.id;
  grant.task = claims_.task.id;
  grant.environment = claims_.task.environment;
  grant.scope = &scope_;
  grant.expires_at = claims_.expires_at;
  return grant;
}

GrantVerifier::GrantVerifier(const GrantKeys* keys, size_t cache_capacity)
    : keys_(keys), cache_(cache_capacity) {}

GrantVerifier::~GrantVerifier() = default;

GrantOutcome GrantVerifier::Verify(std::string_view token,
                                   absl::Time now) const {
  if (token.size() > kMaxGrantTokenBytes) {
    return Fail(ReasonCode::kUnauthenticated,
                absl::StrCat("grant token larger than ", kMaxGrantTokenBytes,
                             " bytes"));
  }
  Sha256Digest digest{};
  if (cache_.enabled()) {
    digest = token_digests_.Of(token);
    // The cache keeps an entry only until exp; nbf is checked here so that
    // an earlier `now` gets the same answer as a fresh verification.
    std::shared_ptr<const VerifiedGrant> cached = cache_.Find(digest, now);
    if (cached != nullptr && now >= cached->not_before()) {
      return Succeed(std::move(cached));
    }
  }
  // Read before the key set: a verification that raced with a key reload
  // (which publishes, then clears the cache) is not cached.
  const uint64_t generation = cache_.generation();
  GrantOutcome outcome = VerifyNoThrow(token, now);
  if (outcome.ok()) {
    cache_.Insert(digest, outcome.grant, outcome.grant->claims().expires_at,
                  now, generation);
  }
  return outcome;
}

GrantOutcome GrantVerifier::VerifyNoThrow(std::string_view token,
                                          absl::Time now) const {
  // JSON accesses are type-checked first; this keeps a missed case (or an
  // allocation failure) from escaping as an exception.
  try {
    return VerifySignedToken(token, now, *keys_->Current());
  } catch (...) {
    return Fail(ReasonCode::kUnauthenticated, "grant token could not be read");
  }
}

GrantOutcome GrantVerifier::VerifySignedToken(std::string_view token,
                                              absl::Time now,
                                              const GrantKeySet& keys) const {
  std::string_view malformed;
  const std::optional<authn::CompactJws> jws =
      authn::DecodeCompactJws(token, &malformed);
  if (!jws.has_value()) {
    return Fail(
        ReasonCode::kUnauthenticated,
        absl::StrCat("grant token ",
                     absl::string_view(malformed.data(), malformed.size())));
  }
  const absl::StatusOr<json> header = authn::ParseStrictJsonObject(jws->header);
  if (!header.ok()) {
    return Fail(
        ReasonCode::kUnauthenticated,
        absl::StrCat("grant token header: ", header.status().message()));
  }
  const std::string* alg = StringMember(*header, "alg");
  if (alg == nullptr) {
    return Fail(ReasonCode::kUnauthenticated, "grant token header has no alg");
  }
  const std::optional<JwsAlgorithm> algorithm = authn::ParseJwsAlgorithm(*alg);
  if (!algorithm.has_value() || !keys.Uses(*algorithm)) {
    return Fail(ReasonCode::kAlgorithmNotAllowed,
                absl::StrCat("grant token alg is not one of the signing "
                             "keys' (",
                             AlgorithmsOf(keys), ")"));
  }
  const std::string* typ = StringMember(*header, "typ");
  if (typ == nullptr || *typ != kGrantTokenType) {
    return Fail(
        ReasonCode::kUnauthenticated,
        absl::StrCat("grant token typ is not ", Piece(kGrantTokenType)));
  }
  if (header->contains("crit")) {
    return Fail(ReasonCode::kUnauthenticated,
                "grant token header has a crit extension that is not "
                "understood");
  }
  const auto kid_member = header->find("kid");
  if (kid_member != header->end() && !kid_member->is_string()) {
    return Fail(ReasonCode::kUnauthenticated,
                "grant token kid is not a string");
  }
  const GrantKey* key =
      kid_member == header->end()
          ? nullptr
          : keys.Find(kid_member->get_ref<const std::string&>());
  if (key == nullptr) {
    return Fail(ReasonCode::kSignatureInvalid,
                "grant token kid names none of this server's signing keys");
  }
  if (key->algorithm() != *algorithm) {
    return Fail(
        ReasonCode::kAlgorithmNotAllowed,
        absl::StrCat("grant token alg is not its key's (",
                     Piece(authn::JwsAlgorithmName(key->algorithm())), ")"));
  }
  if (!key->Verify(jws->signing_input, jws->signature)) {
    return Fail(ReasonCode::kSignatureInvalid,
                "grant token signature is invalid");
  }

  // Signed by this server's key: the payload may now be read.
  const absl::StatusOr<json> payload =
      authn::ParseStrictJsonObject(jws->payload);
  if (!payload.ok()) {
    return Fail(
        ReasonCode::kUnauthenticated,
        absl::StrCat("grant token claims: ", payload.status().message()));
  }
  absl::StatusOr<ParsedClaims> parsed = ParseClaims(*payload);
  if (!parsed.ok()) {
    return Fail(ReasonCode::kUnauthenticated,
                std::string(parsed.status().message()));
  }
  if (now >= parsed->claims.expires_at) {
    return Fail(ReasonCode::kGrantExpired, "grant has expired",
                std::make_shared<const GrantClaims>(std::move(parsed->claims)));
  }
  if (now < parsed->not_before) {
    return Fail(ReasonCode::kTokenNotYetValid, "grant nbf is in the future",
                std::make_shared<const GrantClaims>(std::move(parsed->claims)));
  }
  return Succeed(std::shared_ptr<const VerifiedGrant>(
      new VerifiedGrant(std::move(parsed->claims), parsed->not_before)));
}

GrantSigner::GrantSigner(std::unique_ptr<GrantKeys> keys, size_t cache_capacity)
    : keys_(std::move(keys)),
      verifier_(new GrantVerifier(keys_.get(), cache_capacity)) {}

GrantSigner::~GrantSigner() = default;

absl::StatusOr<std::unique_ptr<GrantSigner>> GrantSigner::Create(
    GrantKeySource source, size_t cache_capacity) {
  absl::StatusOr<std::unique_ptr<GrantKeys>> keys =
      GrantKeys::Load(std::move(source));
  if (!keys.ok()) return keys.status();
  return std::unique_ptr<GrantSigner>(
      new GrantSigner(*std::move(keys), cache_capacity));
}

absl::StatusOr<std::unique_ptr<GrantSigner>> GrantSigner::FromKeyFile(
    const std::string& path, size_t cache_capacity) {
  GrantKeySource source;
  source.key_file = path;
  return Create(std::move(source), cache_capacity);
}

absl::StatusOr<bool> GrantSigner::ReloadKeys() {
  const absl::StatusOr<bool> changed = keys_->Reload();
  // Grants verified with a key that is gone must not outlive it.
  if (changed.ok() && *changed) verifier_->cache_.Clear();
  return changed;
}

absl::Status GrantSigner::StartWatching(absl::Duration debounce) {
  absl::StatusOr<std::unique_ptr<DirWatcher>> watcher =
      DirWatcher::Start(keys_->WatchedDirectory(), debounce, [this] {
        const absl::StatusOr<bool> changed = ReloadKeys();
        if (!changed.ok()) {
          Log(LogLevel::kError,
              "grant signing keys reload: ", changed.status().message());
          return;
        }
        if (!*changed) return;
        const std::shared_ptr<const GrantKeySet> keys = keys_->Latest();
        Log(LogLevel::kInfo, "grant signing keys reloaded: ",
            authn::JwsAlgorithmName(keys->active().algorithm()), " key ",
            keys->active().kid(),
            " signs (keys in the set: ", keys->keys().size(), ")");
      });
  if (!watcher.ok()) return watcher.status();
  watcher_ = *std::move(watcher);
  return absl::OkStatus();
}

absl::StatusOr<std::string> GrantSigner::Sign(const GrantClaims& claims) const {
  absl::StatusOr<std::string> payload;
  try {
    payload = PayloadOf(claims);
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(
        "grant claims: a string is not valid UTF-8");
  } catch (...) {
    return absl::InternalError("grant claims could not be encoded");
  }
  if (!payload.ok()) return payload.status();
  // A copy, not Current(): signing is not the hot path, and the set must
  // outlive any Current() the caller's thread makes meanwhile.
  const std::shared_ptr<const GrantKeySet> keys = keys_->Latest();
  const GrantKey& key = keys->active();
  std::string token =
      absl::StrCat(key.encoded_header(), ".", authn::Base64UrlEncode(*payload));
  const std::optional<std::string> signature = key.Sign(token);
  if (!signature.has_value()) {
    return absl::InternalError(
        absl::StrCat("grant signing failed: ", authn::TakeOpenSslError()));
  }
  absl::StrAppend(&token, ".", authn::Base64UrlEncode(*signature));
  if (token.size() > kMaxGrantTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("grant token would be ", token.size(), " bytes; at most ",
                     kMaxGrantTokenBytes));
  }
  return token;
}

}  // namespace verdict::grants
