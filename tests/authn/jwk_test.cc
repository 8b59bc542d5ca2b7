// ParseJwks keeps only keys that can verify signatures, refuses weak,
// malformed, off-curve, private and ambiguous keys, and binds each key to its
// type and alg.

#include "server/authn/jwk.h"

#include <string>

#include "gtest/gtest.h"
#include "server/authn/base64url.h"
#include "tests/authn/test_keys.h"

namespace verdict::authn {
namespace {

using testing::GenerateKey;
using testing::KeyKind;
using testing::PublicJwk;

TEST(JwkTest, ParsesEveryKeyTypeAndSkipsNonSignatureKeys) {
  const auto rsa = GenerateKey(KeyKind::kRsa2048, "rsa");
  const auto p256 = GenerateKey(KeyKind::kEcP256, "p256");
  const auto p384 = GenerateKey(KeyKind::kEcP384, "p384");
  const auto ed = GenerateKey(KeyKind::kEd25519, "ed");
  nlohmann::json encryption = PublicJwk(GenerateKey(KeyKind::kRsa2048, "enc"));
  encryption["use"] = "enc";
  nlohmann::json oaep = PublicJwk(GenerateKey(KeyKind::kRsa2048, "oaep"));
  oaep.erase("use");
  oaep["alg"] = "RSA-OAEP";
  nlohmann::json wrapping = PublicJwk(GenerateKey(KeyKind::kEcP256, "wrap"));
  wrapping.erase("use");
  wrapping["key_ops"] = {"deriveKey"};
  const nlohmann::json hmac = {{"kty", "oct"}, {"kid", "hs"}, {"alg", "HS256"}};
  const nlohmann::json x25519 = {{"kty", "OKP"},
                                 {"crv", "X25519"},
                                 {"x", Base64UrlEncode(std::string(32, 'a'))}};
  auto set = ParseJwks(
      testing::Jwks({PublicJwk(rsa, "RS256"), PublicJwk(p256), PublicJwk(p384),
                     PublicJwk(ed), encryption, oaep, wrapping, hmac, x25519}));
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->keys.size(), 4u);
  EXPECT_EQ(set->Find("rsa")->type, KeyType::kRsa);
  EXPECT_EQ(set->Find("rsa")->alg, JwsAlgorithm::kRS256);
  EXPECT_EQ(set->Find("p256")->type, KeyType::kEcP256);
  EXPECT_EQ(set->Find("p384")->type, KeyType::kEcP384);
  EXPECT_EQ(set->Find("ed")->type, KeyType::kEd25519);
  EXPECT_EQ(set->Find("hs"), nullptr);
  EXPECT_EQ(set->Find("enc"), nullptr);
  EXPECT_TRUE(KeyAllowsAlgorithm(*set->Find("rsa"), JwsAlgorithm::kRS256));
  EXPECT_FALSE(KeyAllowsAlgorithm(*set->Find("rsa"), JwsAlgorithm::kPS256));
  EXPECT_TRUE(KeyAllowsAlgorithm(*set->Find("p256"), JwsAlgorithm::kES256));
  EXPECT_FALSE(KeyAllowsAlgorithm(*set->Find("p256"), JwsAlgorithm::kES384));
}

TEST(JwkTest, RefusesDangerousOrBrokenDocuments) {
  const auto p256 = GenerateKey(KeyKind::kEcP256, "p256");
  nlohmann::json off_curve = PublicJwk(p256);
  std::string y = *Base64UrlDecode(off_curve["y"].get<std::string>());
  y[31] ^= 0x01;
  off_curve["y"] = Base64UrlEncode(y);
  nlohmann::json short_x = PublicJwk(p256);
  short_x["x"] = Base64UrlEncode(std::string(31, 'a'));
  nlohmann::json private_key = PublicJwk(p256);
  private_key["d"] = Base64UrlEncode(std::string(32, 'a'));
  nlohmann::json small_rsa = {{"kty", "RSA"},
                              {"kid", "small"},
                              {"n", Base64UrlEncode(std::string(128, '\xc5'))},
                              {"e", "AQAB"}};
  nlohmann::json padded = PublicJwk(p256);
  padded["x"] = padded["x"].get<std::string>() + "=";
  for (const std::string& bad :
       {testing::Jwks({off_curve}), testing::Jwks({short_x}),
        testing::Jwks({private_key}), testing::Jwks({small_rsa}),
        testing::Jwks({padded}),
        testing::Jwks({PublicJwk(p256), PublicJwk(p256)}),
        std::string(R"({"keys":{}})"), std::string("{}"), std::string("[]"),
        std::string(R"({"keys":[],"keys":[]})")}) {
    EXPECT_FALSE(ParseJwks(bad).ok()) << bad;
  }
}

TEST(JwkTest, AlgorithmNamesAreExactAndAsymmetricOnly) {
  for (const char* name :
       {"none", "HS256", "HS384", "HS512", "rs256", "ES512", "Ed25519", ""}) {
    EXPECT_FALSE(ParseJwsAlgorithm(name).has_value()) << name;
  }
  for (int i = 0; i < kJwsAlgorithmCount; ++i) {
    const auto algorithm = static_cast<JwsAlgorithm>(i);
    EXPECT_EQ(ParseJwsAlgorithm(JwsAlgorithmName(algorithm)), algorithm);
  }
}

}  // namespace
}  // namespace verdict::authn
