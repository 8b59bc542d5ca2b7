// Grant tokens: what Sign writes, that Verify gives it back for both key
// types, and that every malformed, tampered, confused, foreign, oversized,
// expired or early token fails with its own reason code and a message
// without the token. The verified-grant cache returns the same grant and
// still expires.

#include "server/grants/grant_token.h"

#include <openssl/evp.h>

#include <atomic>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/authn/base64url.h"
#include "tests/grants/grant_test_keys.h"

namespace verdict::grants {
namespace {

using authn::Base64UrlDecode;
using authn::Base64UrlEncode;
using authn::JwsAlgorithm;
using authn::testing::GenerateKey;
using authn::testing::KeyKind;
using authn::testing::TestKey;
using google::protobuf::util::MessageDifferencer;
using model::ReasonCode;
using nlohmann::json;
using ::testing::HasSubstr;
using testing::PemFormat;
using testing::SampleClaims;
using testing::TempDir;
using testing::WritePrivateKeyPem;

const absl::Time kIssued = absl::FromUnixSeconds(1800000000);
const absl::Time kExpires = kIssued + absl::Minutes(15);

struct Segments {
  std::string header;
  std::string payload;
  std::string signature;
};

Segments Split(const std::string& token) {
  const size_t first = token.find('.');
  const size_t second = token.find('.', first + 1);
  return {*Base64UrlDecode(token.substr(0, first)),
          *Base64UrlDecode(token.substr(first + 1, second - first - 1)),
          *Base64UrlDecode(token.substr(second + 1))};
}

std::string Join(const Segments& segments) {
  return Base64UrlEncode(segments.header) + "." +
         Base64UrlEncode(segments.payload) + "." +
         Base64UrlEncode(segments.signature);
}

// The kid and alg of the key `signer` signs new grants with.
std::string ActiveKid(const GrantSigner& signer) {
  return signer.keys().Latest()->active().kid();
}
std::string ActiveAlgorithm(const GrantSigner& signer) {
  return std::string(
      authn::JwsAlgorithmName(signer.keys().Latest()->active().algorithm()));
}

void ExpectFailure(const GrantOutcome& outcome, ReasonCode code,
                   std::string_view token, std::string_view why = "") {
  EXPECT_FALSE(outcome.ok()) << why;
  EXPECT_EQ(outcome.grant, nullptr) << why;
  EXPECT_EQ(model::ReasonCodeName(outcome.code), model::ReasonCodeName(code))
      << why << ": " << outcome.message;
  EXPECT_FALSE(outcome.message.empty()) << why;
  if (token.size() > 8) {
    EXPECT_EQ(outcome.message.find(token), std::string::npos) << why;
  }
}

// A signer of one key type, with the key itself so that tests can sign
// hostile tokens with the real key.
class GrantTokenTest : public ::testing::TestWithParam<KeyKind> {
 protected:
  void SetUp() override {
    key_ = GenerateKey(GetParam(), "");
    algorithm_ = GetParam() == KeyKind::kEcP256 ? JwsAlgorithm::kES256
                                                : JwsAlgorithm::kEdDSA;
    const std::string path = dir_.File("grants.pem");
    WritePrivateKeyPem(key_, path);
    absl::StatusOr<std::unique_ptr<GrantSigner>> signer =
        GrantSigner::FromKeyFile(path);
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = *std::move(signer);
  }

  const GrantVerifier& verifier() const { return signer_->verifier(); }

  std::string SignOrDie(const GrantClaims& claims) const {
    absl::StatusOr<std::string> token = signer_->Sign(claims);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? *token : "";
  }

  // A token over `header` and `payload` (raw text) signed with the real key.
  std::string SignRaw(std::string_view header, std::string_view payload) const {
    const std::string input =
        Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
    return input + "." +
           Base64UrlEncode(authn::testing::Sign(algorithm_, key_, input));
  }

  json Header() const {
    return {{"alg", ActiveAlgorithm(*signer_)},
            {"kid", ActiveKid(*signer_)},
            {"typ", "verdict-grant+jwt"}};
  }

  json Payload() const {
    return json::parse(Split(SignOrDie(SampleClaims(kIssued))).payload);
  }

  TempDir dir_;
  TestKey key_;
  JwsAlgorithm algorithm_ = JwsAlgorithm::kES256;
  std::unique_ptr<GrantSigner> signer_;
};

INSTANTIATE_TEST_SUITE_P(KeyTypes, GrantTokenTest,
                         ::testing::Values(KeyKind::kEcP256, KeyKind::kEd25519),
                         [](const auto& info) {
                           return info.param == KeyKind::kEcP256 ? "ES256"
                                                                 : "EdDSA";
                         });

TEST_P(GrantTokenTest, WritesTheDocumentedHeaderAndPayload) {
  const Segments segments = Split(SignOrDie(SampleClaims(kIssued)));
  EXPECT_EQ(json::parse(segments.header), Header());
  EXPECT_EQ(ActiveAlgorithm(*signer_),
            GetParam() == KeyKind::kEcP256 ? "ES256" : "EdDSA");
  // ES256 is R||S (not DER); Ed25519 signatures are 64 bytes too.
  EXPECT_EQ(segments.signature.size(), 64u);
  const json expected = {
      {"iss", "verdict"},
      {"jti", "g-0123456789abcdefghij"},
      {"sub", "spiffe://corp.example/agent/crm/r1"},
      {"iat", 1800000000},
      {"nbf", 1800000000},
      {"exp", 1800000900},
      {"task",
       {{"id", "task-7"},
        {"purpose", "export Q3 contacts for the audit"},
        {"environment", "prod"}}},
      {"scope",
       {{{"tool_server", "crm"},
         {"tool_name", "search_contacts"},
         {"action", ""},
         {"resource", ""}},
        {{"tool_server", "crm"},
         {"tool_name", "export_contacts"},
         {"action", "tools/call"},
         {"resource", "dataset:crm/contacts"}}}},
      {"principal",
       {{"roles", {"crm-reader", "crm-writer"}},
        {"scopes", {"crm.read"}},
        {"attributes",
         {{"clearance", 2.0},
          {"team", "sales"},
          {"org", {{"unit", "emea"}, {"cost_centers", {42.0}}}}}},
        {"trust_domain", "corp.example"},
        {"auth", "jwt"}}}};
  EXPECT_EQ(json::parse(segments.payload), expected);
}

TEST_P(GrantTokenTest, KidIsTheRfc7638Thumbprint) {
  // Computed independently: nlohmann sorts members and writes no spaces,
  // which is RFC 7638's canonical form of the required members.
  json jwk = authn::testing::PublicJwk(key_);
  json required;
  for (const char* member : {"crv", "kty", "x", "y"}) {
    if (jwk.contains(member)) required[member] = jwk[member];
  }
  const std::string canonical = required.dump();
  unsigned char digest[32];
  unsigned int length = 0;
  ASSERT_EQ(EVP_Digest(canonical.data(), canonical.size(), digest, &length,
                       EVP_sha256(), nullptr),
            1);
  EXPECT_EQ(ActiveKid(*signer_),
            Base64UrlEncode(std::string_view(
                reinterpret_cast<const char*>(digest), length)));
}

TEST_P(GrantTokenTest, RoundTripsEveryClaim) {
  const GrantClaims claims = SampleClaims(kIssued);
  const std::string token = SignOrDie(claims);
  const GrantOutcome outcome = verifier().Verify(token, kIssued);
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  ASSERT_NE(outcome.claims, nullptr);
  EXPECT_EQ(outcome.claims.get(), &outcome.grant->claims());
  const GrantClaims& got = outcome.grant->claims();
  EXPECT_EQ(got.id, claims.id);
  EXPECT_EQ(got.subject, claims.subject);
  EXPECT_THAT(got.roles, ::testing::ElementsAre("crm-reader", "crm-writer"));
  EXPECT_THAT(got.scopes, ::testing::ElementsAre("crm.read"));
  EXPECT_TRUE(MessageDifferencer::Equals(got.attributes, claims.attributes))
      << got.attributes.DebugString();
  EXPECT_EQ(got.trust_domain, "corp.example");
  EXPECT_EQ(got.auth_method, "jwt");
  EXPECT_EQ(got.task, claims.task);
  EXPECT_EQ(got.scope, claims.scope);
  EXPECT_EQ(got.issued_at, kIssued);
  EXPECT_EQ(got.expires_at, kExpires);
  EXPECT_EQ(outcome.grant->not_before(), kIssued);
}

TEST_P(GrantTokenTest, GivesTheEngineAPrincipalAndAGrant) {
  const GrantOutcome outcome =
      verifier().Verify(SignOrDie(SampleClaims(kIssued)), kIssued);
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  const VerifiedGrant& grant = *outcome.grant;

  const model::Principal principal = grant.AsPrincipal();
  EXPECT_EQ(principal.id, "spiffe://corp.example/agent/crm/r1");
  EXPECT_EQ(principal.roles, &grant.claims().roles);
  EXPECT_EQ(principal.scopes, &grant.claims().scopes);
  EXPECT_EQ(principal.attributes, &grant.claims().attributes);
  EXPECT_EQ(principal.trust_domain, "corp.example");
  EXPECT_EQ(principal.auth, "grant");

  const model::Grant engine_grant = grant.AsEngineGrant();
  EXPECT_TRUE(engine_grant.present);
  EXPECT_EQ(engine_grant.id, "g-0123456789abcdefghij");
  EXPECT_EQ(engine_grant.task, "task-7");
  EXPECT_EQ(engine_grant.environment, "prod");
  EXPECT_EQ(engine_grant.expires_at, kExpires);
  ASSERT_NE(engine_grant.scope, nullptr);
  const auto& items = engine_grant.scope->fields().at("items").list_value();
  ASSERT_EQ(items.values_size(), 2);
  const auto& second = items.values(1).struct_value().fields();
  EXPECT_EQ(second.at("tool_server").string_value(), "crm");
  EXPECT_EQ(second.at("tool_name").string_value(), "export_contacts");
  EXPECT_EQ(second.at("action").string_value(), "tools/call");
  EXPECT_EQ(second.at("resource").string_value(), "dataset:crm/contacts");
  EXPECT_EQ(items.values(0).struct_value().fields().at("action").string_value(),
            "");
  // The same object each time: built once at verification.
  EXPECT_EQ(grant.AsEngineGrant().scope, engine_grant.scope);
}

TEST_P(GrantTokenTest, ExpiryAndNotBeforeBoundariesHaveNoSkew) {
  const std::string token = SignOrDie(SampleClaims(kIssued));
  EXPECT_TRUE(verifier().Verify(token, kIssued).ok());
  EXPECT_TRUE(verifier().Verify(token, kExpires - absl::Nanoseconds(1)).ok());
  const GrantOutcome expired = verifier().Verify(token, kExpires);
  ExpectFailure(expired, ReasonCode::kGrantExpired, token);
  // What the expired grant said stays readable for Introspect.
  ASSERT_NE(expired.claims, nullptr);
  EXPECT_EQ(expired.claims->id, "g-0123456789abcdefghij");
  ExpectFailure(verifier().Verify(token, kExpires + absl::Hours(1)),
                ReasonCode::kGrantExpired, token);

  const GrantOutcome early =
      verifier().Verify(token, kIssued - absl::Nanoseconds(1));
  ExpectFailure(early, ReasonCode::kTokenNotYetValid, token);
  ASSERT_NE(early.claims, nullptr);
  EXPECT_EQ(early.claims->task.id, "task-7");
}

TEST_P(GrantTokenTest, SignRoundsTimesDownToSeconds) {
  GrantClaims claims = SampleClaims(kIssued + absl::Milliseconds(700));
  claims.expires_at = kExpires + absl::Milliseconds(300);
  const GrantOutcome outcome = verifier().Verify(SignOrDie(claims), kIssued);
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_EQ(outcome.grant->claims().issued_at, kIssued);
  EXPECT_EQ(outcome.grant->claims().expires_at, kExpires);
}

TEST_P(GrantTokenTest, RefusesMalformedTokens) {
  const std::string good = SignOrDie(SampleClaims(kIssued));
  const Segments segments = Split(good);
  const std::string header64 = Base64UrlEncode(segments.header);
  const std::string payload64 = Base64UrlEncode(segments.payload);
  const std::string signature64 = Base64UrlEncode(segments.signature);
  const std::vector<std::string> malformed = {
      "",
      "abc",
      header64 + "." + payload64,
      good + ".",
      good + "." + signature64,
      "." + payload64 + "." + signature64,
      header64 + "=." + payload64 + "." + signature64,  // padding
      header64 + ".+" + payload64 + "." + signature64,  // standard alphabet
      header64 + "." + payload64 + "." + signature64 + " ",
      Base64UrlEncode("not json") + "." + payload64 + "." + signature64,
      Base64UrlEncode("[1]") + "." + payload64 + "." + signature64,
      // Duplicate member: which alg would count?
      Base64UrlEncode(R"({"alg":"none","alg":")" + ActiveAlgorithm(*signer_) +
                      "\"}") +
          "." + payload64 + "." + signature64,
  };
  for (const std::string& token : malformed) {
    ExpectFailure(verifier().Verify(token, kIssued),
                  ReasonCode::kUnauthenticated, token, token);
  }
}

TEST_P(GrantTokenTest, RefusesTokensOverTheSizeCapBeforeParsing) {
  // Signed by the real key and otherwise valid: only the size is wrong.
  json payload = Payload();
  payload["padding"] = std::string(kMaxGrantTokenBytes, 'p');
  const std::string token = SignRaw(Header().dump(), payload.dump());
  ASSERT_GT(token.size(), kMaxGrantTokenBytes);
  const GrantOutcome outcome = verifier().Verify(token, kIssued);
  ExpectFailure(outcome, ReasonCode::kUnauthenticated, token);
  EXPECT_THAT(outcome.message, HasSubstr("larger than 16384 bytes"));
  ExpectFailure(
      verifier().Verify(std::string(kMaxGrantTokenBytes + 1, 'a'), kIssued),
      ReasonCode::kUnauthenticated, "");
}

TEST_P(GrantTokenTest, RefusesWrongTypAndCritInTheHeader) {
  const std::string payload = Payload().dump();
  json header = Header();
  header["typ"] = "JWT";
  std::string token = SignRaw(header.dump(), payload);
  ExpectFailure(verifier().Verify(token, kIssued), ReasonCode::kUnauthenticated,
                token, "typ JWT");
  header.erase("typ");
  token = SignRaw(header.dump(), payload);
  ExpectFailure(verifier().Verify(token, kIssued), ReasonCode::kUnauthenticated,
                token, "no typ");
  header = Header();
  header["crit"] = {"exp"};
  token = SignRaw(header.dump(), payload);
  ExpectFailure(verifier().Verify(token, kIssued), ReasonCode::kUnauthenticated,
                token, "crit");
}

TEST_P(GrantTokenTest, RefusesEveryOtherAlgorithm) {
  const std::string payload = Payload().dump();
  for (const char* alg :
       {"none", "None", "HS256", "HS384", "HS512", "RS256", "PS256", "ES384",
        GetParam() == KeyKind::kEcP256 ? "EdDSA" : "ES256"}) {
    json header = Header();
    header["alg"] = alg;
    const std::string input =
        Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload);
    for (const std::string& token :
         {input + ".", input + "." + Base64UrlEncode(std::string(64, 'x'))}) {
      ExpectFailure(verifier().Verify(token, kIssued),
                    ReasonCode::kAlgorithmNotAllowed, token, alg);
    }
  }
  json header = Header();
  header.erase("alg");
  const std::string token = SignRaw(header.dump(), payload);
  ExpectFailure(verifier().Verify(token, kIssued), ReasonCode::kUnauthenticated,
                token, "no alg");
}

TEST_P(GrantTokenTest, RefusesHmacWithThePublicKeyAsSecret) {
  // Algorithm confusion: a verifier that fed its public key to HMAC would
  // accept this.
  json header = Header();
  header["alg"] = "HS256";
  const std::string input =
      Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(Payload().dump());
  const std::string der = authn::testing::PublicKeyDer(key_);
  const std::string raw_public =
      GetParam() == KeyKind::kEd25519
          ? *Base64UrlDecode(
                authn::testing::PublicJwk(key_)["x"].get<std::string>())
          : der;
  for (const std::string& secret : {der, raw_public}) {
    const std::string token =
        input + "." +
        Base64UrlEncode(authn::testing::Hmac("SHA256", secret, input));
    ExpectFailure(verifier().Verify(token, kIssued),
                  ReasonCode::kAlgorithmNotAllowed, token);
  }
}

TEST_P(GrantTokenTest, RefusesTamperingWithEachPart) {
  const std::string good = SignOrDie(SampleClaims(kIssued));
  ASSERT_TRUE(verifier().Verify(good, kIssued).ok());

  Segments header_tampered = Split(good);
  json header = json::parse(header_tampered.header);
  header["x5u"] = "https://attacker.example/key";
  header_tampered.header = header.dump();
  std::string token = Join(header_tampered);
  ExpectFailure(verifier().Verify(token, kIssued),
                ReasonCode::kSignatureInvalid, token, "header");

  Segments payload_tampered = Split(good);
  json payload = json::parse(payload_tampered.payload);
  payload["scope"][0]["tool_name"] = "delete_contacts";
  payload_tampered.payload = payload.dump();
  token = Join(payload_tampered);
  ExpectFailure(verifier().Verify(token, kIssued),
                ReasonCode::kSignatureInvalid, token, "payload");

  // A longer lifetime, the classic.
  payload = json::parse(Split(good).payload);
  payload["exp"] = payload["exp"].get<int64_t>() + 86400;
  payload_tampered.payload = payload.dump();
  token = Join(payload_tampered);
  ExpectFailure(verifier().Verify(token, kIssued),
                ReasonCode::kSignatureInvalid, token, "exp");

  for (size_t byte : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    Segments signature_tampered = Split(good);
    signature_tampered.signature[byte] ^= 0x01;
    token = Join(signature_tampered);
    ExpectFailure(verifier().Verify(token, kIssued),
                  ReasonCode::kSignatureInvalid, token, "signature");
  }
  Segments truncated = Split(good);
  truncated.signature.resize(63);
  token = Join(truncated);
  ExpectFailure(verifier().Verify(token, kIssued),
                ReasonCode::kSignatureInvalid, token, "short signature");
  truncated.signature.clear();
  token = Join(truncated);
  ExpectFailure(verifier().Verify(token, kIssued),
                ReasonCode::kSignatureInvalid, token, "no signature");
}

TEST_P(GrantTokenTest, RefusesTokensOfAnotherKeyWithTheSameAlgorithm) {
  const TestKey other_key = GenerateKey(GetParam(), "");
  const std::string other_path = dir_.File("other.pem");
  WritePrivateKeyPem(other_key, other_path);
  absl::StatusOr<std::unique_ptr<GrantSigner>> other =
      GrantSigner::FromKeyFile(other_path);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_NE(ActiveKid(**other), ActiveKid(*signer_));

  // Its own kid: not this server's key.
  absl::StatusOr<std::string> token = (*other)->Sign(SampleClaims(kIssued));
  ASSERT_TRUE(token.ok());
  ExpectFailure(verifier().Verify(*token, kIssued),
                ReasonCode::kSignatureInvalid, *token, "other kid");
  // This server's kid: the signature does not verify.
  const std::string forged =
      authn::testing::SignJwt(algorithm_, other_key, Header(), Payload());
  ExpectFailure(verifier().Verify(forged, kIssued),
                ReasonCode::kSignatureInvalid, forged, "forged kid");
  // No kid, or a kid that is not a string.
  json header = Header();
  header.erase("kid");
  std::string unkeyed = SignRaw(header.dump(), Payload().dump());
  ExpectFailure(verifier().Verify(unkeyed, kIssued),
                ReasonCode::kSignatureInvalid, unkeyed, "no kid");
  header["kid"] = 7;
  unkeyed = SignRaw(header.dump(), Payload().dump());
  ExpectFailure(verifier().Verify(unkeyed, kIssued),
                ReasonCode::kUnauthenticated, unkeyed, "numeric kid");
}

TEST_P(GrantTokenTest, RefusesSignedPayloadsThatAreNotGrants) {
  // Signed by the real key, so only the claim checks can refuse them.
  const std::string header = Header().dump();
  auto refuse = [&](const std::string& payload, const std::string& why) {
    const std::string token = SignRaw(header, payload);
    const GrantOutcome outcome = verifier().Verify(token, kIssued);
    ExpectFailure(outcome, ReasonCode::kUnauthenticated, token, why);
    EXPECT_EQ(outcome.claims, nullptr) << why;
  };
  refuse("not json", "not JSON");
  refuse(R"({"iss":"verdict","iss":"verdict"})", "duplicate member");
  const json good = Payload();
  for (const char* claim : {"iss", "jti", "sub", "iat", "nbf", "exp", "task",
                            "scope", "principal"}) {
    json payload = good;
    payload.erase(claim);
    refuse(payload.dump(), std::string("without ") + claim);
  }
  struct Change {
    const char* why;
    json::json_pointer pointer;
    json value;
  };
  const std::vector<Change> changes = {
      {"other iss", json::json_pointer("/iss"), "https://idp.example"},
      {"empty jti", json::json_pointer("/jti"), ""},
      {"numeric sub", json::json_pointer("/sub"), 7},
      {"fractional exp", json::json_pointer("/exp"), 1800000900.5},
      {"string exp", json::json_pointer("/exp"), "1800000900"},
      {"negative iat", json::json_pointer("/iat"), -1},
      {"huge exp", json::json_pointer("/exp"), 100000000000},
      {"task without id", json::json_pointer("/task/id"), ""},
      {"task purpose not a string", json::json_pointer("/task/purpose"), 1},
      {"scope not a list", json::json_pointer("/scope"), "crm:*"},
      {"empty scope", json::json_pointer("/scope"), json::array()},
      {"glob in scope", json::json_pointer("/scope/0/tool_name"), "*"},
      {"scope item not an object", json::json_pointer("/scope/0"), "crm"},
      {"roles not a list", json::json_pointer("/principal/roles"), "admin"},
      {"role not a string", json::json_pointer("/principal/roles/0"), 1},
      {"attributes not an object", json::json_pointer("/principal/attributes"),
       json::array()},
      {"empty auth", json::json_pointer("/principal/auth"), ""},
      {"no trust_domain", json::json_pointer("/principal/trust_domain"),
       nullptr},
  };
  for (const Change& change : changes) {
    json payload = good;
    payload[change.pointer] = change.value;
    refuse(payload.dump(), change.why);
  }
  json payload = good;
  payload["scope"][0].erase("action");
  refuse(payload.dump(), "scope item without action");
}

TEST_P(GrantTokenTest, CacheReturnsTheSameGrantAndStillExpires) {
  const std::string token = SignOrDie(SampleClaims(kIssued));
  const GrantOutcome first = verifier().Verify(token, kIssued);
  ASSERT_TRUE(first.ok()) << first.message;
  EXPECT_EQ(verifier().cached_grants(), 1u);
  const GrantOutcome second =
      verifier().Verify(token, kIssued + absl::Minutes(1));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.grant, first.grant);
  EXPECT_EQ(second.claims.get(), &first.grant->claims());

  ExpectFailure(verifier().Verify(token, kExpires), ReasonCode::kGrantExpired,
                token, "cached, at exp");
  ExpectFailure(verifier().Verify(token, kIssued - absl::Seconds(1)),
                ReasonCode::kTokenNotYetValid, token, "cached, before nbf");
  // A failure is never cached, and a different token is a different entry.
  EXPECT_TRUE(verifier().Verify(token, kIssued).ok());
  const std::string other_token =
      SignOrDie(SampleClaims(kIssued + absl::Seconds(1)));
  const GrantOutcome other =
      verifier().Verify(other_token, kIssued + absl::Seconds(1));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other.grant, first.grant);
  EXPECT_EQ(verifier().cached_grants(), 2u);
}

TEST_P(GrantTokenTest, WithoutACacheEveryCallVerifies) {
  const std::string path = dir_.File("uncached.pem");
  WritePrivateKeyPem(key_, path);
  absl::StatusOr<std::unique_ptr<GrantSigner>> signer =
      GrantSigner::FromKeyFile(path, /*cache_capacity=*/0);
  ASSERT_TRUE(signer.ok());
  const std::string token = *(*signer)->Sign(SampleClaims(kIssued));
  const GrantOutcome first = (*signer)->verifier().Verify(token, kIssued);
  const GrantOutcome second = (*signer)->verifier().Verify(token, kIssued);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first.grant, second.grant);
  EXPECT_EQ((*signer)->verifier().cached_grants(), 0u);
}

TEST_P(GrantTokenTest, ConcurrentVerificationsAgree) {
  // Many threads on the same few tokens: the cache under contention (TSan).
  std::vector<std::string> tokens;
  for (int i = 0; i < 4; ++i) {
    GrantClaims claims = SampleClaims(kIssued);
    claims.id = "grant-" + std::to_string(i);
    tokens.push_back(SignOrDie(claims));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t which = static_cast<size_t>(i + t) % tokens.size();
        const GrantOutcome outcome =
            verifier().Verify(tokens[which], kIssued + absl::Seconds(i));
        if (!outcome.ok() ||
            outcome.grant->claims().id != "grant-" + std::to_string(which)) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(verifier().cached_grants(), tokens.size());
}

TEST_P(GrantTokenTest, SignRefusesClaimsItCouldNotVerifyBack) {
  struct Case {
    const char* why;
    std::function<void(GrantClaims&)> change;
  };
  const std::vector<Case> cases = {
      {"id is empty", [](GrantClaims& c) { c.id.clear(); }},
      {"subject is empty", [](GrantClaims& c) { c.subject.clear(); }},
      {"auth method is empty", [](GrantClaims& c) { c.auth_method.clear(); }},
      {"task id is empty", [](GrantClaims& c) { c.task.id.clear(); }},
      {"scope is empty", [](GrantClaims& c) { c.scope.clear(); }},
      {"scope item 1: tool_name contains a glob",
       [](GrantClaims& c) { c.scope[1].tool_name = "export_*"; }},
      {"not after issued_at",
       [](GrantClaims& c) { c.expires_at = c.issued_at; }},
      {"not after issued_at",
       [](GrantClaims& c) {
         c.expires_at = c.issued_at + absl::Milliseconds(999);
       }},
      {"not a NumericDate",
       [](GrantClaims& c) { c.issued_at = absl::InfinitePast(); }},
      {"not a NumericDate",
       [](GrantClaims& c) { c.expires_at = absl::InfiniteFuture(); }},
      {"non-finite number",
       [](GrantClaims& c) {
         (*c.attributes.mutable_fields())["x"].set_number_value(
             std::numeric_limits<double>::quiet_NaN());
       }},
      {"not valid UTF-8", [](GrantClaims& c) { c.subject = "agent\xff"; }},
      {"bytes; at most 16384",
       [](GrantClaims& c) {
         (*c.attributes.mutable_fields())["big"].set_string_value(
             std::string(kMaxGrantTokenBytes, 'b'));
       }},
  };
  for (const Case& c : cases) {
    GrantClaims claims = SampleClaims(kIssued);
    c.change(claims);
    const absl::StatusOr<std::string> token = signer_->Sign(claims);
    EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument)
        << c.why;
    EXPECT_THAT(std::string(token.status().message()), HasSubstr(c.why));
  }
}

TEST_P(GrantTokenTest, AttributesNestUpToTheVerifiersDepthCap) {
  // payload > principal > attributes opens three levels; the strict JSON
  // reader takes 16.
  auto nested = [](int levels) {
    GrantClaims claims = SampleClaims(kIssued);
    claims.attributes.Clear();
    model::Struct* level = &claims.attributes;
    for (int i = 0; i < levels; ++i) {
      level = (*level->mutable_fields())["n"].mutable_struct_value();
    }
    (*level->mutable_fields())["leaf"].set_bool_value(true);
    return claims;
  };
  const GrantClaims deepest = nested(13);
  const GrantOutcome outcome = verifier().Verify(SignOrDie(deepest), kIssued);
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_TRUE(MessageDifferencer::Equals(outcome.grant->claims().attributes,
                                         deepest.attributes));
  const absl::StatusOr<std::string> too_deep = signer_->Sign(nested(14));
  EXPECT_THAT(std::string(too_deep.status().message()),
              HasSubstr("nested too deeply"));
}

class GrantKeyFileTest : public ::testing::Test {
 protected:
  absl::Status Load(const std::string& path) {
    return GrantSigner::FromKeyFile(path).status();
  }

  TempDir dir_;
};

TEST_F(GrantKeyFileTest, AcceptsPkcs8AndTraditionalPem) {
  for (const PemFormat format : {PemFormat::kPkcs8, PemFormat::kTraditional}) {
    for (const KeyKind kind : {KeyKind::kEcP256, KeyKind::kEd25519}) {
      const std::string path = dir_.File("key.pem");
      WritePrivateKeyPem(GenerateKey(kind, ""), path, format);
      EXPECT_TRUE(Load(path).ok()) << Load(path);
    }
  }
}

TEST_F(GrantKeyFileTest, RefusesOtherKeysNamingTheFile) {
  struct Case {
    const char* name;
    std::function<void(const std::string&)> write;
    const char* problem;
  };
  const std::vector<Case> cases = {
      {"rsa.pem",
       [](const std::string& path) {
         WritePrivateKeyPem(GenerateKey(KeyKind::kRsa2048, ""), path);
       },
       "unsupported key type"},
      {"p384.pem",
       [](const std::string& path) {
         WritePrivateKeyPem(GenerateKey(KeyKind::kEcP384, ""), path);
       },
       "unsupported key type"},
      {"encrypted.pem",
       [](const std::string& path) {
         // Must fail, not prompt for a passphrase on the terminal.
         WritePrivateKeyPem(GenerateKey(KeyKind::kEcP256, ""), path,
                            PemFormat::kEncrypted);
       },
       "not an unencrypted PEM private key"},
      {"public.pem",
       [](const std::string& path) {
         testing::WritePublicKeyPem(GenerateKey(KeyKind::kEcP256, ""), path);
       },
       "not an unencrypted PEM private key"},
      {"garbage.pem",
       [](const std::string& path) { testing::WriteFile(path, "hello\n"); },
       "not an unencrypted PEM private key"},
      {"empty.pem",
       [](const std::string& path) { testing::WriteFile(path, ""); },
       "not an unencrypted PEM private key"},
  };
  for (const Case& c : cases) {
    const std::string path = dir_.File(c.name);
    c.write(path);
    const absl::Status status = Load(path);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(status.message()), HasSubstr(path));
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.problem));
  }
  const absl::Status missing = Load(dir_.File("missing.pem"));
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.message()),
              HasSubstr(dir_.File("missing.pem")));
}

TEST_F(GrantKeyFileTest, Ed25519KidMatchesRfc8037) {
  // RFC 8037 appendix A.1 and A.3: this private key's public JWK has the
  // thumbprint kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k.
  const std::string d =
      *Base64UrlDecode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
  TestKey key;
  key.kind = KeyKind::kEd25519;
  key.key.reset(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(d.data()), d.size()));
  ASSERT_NE(key.key, nullptr);
  const std::string path = dir_.File("rfc8037.pem");
  WritePrivateKeyPem(key, path);
  absl::StatusOr<std::unique_ptr<GrantSigner>> signer =
      GrantSigner::FromKeyFile(path);
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(ActiveKid(**signer), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  EXPECT_EQ(ActiveAlgorithm(**signer), "EdDSA");
}

}  // namespace
}  // namespace verdict::grants
