// JwtAuthenticator: every supported algorithm verifies with a key made at
// test time; every hostile token is refused with its reason code and a
// message that does not repeat it; claims map to the Identity; JWKS files
// reload; verified tokens are cached, bounded, and dropped with their keys.

#include "server/authn/jwt_authenticator.h"

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/authn/base64url.h"
#include "server/model/reason.h"
#include "tests/authn/test_keys.h"

namespace verdict::authn {
namespace {

namespace fs = std::filesystem;
using model::ReasonCode;
using testing::GenerateKey;
using testing::KeyKind;
using testing::PublicJwk;
using testing::SignJwt;
using testing::TestKey;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kEcOnlyIssuer[] = "https://ec-only.test";
constexpr char kSingleKeyIssuer[] = "https://single.test";
constexpr char kAudience[] = "https://mcp.test/crm";
const absl::Time kNow = absl::FromUnixSeconds(1800000000);

constexpr JwsAlgorithm kAllAlgorithms[] = {
    JwsAlgorithm::kRS256, JwsAlgorithm::kRS384, JwsAlgorithm::kRS512,
    JwsAlgorithm::kPS256, JwsAlgorithm::kPS384, JwsAlgorithm::kPS512,
    JwsAlgorithm::kES256, JwsAlgorithm::kES384, JwsAlgorithm::kEdDSA};

struct Keys {
  TestKey rsa = GenerateKey(KeyKind::kRsa2048, "rsa");
  TestKey p256 = GenerateKey(KeyKind::kEcP256, "p256");
  TestKey p384 = GenerateKey(KeyKind::kEcP384, "p384");
  TestKey ed = GenerateKey(KeyKind::kEd25519, "ed");
  TestKey rsa_ps_only = GenerateKey(KeyKind::kRsa2048, "rsa-ps256");
  TestKey attacker = GenerateKey(KeyKind::kRsa2048, "rsa");  // same kid

  const TestKey& For(JwsAlgorithm algorithm) const {
    switch (testing::KeyKindFor(algorithm)) {
      case KeyKind::kRsa2048:
        return rsa;
      case KeyKind::kEcP256:
        return p256;
      case KeyKind::kEcP384:
        return p384;
      case KeyKind::kEd25519:
        return ed;
    }
    return rsa;
  }
};

class JwtAuthenticatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { keys_ = new Keys(); }
  static void TearDownTestSuite() {
    delete keys_;
    keys_ = nullptr;
  }

  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("jwt_authenticator_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::ReplaceFile(JwksPath(), MainJwks());
    testing::ReplaceFile(SinglePath(),
                         testing::Jwks({PublicJwk(keys_->p256, "")}));
    // The single key has no kid: tokens without kid may use it.
    nlohmann::json single = PublicJwk(keys_->p256);
    single.erase("kid");
    testing::ReplaceFile(SinglePath(), testing::Jwks({single}));
    Create({});
  }
  void TearDown() override {
    authenticator_.reset();
    fs::remove_all(dir_);
  }

  std::string JwksPath() const { return (dir_ / "idp.jwks.json").string(); }
  std::string SinglePath() const {
    return (dir_ / "single.jwks.json").string();
  }

  static std::string MainJwks() {
    return testing::Jwks({PublicJwk(keys_->rsa), PublicJwk(keys_->p256),
                          PublicJwk(keys_->p384), PublicJwk(keys_->ed),
                          PublicJwk(keys_->rsa_ps_only, "PS256")});
  }

  JwtAuthenticatorOptions Options() const {
    JwtIssuerOptions main;
    main.issuer = kIssuer;
    main.jwks_file = JwksPath();
    main.audiences = {kAudience, "https://mcp.test/other"};
    main.algorithms = {"RS256", "RS384", "RS512", "PS256", "PS384",
                       "PS512", "ES256", "ES384", "EdDSA"};
    main.claims.roles = "groups";
    main.claims.attributes = {"department", "clearance"};
    JwtIssuerOptions ec_only = main;
    ec_only.issuer = kEcOnlyIssuer;
    ec_only.algorithms = {"ES256"};
    JwtIssuerOptions single = main;
    single.issuer = kSingleKeyIssuer;
    single.jwks_file = SinglePath();
    JwtAuthenticatorOptions options;
    options.issuers = {main, ec_only, single};
    return options;
  }

  void Create(std::function<void(JwtAuthenticatorOptions&)> edit) {
    JwtAuthenticatorOptions options = Options();
    if (edit) edit(options);
    auto created = JwtAuthenticator::Create(std::move(options));
    ASSERT_TRUE(created.ok()) << created.status();
    authenticator_ = *std::move(created);
  }

  static nlohmann::json Claims() {
    return {{"iss", kIssuer},
            {"sub", "alice@corp.test"},
            {"aud", kAudience},
            {"iat", absl::ToUnixSeconds(kNow) - 60},
            {"nbf", absl::ToUnixSeconds(kNow) - 60},
            {"exp", absl::ToUnixSeconds(kNow) + 600},
            {"groups", {"engineering", "oncall"}},
            {"scope", "crm.read crm.write"},
            {"department", "sales"}};
  }

  static std::string Token(
      JwsAlgorithm algorithm, const nlohmann::json& claims = Claims(),
      const nlohmann::json& header = nlohmann::json::object()) {
    return SignJwt(algorithm, keys_->For(algorithm), header, claims);
  }

  AuthOutcome Check(std::string_view token, absl::Time now = kNow) const {
    return authenticator_->Authenticate(token, now);
  }

  // Fails unless `token` is refused with `code`, with a message that does not
  // contain any part of the token.
  void ExpectRefused(const std::string& token, ReasonCode code) const {
    const AuthOutcome outcome = Check(token);
    EXPECT_FALSE(outcome.ok());
    EXPECT_EQ(model::ReasonCodeName(outcome.code), model::ReasonCodeName(code))
        << outcome.message;
    EXPECT_FALSE(outcome.message.empty());
    for (size_t start = 0; start + 16 <= token.size(); start += 16) {
      EXPECT_EQ(outcome.message.find(token.substr(start, 16)),
                std::string::npos)
          << outcome.message;
    }
  }

  static Keys* keys_;
  fs::path dir_;
  std::unique_ptr<JwtAuthenticator> authenticator_;
};

Keys* JwtAuthenticatorTest::keys_ = nullptr;

std::string JsonSegment(const nlohmann::json& json) {
  return Base64UrlEncode(json.dump());
}

std::string Segment(std::string_view text) { return Base64UrlEncode(text); }

TEST_F(JwtAuthenticatorTest, EveryAlgorithmVerifiesAndMapsClaims) {
  for (const JwsAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(JwsAlgorithmName(algorithm));
    const AuthOutcome outcome = Check(Token(algorithm));
    ASSERT_TRUE(outcome.ok()) << outcome.message;
    const Identity& identity = *outcome.identity;
    EXPECT_EQ(identity.subject, "alice@corp.test");
    EXPECT_EQ(identity.method, "jwt");
    EXPECT_EQ(identity.issuer, kIssuer);
    EXPECT_EQ(identity.trust_domain, "");
    EXPECT_EQ(identity.expires_at, kNow + absl::Seconds(600));
    ASSERT_EQ(identity.roles.size(), 2);
    EXPECT_EQ(identity.roles[0], "engineering");
    EXPECT_EQ(identity.roles[1], "oncall");
    ASSERT_EQ(identity.scopes.size(), 2);
    EXPECT_EQ(identity.scopes[0], "crm.read");
    EXPECT_EQ(identity.scopes[1], "crm.write");
    ASSERT_EQ(identity.attributes.fields().size(), 1);
    EXPECT_EQ(identity.attributes.fields().at("department").string_value(),
              "sales");
    const model::Principal principal = identity.AsPrincipal();
    EXPECT_EQ(principal.id, "alice@corp.test");
    EXPECT_EQ(principal.auth, "jwt");
    EXPECT_EQ(principal.roles, &identity.roles);
  }
}

TEST_F(JwtAuthenticatorTest, KeyBoundToOneAlgorithmVerifiesThatAlgorithm) {
  const std::string input =
      testing::SigningInput({{"alg", "PS256"}, {"kid", "rsa-ps256"}}, Claims());
  const std::string token =
      input + "." +
      Base64UrlEncode(
          testing::Sign(JwsAlgorithm::kPS256, keys_->rsa_ps_only, input));
  EXPECT_TRUE(Check(token).ok());
}

TEST_F(JwtAuthenticatorTest, SpiffeSubjectAndScpListAndSingleKeyWithoutKid) {
  nlohmann::json claims = Claims();
  claims["iss"] = kSingleKeyIssuer;
  claims["sub"] = "spiffe://corp.test/agent/research";
  claims.erase("scope");
  claims["scp"] = {"tools.read"};
  // No kid: the issuer's JWKS has a single key, of the token's type.
  const std::string input = testing::SigningInput({{"alg", "ES256"}}, claims);
  const std::string token =
      input + "." +
      Base64UrlEncode(testing::Sign(JwsAlgorithm::kES256, keys_->p256, input));
  const AuthOutcome outcome = Check(token);
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_EQ(outcome.identity->trust_domain, "corp.test");
  ASSERT_EQ(outcome.identity->scopes.size(), 1);
  EXPECT_EQ(outcome.identity->scopes[0], "tools.read");
}

TEST_F(JwtAuthenticatorTest, AudienceListAndClockSkewAreAccepted) {
  nlohmann::json claims = Claims();
  claims["aud"] = {"https://elsewhere.test", kAudience};
  EXPECT_TRUE(Check(Token(JwsAlgorithm::kES256, claims)).ok());
  // Expired 10s ago, nbf and iat 10s ahead: all within the 30s skew.
  claims["exp"] = absl::ToUnixSeconds(kNow) - 10;
  claims["iat"] = absl::ToUnixSeconds(kNow) - 1000;
  EXPECT_TRUE(Check(Token(JwsAlgorithm::kES256, claims)).ok());
  claims = Claims();
  claims["nbf"] = absl::ToUnixSeconds(kNow) + 10;
  claims["iat"] = absl::ToUnixSeconds(kNow) + 10;
  EXPECT_TRUE(Check(Token(JwsAlgorithm::kES256, claims)).ok());
}

TEST_F(JwtAuthenticatorTest, UnsignedAndHmacTokensAreRefused) {
  const std::string none_input =
      testing::SigningInput({{"alg", "none"}}, Claims());
  ExpectRefused(none_input + ".", ReasonCode::kAlgorithmNotAllowed);
  ExpectRefused(none_input + "." + Segment(std::string_view("x")),
                ReasonCode::kAlgorithmNotAllowed);
  ExpectRefused(
      testing::SigningInput({{"alg", "None"}, {"kid", "rsa"}}, Claims()) + "." +
          Segment(std::string_view("x")),
      ReasonCode::kAlgorithmNotAllowed);
  // Algorithm confusion: HMAC keyed with the issuer's public key.
  const std::string secret = testing::PublicKeyDer(keys_->rsa);
  for (const auto& [alg, digest] :
       {std::pair{"HS256", "SHA256"}, std::pair{"HS384", "SHA384"},
        std::pair{"HS512", "SHA512"}}) {
    SCOPED_TRACE(alg);
    const std::string input =
        testing::SigningInput({{"alg", alg}, {"kid", "rsa"}}, Claims());
    ExpectRefused(
        input + "." + Base64UrlEncode(testing::Hmac(digest, secret, input)),
        ReasonCode::kAlgorithmNotAllowed);
  }
}

TEST_F(JwtAuthenticatorTest, AlgorithmsOutsideTheIssuerOrKeyAreRefused) {
  nlohmann::json claims = Claims();
  claims["iss"] = kEcOnlyIssuer;
  ExpectRefused(Token(JwsAlgorithm::kRS256, claims),
                ReasonCode::kAlgorithmNotAllowed);
  ExpectRefused(Token(JwsAlgorithm::kEdDSA, claims),
                ReasonCode::kAlgorithmNotAllowed);
  // ES256 claimed over the RSA key, RS256 over the Ed25519 key.
  const std::string es_over_rsa =
      testing::SigningInput({{"alg", "ES256"}, {"kid", "rsa"}}, Claims());
  ExpectRefused(es_over_rsa + "." +
                    Base64UrlEncode(testing::Sign(JwsAlgorithm::kES256,
                                                  keys_->p256, es_over_rsa)),
                ReasonCode::kAlgorithmNotAllowed);
  ExpectRefused(Token(JwsAlgorithm::kRS256, Claims(), {{"kid", "ed"}}),
                ReasonCode::kAlgorithmNotAllowed);
  // ES384 over the P-256 key.
  ExpectRefused(Token(JwsAlgorithm::kES384, Claims(), {{"kid", "p256"}}),
                ReasonCode::kAlgorithmNotAllowed);
  // The key's JWK says PS256; RS256 under it is refused.
  const std::string rs_input =
      testing::SigningInput({{"alg", "RS256"}, {"kid", "rsa-ps256"}}, Claims());
  ExpectRefused(rs_input + "." +
                    Base64UrlEncode(testing::Sign(
                        JwsAlgorithm::kRS256, keys_->rsa_ps_only, rs_input)),
                ReasonCode::kAlgorithmNotAllowed);
  // Unknown algorithm names.
  ExpectRefused(
      testing::SigningInput({{"alg", "ES512"}, {"kid", "p256"}}, Claims()) +
          "." + Segment(std::string_view("sig")),
      ReasonCode::kAlgorithmNotAllowed);
}

TEST_F(JwtAuthenticatorTest, KeySelectionNeverFallsBack) {
  ExpectRefused(Token(JwsAlgorithm::kES256, Claims(), {{"kid", "nope"}}),
                ReasonCode::kSignatureInvalid);
  // No kid while the JWKS has several keys: no "try every key".
  const std::string input = testing::SigningInput({{"alg", "ES256"}}, Claims());
  ExpectRefused(input + "." +
                    Base64UrlEncode(testing::Sign(JwsAlgorithm::kES256,
                                                  keys_->p256, input)),
                ReasonCode::kSignatureInvalid);
  // No kid, single key of another type.
  nlohmann::json claims = Claims();
  claims["iss"] = kSingleKeyIssuer;
  const std::string ed_input =
      testing::SigningInput({{"alg", "EdDSA"}}, claims);
  ExpectRefused(ed_input + "." +
                    Base64UrlEncode(testing::Sign(JwsAlgorithm::kEdDSA,
                                                  keys_->ed, ed_input)),
                ReasonCode::kAlgorithmNotAllowed);
  // An embedded "jwk" header naming the attacker's key is ignored.
  nlohmann::json header = {
      {"alg", "RS256"}, {"kid", "rsa"}, {"jwk", PublicJwk(keys_->attacker)}};
  ExpectRefused(
      SignJwt(JwsAlgorithm::kRS256, keys_->attacker, header, Claims()),
      ReasonCode::kSignatureInvalid);
  // A non-string kid.
  ExpectRefused(Token(JwsAlgorithm::kES256, Claims(), {{"kid", 7}}),
                ReasonCode::kUnauthenticated);
}

TEST_F(JwtAuthenticatorTest, CritHeaderIsRefused) {
  ExpectRefused(
      Token(JwsAlgorithm::kES256, Claims(), {{"crit", {"exp"}}, {"exp", 1}}),
      ReasonCode::kUnauthenticated);
  ExpectRefused(Token(JwsAlgorithm::kES256, Claims(),
                      {{"crit", {"b64"}}, {"b64", false}}),
                ReasonCode::kUnauthenticated);
}

TEST_F(JwtAuthenticatorTest, MalformedEncodingsAreRefused) {
  const std::string good = Token(JwsAlgorithm::kES256);
  ASSERT_TRUE(Check(good).ok());
  const size_t dot1 = good.find('.');
  const size_t dot2 = good.find('.', dot1 + 1);
  const std::string header = good.substr(0, dot1);
  const std::string payload = good.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string signature = good.substr(dot2 + 1);

  ExpectRefused(header + "=." + payload + "." + signature,
                ReasonCode::kUnauthenticated);
  ExpectRefused(header + "." + payload + "." + signature + "==",
                ReasonCode::kUnauthenticated);
  ExpectRefused(header + "." + payload + "+." + signature,
                ReasonCode::kUnauthenticated);
  ExpectRefused(header + "." + payload + "/" + "." + signature,
                ReasonCode::kUnauthenticated);
  ExpectRefused(" " + good, ReasonCode::kUnauthenticated);
  ExpectRefused(good + "\n", ReasonCode::kUnauthenticated);
  // An impossible length (1 mod 4).
  const std::string padding(
      signature.size() % 4 == 1 ? 4 : (5 - signature.size() % 4) % 4, 'A');
  ASSERT_EQ((signature.size() + padding.size()) % 4, 1u);
  ExpectRefused(header + "." + payload + "." + signature + padding,
                ReasonCode::kUnauthenticated);
  // Non-canonical: "Ag" and "Ah" both would decode to 0x02.
  ExpectRefused(Segment(std::string_view("{")).substr(0, 1) + "h." + payload +
                    "." + signature,
                ReasonCode::kUnauthenticated);
  ExpectRefused(std::string(), ReasonCode::kUnauthenticated);
}

TEST_F(JwtAuthenticatorTest, WrongSegmentCountsAndTrailingDataAreRefused) {
  const std::string good = Token(JwsAlgorithm::kES256);
  const size_t dot1 = good.find('.');
  const size_t dot2 = good.find('.', dot1 + 1);
  ExpectRefused(good.substr(0, dot2),
                ReasonCode::kUnauthenticated);              // 2 segments
  ExpectRefused(good + ".", ReasonCode::kUnauthenticated);  // 4 segments
  ExpectRefused(good + "." + good.substr(dot2 + 1),
                ReasonCode::kUnauthenticated);
  ExpectRefused(good.substr(0, dot1) + "." + good,
                ReasonCode::kUnauthenticated);
  ExpectRefused("a.b.c.d.e", ReasonCode::kUnauthenticated);  // JWE shape
  ExpectRefused("...", ReasonCode::kUnauthenticated);
  ExpectRefused("abc", ReasonCode::kUnauthenticated);
  // Extra bytes in the signature segment.
  ExpectRefused(good + "AAAA", ReasonCode::kSignatureInvalid);
  // Claims with data after the closing brace, signed correctly.
  const std::string input =
      JsonSegment(nlohmann::json{{"alg", "ES256"}, {"kid", "p256"}}) + "." +
      Segment(std::string_view(Claims().dump() + " {}"));
  ExpectRefused(input + "." +
                    Base64UrlEncode(testing::Sign(JwsAlgorithm::kES256,
                                                  keys_->p256, input)),
                ReasonCode::kUnauthenticated);
}

TEST_F(JwtAuthenticatorTest, BadJsonAndDuplicateMembersAreRefused) {
  auto signed_raw = [](std::string_view header, std::string_view claims) {
    const std::string input = Segment(header) + "." + Segment(claims);
    return input + "." +
           Base64UrlEncode(
               testing::Sign(JwsAlgorithm::kES256, keys_->p256, input));
  };
  const std::string claims = Claims().dump();
  const std::string header = R"({"alg":"ES256","kid":"p256"})";
  ASSERT_TRUE(Check(signed_raw(header, claims)).ok());
  ExpectRefused(signed_raw(R"({"alg":"ES256","kid":"p256")", claims),
                ReasonCode::kUnauthenticated);
  ExpectRefused(signed_raw(header, "{\"iss\": }"),
                ReasonCode::kUnauthenticated);
  ExpectRefused(signed_raw("[]", claims), ReasonCode::kUnauthenticated);
  ExpectRefused(signed_raw(header, "\"just a string\""),
                ReasonCode::kUnauthenticated);
  ExpectRefused(
      signed_raw(R"({"alg":"ES256","alg":"none","kid":"p256"})", claims),
      ReasonCode::kUnauthenticated);
  ExpectRefused(
      signed_raw(R"({"alg":"ES256","kid":"p256","kid":"rsa"})", claims),
      ReasonCode::kUnauthenticated);
  std::string duplicate_sub = claims;
  duplicate_sub.insert(1, R"("sub":"mallory",)");
  ExpectRefused(signed_raw(header, duplicate_sub),
                ReasonCode::kUnauthenticated);
  // Duplicates nested inside a claim are refused too.
  std::string nested = claims;
  nested.insert(1, R"("ctx":{"a":1,"a":2},)");
  ExpectRefused(signed_raw(header, nested), ReasonCode::kUnauthenticated);
  // Invalid UTF-8 inside a string.
  ExpectRefused(signed_raw(header, "{\"iss\":\"\xff\"}"),
                ReasonCode::kUnauthenticated);
}

TEST_F(JwtAuthenticatorTest, TimeClaimsAreEnforced) {
  nlohmann::json claims = Claims();
  claims["exp"] = absl::ToUnixSeconds(kNow) - 31;
  claims["iat"] = absl::ToUnixSeconds(kNow) - 600;
  claims["nbf"] = absl::ToUnixSeconds(kNow) - 600;
  ExpectRefused(Token(JwsAlgorithm::kES256, claims), ReasonCode::kTokenExpired);
  claims = Claims();
  claims["nbf"] = absl::ToUnixSeconds(kNow) + 31;
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kTokenNotYetValid);
  claims = Claims();
  claims["iat"] = absl::ToUnixSeconds(kNow) + 31;
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kTokenNotYetValid);
  claims = Claims();
  claims.erase("exp");
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  claims = Claims();
  claims["exp"] = "tomorrow";
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  claims["exp"] = 1e300;
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  // Lifetime over the 1h cap, even though still valid now.
  claims = Claims();
  claims["exp"] = absl::ToUnixSeconds(kNow) + 7200;
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  claims.erase("iat");
  claims.erase("nbf");
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
}

// The identity keeps the token's accepted audiences, in token order and
// once each, so that decision/mcp_servers.h can bind it to an MCP server;
// values the issuer does not accept are left out.
TEST_F(JwtAuthenticatorTest, AcceptedAudiencesAreKeptInTheIdentity) {
  nlohmann::json claims = Claims();
  AuthOutcome outcome = Check(Token(JwsAlgorithm::kES256, claims));
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_EQ(outcome.identity->audiences, std::vector<std::string>{kAudience});

  claims["aud"] = {"https://elsewhere.test", "https://mcp.test/other",
                   kAudience, "https://mcp.test/other", 7};
  const std::string token = Token(JwsAlgorithm::kES256, claims);
  outcome = Check(token);
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_EQ(outcome.identity->audiences,
            (std::vector<std::string>{"https://mcp.test/other", kAudience}));

  // A cache hit hands out the same audiences.
  const AuthOutcome cached = Check(token);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached.identity.get(), outcome.identity.get());
  EXPECT_EQ(cached.identity->audiences, outcome.identity->audiences);
}

TEST_F(JwtAuthenticatorTest, IssuerAndAudienceAreEnforced) {
  nlohmann::json claims = Claims();
  claims["iss"] = "https://evil.test";
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kIssuerUnknown);
  claims["iss"] = "https://idp.test/";  // exact match only
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kIssuerUnknown);
  claims.erase("iss");
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kIssuerUnknown);
  claims = Claims();
  claims["aud"] = "https://mcp.test/billing";
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kAudienceMismatch);
  claims["aud"] = {"https://mcp.test/billing", "https://mcp.test/hr"};
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kAudienceMismatch);
  claims["aud"] = nlohmann::json::array();
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kAudienceMismatch);
  claims.erase("aud");
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kAudienceMismatch);
}

TEST_F(JwtAuthenticatorTest, ForgedAndTamperedSignaturesAreRefused) {
  for (const JwsAlgorithm algorithm : kAllAlgorithms) {
    SCOPED_TRACE(JwsAlgorithmName(algorithm));
    const std::string good = Token(algorithm);
    const size_t dot2 = good.rfind('.');
    // The same signature over other claims.
    nlohmann::json claims = Claims();
    claims["sub"] = "mallory@corp.test";
    const std::string other = Token(algorithm, claims);
    ExpectRefused(other.substr(0, other.rfind('.')) + good.substr(dot2),
                  ReasonCode::kSignatureInvalid);
    // A flipped bit in the signature.
    std::string signature = *Base64UrlDecode(good.substr(dot2 + 1));
    signature[signature.size() / 2] ^= 0x01;
    ExpectRefused(good.substr(0, dot2 + 1) + Base64UrlEncode(signature),
                  ReasonCode::kSignatureInvalid);
  }
  // A DER ECDSA signature where JWS wants raw r||s.
  const std::string input =
      testing::SigningInput({{"alg", "ES256"}, {"kid", "p256"}}, Claims());
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                               keys_->p256.key.get()),
            1);
  unsigned char der[128];
  size_t length = sizeof(der);
  ASSERT_EQ(EVP_DigestSign(ctx.get(), der, &length,
                           reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()),
            1);
  ExpectRefused(input + "." +
                    Base64UrlEncode(
                        std::string_view(reinterpret_cast<char*>(der), length)),
                ReasonCode::kSignatureInvalid);
  // Signed by another key under a known kid.
  ExpectRefused(SignJwt(JwsAlgorithm::kRS256, keys_->attacker, {}, Claims()),
                ReasonCode::kSignatureInvalid);
}

TEST_F(JwtAuthenticatorTest, AbsurdSizesAreRefusedCheaply) {
  nlohmann::json claims = Claims();
  claims["padding"] = std::string(20000, 'x');
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  ExpectRefused(std::string(1 << 20, 'A'), ReasonCode::kUnauthenticated);
  // Nesting past the cap, signed correctly.
  auto nested = [](int depth) {
    nlohmann::json value = "leaf";
    for (int i = 0; i < depth; ++i) value = nlohmann::json::array({value});
    return value;
  };
  claims = Claims();
  claims["deep"] = nested(40);
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  claims["deep"] = nested(8);
  EXPECT_TRUE(Check(Token(JwsAlgorithm::kES256, claims)).ok());
  // Deep nesting in a header that never reaches the signature check.
  const std::string deep_header =
      std::string(5000, '[') + std::string(5000, ']');
  ExpectRefused(Segment(std::string_view(deep_header)) + "." +
                    JsonSegment(Claims()) + ".AAAA",
                ReasonCode::kUnauthenticated);
}

// Mutated tokens (fixed seed) never verify and never crash; run under the
// sanitizers this doubles as a small fuzz test of the whole parser.
TEST_F(JwtAuthenticatorTest, RandomMutationsNeverVerify) {
  Create([](JwtAuthenticatorOptions& options) { options.cache_capacity = 0; });
  const std::string good = Token(JwsAlgorithm::kEdDSA);
  std::mt19937 random(20261126);
  constexpr char kBytes[] = "AZaz09-_.=+/ {}\"\\\x00\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string token = good;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = random() % token.size();
      switch (random() % 3) {
        case 0:
          token[at] = kBytes[random() % (sizeof(kBytes) - 1)];
          break;
        case 1:
          token.erase(at, 1 + random() % 8);
          break;
        default:
          token.insert(at, 1, kBytes[random() % (sizeof(kBytes) - 1)]);
          break;
      }
      if (token.empty()) token = ".";
    }
    if (token == good) continue;
    const AuthOutcome outcome = Check(token);
    EXPECT_FALSE(outcome.ok()) << "mutation " << i << " verified";
  }
}

TEST_F(JwtAuthenticatorTest, MalformedClaimMappingsAreRefused) {
  nlohmann::json claims = Claims();
  claims["groups"] = {"engineering", 7};
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  claims = Claims();
  claims["sub"] = "";
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  claims["sub"] = 42;
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
  claims = Claims();
  claims["scope"] = {{"read", true}};
  ExpectRefused(Token(JwsAlgorithm::kES256, claims),
                ReasonCode::kUnauthenticated);
}

TEST_F(JwtAuthenticatorTest, RepeatedTokensAreServedFromTheCacheUntilExpiry) {
  const std::string token = Token(JwsAlgorithm::kRS256);
  const AuthOutcome first = Check(token);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(authenticator_->cached_tokens(), 1u);
  const AuthOutcome second = Check(token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.identity.get(), first.identity.get());  // same object: a hit
  EXPECT_EQ(authenticator_->cached_tokens(), 1u);
  // Past exp plus skew the cached entry is not used and the token expires.
  const AuthOutcome late = Check(token, kNow + absl::Seconds(631));
  EXPECT_FALSE(late.ok());
  EXPECT_EQ(late.code, ReasonCode::kTokenExpired);
  // Failures are not cached.
  ExpectRefused(Token(JwsAlgorithm::kRS256, Claims(), {{"kid", "nope"}}),
                ReasonCode::kSignatureInvalid);
  EXPECT_EQ(authenticator_->cached_tokens(), 1u);
}

TEST_F(JwtAuthenticatorTest, CacheIsBounded) {
  Create([](JwtAuthenticatorOptions& options) { options.cache_capacity = 32; });
  for (int i = 0; i < 200; ++i) {
    nlohmann::json claims = Claims();
    claims["jti"] = i;
    ASSERT_TRUE(Check(Token(JwsAlgorithm::kEdDSA, claims)).ok());
  }
  EXPECT_LE(authenticator_->cached_tokens(), 32u);
  EXPECT_GT(authenticator_->cached_tokens(), 0u);
}

TEST_F(JwtAuthenticatorTest, JwksReloadAddsAndRemovesKeysAndClearsTheCache) {
  const TestKey fresh = GenerateKey(KeyKind::kEcP256, "fresh");
  const std::string fresh_token =
      SignJwt(JwsAlgorithm::kES256, fresh, {}, Claims());
  const std::string old_token = Token(JwsAlgorithm::kEdDSA);
  ASSERT_TRUE(Check(old_token).ok());
  ExpectRefused(fresh_token, ReasonCode::kSignatureInvalid);

  // Unchanged file: nothing reloads, the cache stays.
  ASSERT_TRUE(authenticator_->ReloadChangedKeys().ok());
  EXPECT_EQ(authenticator_->cached_tokens(), 1u);

  // Rotation: "fresh" in, "ed" out.
  testing::ReplaceFile(
      JwksPath(), testing::Jwks({PublicJwk(keys_->rsa), PublicJwk(fresh)}));
  ASSERT_TRUE(authenticator_->ReloadChangedKeys().ok());
  EXPECT_EQ(authenticator_->cached_tokens(), 0u);
  EXPECT_TRUE(Check(fresh_token).ok());
  ExpectRefused(old_token, ReasonCode::kSignatureInvalid);

  // A broken file keeps the previous keys and says so.
  testing::ReplaceFile(JwksPath(), "{\"keys\": [");
  const absl::Status status = authenticator_->ReloadChangedKeys();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("previous keys kept"),
            absl::string_view::npos);
  EXPECT_TRUE(Check(fresh_token).ok());
}

TEST_F(JwtAuthenticatorTest, WatchedJwksReloadsWithoutACall) {
  ASSERT_TRUE(authenticator_->StartWatching(absl::Milliseconds(20)).ok());
  const TestKey fresh = GenerateKey(KeyKind::kEd25519, "watched");
  const std::string token = SignJwt(JwsAlgorithm::kEdDSA, fresh, {}, Claims());
  ExpectRefused(token, ReasonCode::kSignatureInvalid);
  testing::ReplaceFile(JwksPath(), testing::Jwks({PublicJwk(fresh)}));
  // Bounded wait for the watcher thread's reload.
  bool accepted = false;
  for (int i = 0; i < 500 && !accepted; ++i) {
    accepted = Check(token).ok();
    if (!accepted) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(accepted);
}

TEST_F(JwtAuthenticatorTest, ConcurrentVerificationDuringReloads) {
  std::vector<std::string> tokens;
  for (const JwsAlgorithm algorithm : kAllAlgorithms)
    tokens.push_back(Token(algorithm));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 20; ++round) {
        for (const std::string& token : tokens) {
          if (!Check(token).ok()) failures.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    // Same keys, new inode: every reload swaps the set and clears the cache.
    testing::ReplaceFile(JwksPath(), MainJwks());
    EXPECT_TRUE(authenticator_->ReloadChangedKeys().ok());
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(JwtAuthenticatorOptionsTest, InvalidConfigurationsAreRefused) {
  const fs::path dir = fs::temp_directory_path() /
                       ("jwt_options_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string jwks = (dir / "k.json").string();
  const TestKey key = GenerateKey(KeyKind::kEd25519, "k");
  testing::ReplaceFile(jwks, testing::Jwks({PublicJwk(key)}));
  JwtIssuerOptions issuer;
  issuer.issuer = kIssuer;
  issuer.jwks_file = jwks;
  issuer.audiences = {kAudience};
  auto create = [](JwtIssuerOptions issuer_options) {
    JwtAuthenticatorOptions options;
    options.issuers = {issuer_options};
    return JwtAuthenticator::Create(options).status();
  };
  EXPECT_TRUE(create(issuer).ok());
  for (const char* bad : {"HS256", "none", "ES512", "rs256"}) {
    JwtIssuerOptions copy = issuer;
    copy.algorithms = {bad};
    EXPECT_FALSE(create(copy).ok()) << bad;
  }
  JwtIssuerOptions copy = issuer;
  copy.audiences.clear();
  EXPECT_FALSE(create(copy).ok());
  copy = issuer;
  copy.jwks_file = (dir / "missing.json").string();
  EXPECT_FALSE(create(copy).ok());
  JwtAuthenticatorOptions twice;
  twice.issuers = {issuer, issuer};
  EXPECT_FALSE(JwtAuthenticator::Create(twice).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace verdict::authn
