// Grant signing key sets: loading a key set directory (plain and as a
// Kubernetes Secret mounts it), each way a set fails to load, which key
// signs, rotation (old grants keep verifying until they expire, a removed
// key's grants stop at once), reloads that keep the previous set, and the
// public keys as a JWK Set that verifies a grant with nothing but OpenSSL.

#include "server/grants/grant_keys.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/authn/base64url.h"
#include "server/authn/jwk.h"
#include "server/grants/grant_token.h"
#include "tests/grants/grant_test_keys.h"

namespace verdict::grants {
namespace {

namespace fs = std::filesystem;
using authn::Base64UrlDecode;
using authn::Base64UrlEncode;
using authn::JwsAlgorithm;
using authn::testing::GenerateKey;
using authn::testing::KeyKind;
using authn::testing::TestKey;
using model::ReasonCode;
using nlohmann::json;
using ::testing::HasSubstr;
using testing::SampleClaims;
using testing::TempDir;
using testing::WriteFile;
using testing::WritePrivateKeyPem;

const absl::Time kIssued = absl::FromUnixSeconds(1800000000);
const absl::Time kExpires = kIssued + absl::Minutes(15);

json HeaderOf(const std::string& token) {
  return json::parse(*Base64UrlDecode(token.substr(0, token.find('.'))));
}

std::string KidOf(const std::string& token) {
  return HeaderOf(token)["kid"].get<std::string>();
}

class GrantKeysTest : public ::testing::Test {
 protected:
  // Writes a fresh key of `kind` as `name` in the key set directory and
  // returns it.
  TestKey AddKey(const std::string& name, KeyKind kind = KeyKind::kEcP256) {
    TestKey key = GenerateKey(kind, "");
    WritePrivateKeyPem(key, dir_.File(name));
    return key;
  }
  void SetActive(std::string_view contents) {
    WriteFile(dir_.File("active"), contents);
  }
  absl::Status LoadStatus() const {
    return GrantKeySet::FromDirectory(dir_.path()).status();
  }
  std::unique_ptr<GrantSigner> Signer() const {
    absl::StatusOr<std::unique_ptr<GrantSigner>> signer = GrantSigner::Create(
        GrantKeySource{.key_file = "", .keys_dir = dir_.path()});
    EXPECT_TRUE(signer.ok()) << signer.status();
    return signer.ok() ? *std::move(signer) : nullptr;
  }
  static std::string SignOrDie(const GrantSigner& signer,
                               const std::string& id = "g-1") {
    GrantClaims claims = SampleClaims(kIssued);
    claims.id = id;
    absl::StatusOr<std::string> token = signer.Sign(claims);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? *token : "";
  }
  static std::string ActiveKid(const GrantSigner& signer) {
    return signer.keys().Latest()->active().kid();
  }

  TempDir dir_;
};

TEST_F(GrantKeysTest, LoadsEveryPemFileAndSignsWithTheActiveOne) {
  AddKey("2026-11.pem", KeyKind::kEcP256);
  AddKey("2026-12.pem", KeyKind::kEd25519);
  WriteFile(dir_.File("README"), "not a key, not read\n");
  WriteFile(dir_.File(".hidden.pem"), "not a key either\n");
  SetActive("2026-12.pem\n");  // as `echo` or kubectl writes it
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::shared_ptr<const GrantKeySet> keys = signer->keys().Latest();
  ASSERT_EQ(keys->keys().size(), 2u);
  EXPECT_EQ(keys->active().path(), dir_.File("2026-12.pem"));
  EXPECT_EQ(keys->active().algorithm(), JwsAlgorithm::kEdDSA);
  for (const auto& key : keys->keys()) {
    EXPECT_EQ(keys->Find(key->kid()), key.get());
  }
  EXPECT_EQ(keys->Find("no-such-kid"), nullptr);

  const std::string token = SignOrDie(*signer);
  EXPECT_EQ(HeaderOf(token)["kid"], keys->active().kid());
  EXPECT_EQ(HeaderOf(token)["alg"], "EdDSA");
  EXPECT_TRUE(signer->verifier().Verify(token, kIssued).ok());
}

TEST_F(GrantKeysTest, EachBrokenDirectoryFailsNamingTheFile) {
  struct Case {
    const char* what;
    std::function<void()> arrange;
    std::string names;    // the file the message names
    const char* problem;  // and what is wrong with it
  };
  const std::string same_pem_first = dir_.File("a.pem");
  const std::vector<Case> cases = {
      {"no key file", [this] { SetActive("a.pem"); }, dir_.path(),
       "no *.pem key file"},
      {"no active file", [this] { AddKey("a.pem"); }, dir_.File("active"),
       "cannot be read"},
      {"empty active",
       [this] {
         AddKey("a.pem");
         SetActive(" \n");
       },
       dir_.File("active"), "is empty"},
      {"active naming no key",
       [this] {
         AddKey("a.pem");
         SetActive("b.pem");
       },
       dir_.File("active"), "names \"b.pem\", which is not a *.pem key file"},
      {"active naming a key elsewhere",
       [this] {
         AddKey("a.pem");
         SetActive("../a.pem");
       },
       dir_.File("active"), "which is not a *.pem key file"},
      {"invalid key file",
       [this] {
         AddKey("a.pem");
         WriteFile(dir_.File("b.pem"), "-----BEGIN PRIVATE KEY-----\n");
         SetActive("a.pem");
       },
       dir_.File("b.pem"), "not an unencrypted PEM private key"},
      {"unreadable key file",
       [this] {
         AddKey("a.pem");
         fs::create_symlink(dir_.File("gone"), dir_.File("b.pem"));
         SetActive("a.pem");
       },
       dir_.File("b.pem"), "cannot open"},
      {"unsupported key type",
       [this] {
         AddKey("a.pem");
         AddKey("b.pem", KeyKind::kRsa2048);
         SetActive("a.pem");
       },
       dir_.File("b.pem"), "unsupported key type"},
      {"the same key twice",
       [this] {
         AddKey("a.pem");
         fs::copy_file(dir_.File("a.pem"), dir_.File("copy.pem"));
         SetActive("a.pem");
       },
       dir_.File("copy.pem"), "are the same key"},
  };
  for (const Case& c : cases) {
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
      fs::remove_all(entry.path());
    }
    c.arrange();
    const absl::Status status = LoadStatus();
    EXPECT_FALSE(status.ok()) << c.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.names)) << c.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.problem)) << c.what;
    EXPECT_FALSE(GrantSigner::Create(
                     GrantKeySource{.key_file = "", .keys_dir = dir_.path()})
                     .ok())
        << c.what;
  }
  const absl::Status missing =
      GrantKeySet::FromDirectory(dir_.File("missing")).status();
  EXPECT_THAT(std::string(missing.message()), HasSubstr(dir_.File("missing")));
}

TEST_F(GrantKeysTest, SourceNeedsExactlyOneOfFileAndDirectory) {
  EXPECT_FALSE(GrantKeys::Load(GrantKeySource{}).ok());
  AddKey("a.pem");
  SetActive("a.pem");
  EXPECT_FALSE(GrantKeys::Load(GrantKeySource{.key_file = dir_.File("a.pem"),
                                              .keys_dir = dir_.path()})
                   .ok());
}

TEST_F(GrantKeysTest, RotationKeepsOldGrantsUntilTheyExpire) {
  AddKey("old.pem");
  SetActive("old.pem");
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::string old_kid = ActiveKid(*signer);
  const std::string old_grant = SignOrDie(*signer, "g-old");
  ASSERT_TRUE(signer->verifier().Verify(old_grant, kIssued).ok());

  // Step 1: the new key joins the set; the old one still signs.
  AddKey("new.pem");
  ASSERT_TRUE(signer->ReloadKeys().ok());
  EXPECT_EQ(signer->keys().Latest()->keys().size(), 2u);
  EXPECT_EQ(ActiveKid(*signer), old_kid);
  EXPECT_EQ(KidOf(SignOrDie(*signer)), old_kid);

  // Step 2: `active` moves; new grants carry the new kid, old ones verify
  // until their own expiry.
  SetActive("new.pem");
  ASSERT_TRUE(signer->ReloadKeys().ok());
  const std::string new_grant = SignOrDie(*signer, "g-new");
  EXPECT_NE(KidOf(new_grant), old_kid);
  EXPECT_EQ(KidOf(new_grant), ActiveKid(*signer));
  EXPECT_TRUE(signer->verifier().Verify(new_grant, kIssued).ok());
  EXPECT_TRUE(signer->verifier().Verify(old_grant, kIssued).ok());
  EXPECT_TRUE(
      signer->verifier().Verify(old_grant, kExpires - absl::Seconds(1)).ok());
  EXPECT_EQ(signer->verifier().Verify(old_grant, kExpires).code,
            ReasonCode::kGrantExpired);

  // Step 3: the old key leaves; its grants stop verifying at once, cached
  // or not.
  ASSERT_GT(signer->verifier().cached_grants(), 0u);
  fs::remove(dir_.File("old.pem"));
  ASSERT_TRUE(signer->ReloadKeys().ok());
  const GrantOutcome withdrawn = signer->verifier().Verify(old_grant, kIssued);
  EXPECT_FALSE(withdrawn.ok());
  EXPECT_EQ(withdrawn.code, ReasonCode::kSignatureInvalid) << withdrawn.message;
  EXPECT_EQ(withdrawn.claims, nullptr);
  EXPECT_TRUE(signer->verifier().Verify(new_grant, kIssued).ok());
}

TEST_F(GrantKeysTest, AnUnchangedSetIsNotRepublished) {
  AddKey("a.pem");
  SetActive("a.pem");
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::string token = SignOrDie(*signer);
  ASSERT_TRUE(signer->verifier().Verify(token, kIssued).ok());
  const std::shared_ptr<const GrantKeySet> before = signer->keys().Latest();
  // Rewritten with the same contents: same keys, so the cache survives.
  SetActive("a.pem\n");
  const absl::StatusOr<bool> changed = signer->ReloadKeys();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);
  EXPECT_EQ(signer->keys().Latest(), before);
  EXPECT_EQ(signer->verifier().cached_grants(), 1u);
}

TEST_F(GrantKeysTest, ABadChangeKeepsThePreviousSet) {
  AddKey("a.pem");
  AddKey("b.pem");
  SetActive("a.pem");
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::string kid = ActiveKid(*signer);
  const std::string token = SignOrDie(*signer);
  const std::shared_ptr<const GrantKeySet> before = signer->keys().Latest();

  struct Change {
    const char* what;
    std::function<void()> make;
    std::function<void()> undo;
    std::string names;
  };
  const std::vector<Change> changes = {
      {"active names no key", [this] { SetActive("c.pem"); },
       [this] { SetActive("a.pem"); }, dir_.File("active")},
      {"active emptied", [this] { SetActive(""); },
       [this] { SetActive("a.pem"); }, dir_.File("active")},
      {"active removed", [this] { fs::remove(dir_.File("active")); },
       [this] { SetActive("a.pem"); }, dir_.File("active")},
      {"a broken key added",
       [this] { WriteFile(dir_.File("c.pem"), "garbage"); },
       [this] { fs::remove(dir_.File("c.pem")); }, dir_.File("c.pem")},
      {"a duplicate added",
       [this] { fs::copy_file(dir_.File("b.pem"), dir_.File("c.pem")); },
       [this] { fs::remove(dir_.File("c.pem")); }, dir_.File("c.pem")},
  };
  uint64_t failures = signer->keys().reload_failures();
  for (const Change& change : changes) {
    change.make();
    const absl::Status status = signer->ReloadKeys().status();
    EXPECT_FALSE(status.ok()) << change.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr(change.names))
        << change.what;
    EXPECT_THAT(std::string(status.message()), HasSubstr("previous keys kept"))
        << change.what;
    EXPECT_EQ(signer->keys().reload_failures(), ++failures) << change.what;
    EXPECT_EQ(signer->keys().Latest(), before) << change.what;
    EXPECT_EQ(KidOf(SignOrDie(*signer)), kid) << change.what;
    EXPECT_TRUE(signer->verifier().Verify(token, kIssued).ok()) << change.what;
    change.undo();
  }
  ASSERT_TRUE(signer->ReloadKeys().ok());
  EXPECT_EQ(signer->keys().reload_failures(), failures);
}

TEST_F(GrantKeysTest, ATokenIsOnlyTriedAgainstTheKeyItsKidNames) {
  const TestKey a = AddKey("a.pem", KeyKind::kEcP256);
  const TestKey b = AddKey("b.pem", KeyKind::kEcP256);
  const TestKey ed = AddKey("ed.pem", KeyKind::kEd25519);
  SetActive("a.pem");
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::shared_ptr<const GrantKeySet> keys = signer->keys().Latest();
  const std::string sample = SignOrDie(*signer);
  const size_t first = sample.find('.');
  const std::string payload =
      *Base64UrlDecode(sample.substr(first + 1, sample.rfind('.') - first - 1));
  auto kid_of_file = [&keys, this](const std::string& name) {
    for (const auto& key : keys->keys()) {
      if (key->path() == dir_.File(name)) return key->kid();
    }
    return std::string();
  };
  auto token = [&payload](JwsAlgorithm alg, const TestKey& key,
                          const std::string& kid) {
    return authn::testing::SignJwt(
        alg, key,
        {{"alg", std::string(authn::JwsAlgorithmName(alg))},
         {"kid", kid},
         {"typ", "verdict-grant+jwt"}},
        json::parse(payload));
  };
  // Each key verifies its own tokens.
  EXPECT_TRUE(
      signer->verifier()
          .Verify(token(JwsAlgorithm::kES256, b, kid_of_file("b.pem")), kIssued)
          .ok());
  EXPECT_TRUE(
      signer->verifier()
          .Verify(token(JwsAlgorithm::kEdDSA, ed, kid_of_file("ed.pem")),
                  kIssued)
          .ok());
  // Signed by a but naming b: tried against b only.
  EXPECT_EQ(
      signer->verifier()
          .Verify(token(JwsAlgorithm::kES256, a, kid_of_file("b.pem")), kIssued)
          .code,
      ReasonCode::kSignatureInvalid);
  // A kid the set does not have, by a key of the set.
  const GrantOutcome unknown = signer->verifier().Verify(
      token(JwsAlgorithm::kES256, a, "not-a-kid"), kIssued);
  EXPECT_EQ(unknown.code, ReasonCode::kSignatureInvalid);
  EXPECT_THAT(unknown.message, HasSubstr("kid names none"));
  // The Ed25519 key's kid with ES256: the alg is the set's, not the key's.
  EXPECT_EQ(signer->verifier()
                .Verify(token(JwsAlgorithm::kES256, a, kid_of_file("ed.pem")),
                        kIssued)
                .code,
            ReasonCode::kAlgorithmNotAllowed);
}

TEST_F(GrantKeysTest, ReadsAKubernetesSecretThroughItsDataSymlink) {
  // What the kubelet writes: a timestamped directory, ..data pointing at
  // it, and every visible name a symlink through ..data.
  auto write_version = [this](const std::string& version,
                              const std::vector<std::string>& names,
                              const std::string& active) {
    fs::create_directory(dir_.File(version));
    for (const std::string& name : names) {
      WritePrivateKeyPem(GenerateKey(KeyKind::kEcP256, ""),
                         dir_.File(version + "/" + name));
    }
    WriteFile(dir_.File(version + "/active"), active);
    fs::create_directory_symlink(version, dir_.File("..data_tmp"));
    fs::rename(dir_.File("..data_tmp"), dir_.File("..data"));
    for (const std::string& name : names) {
      if (!fs::is_symlink(dir_.File(name))) {
        fs::create_symlink("..data/" + name, dir_.File(name));
      }
    }
    if (!fs::is_symlink(dir_.File("active"))) {
      fs::create_symlink("..data/active", dir_.File("active"));
    }
  };
  write_version("..2026_11_01", {"k1.pem"}, "k1.pem");
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::shared_ptr<const GrantKeySet> first = signer->keys().Latest();
  ASSERT_EQ(first->keys().size(), 1u);
  EXPECT_EQ(first->active().path(), dir_.File("k1.pem"));
  const std::string grant = SignOrDie(*signer);

  write_version("..2026_12_01", {"k1.pem", "k2.pem"}, "k2.pem");
  ASSERT_TRUE(signer->ReloadKeys().ok());
  const std::shared_ptr<const GrantKeySet> second = signer->keys().Latest();
  ASSERT_EQ(second->keys().size(), 2u);
  EXPECT_EQ(second->active().path(), dir_.File("k2.pem"));
  // The new version's k1.pem is another key: the first grant's is gone.
  EXPECT_EQ(signer->verifier().Verify(grant, kIssued).code,
            ReasonCode::kSignatureInvalid);
  EXPECT_TRUE(signer->verifier().Verify(SignOrDie(*signer), kIssued).ok());
}

TEST_F(GrantKeysTest, ASingleKeyFileIsASetOfOne) {
  const std::string path = dir_.File("one.pem");
  WritePrivateKeyPem(GenerateKey(KeyKind::kEd25519, ""), path);
  absl::StatusOr<std::unique_ptr<GrantSigner>> signer =
      GrantSigner::FromKeyFile(path);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string grant = SignOrDie(**signer);
  EXPECT_EQ((*signer)->keys().Latest()->keys().size(), 1u);
  EXPECT_EQ((*signer)->keys().WatchedDirectory(), dir_.path());
  // A new key in the file replaces the set of one: its old grants stop.
  WritePrivateKeyPem(GenerateKey(KeyKind::kEd25519, ""), path);
  ASSERT_TRUE((*signer)->ReloadKeys().ok());
  EXPECT_EQ((*signer)->verifier().Verify(grant, kIssued).code,
            ReasonCode::kSignatureInvalid);
  // A broken file keeps the key in force.
  const std::string current = SignOrDie(**signer);
  WriteFile(path, "garbage");
  EXPECT_FALSE((*signer)->ReloadKeys().ok());
  EXPECT_TRUE((*signer)->verifier().Verify(current, kIssued).ok());
}

// The public key a JWK describes, built with OpenSSL alone.
authn::EvpPkeyPtr KeyFromJwk(const json& jwk) {
  const std::string x = *Base64UrlDecode(jwk["x"].get<std::string>());
  if (jwk["kty"] == "OKP") {
    return authn::EvpPkeyPtr(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr,
        reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  }
  const std::string y = *Base64UrlDecode(jwk["y"].get<std::string>());
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME,
                                  "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                   point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    key = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(build);
  return authn::EvpPkeyPtr(key);
}

// Whether the JWS `token` verifies under `key` (R||S converted to DER for
// ECDSA).
bool VerifiesWith(const std::string& token, EVP_PKEY* key, bool ecdsa) {
  const size_t last = token.rfind('.');
  const std::string input = token.substr(0, last);
  std::string signature = *Base64UrlDecode(token.substr(last + 1));
  if (ecdsa) {
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(
        sig,
        BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 32,
                  nullptr),
        BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 32,
                  32, nullptr));
    unsigned char* der = nullptr;
    const int length = i2d_ECDSA_SIG(sig, &der);
    signature.assign(reinterpret_cast<const char*>(der), length);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, ecdsa ? EVP_sha256() : nullptr,
                           nullptr, key) == 1 &&
      EVP_DigestVerify(ctx,
                       reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(),
                       reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

TEST_F(GrantKeysTest, PublicJwksVerifiesGrantsOffline) {
  AddKey("ec.pem", KeyKind::kEcP256);
  AddKey("ed.pem", KeyKind::kEd25519);
  SetActive("ec.pem");
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::string ec_grant = SignOrDie(*signer, "g-ec");
  SetActive("ed.pem");
  ASSERT_TRUE(signer->ReloadKeys().ok());
  const std::string ed_grant = SignOrDie(*signer, "g-ed");

  const json jwks = json::parse(signer->keys().PublicJwks());
  ASSERT_EQ(jwks["keys"].size(), 2u);
  for (const json& jwk : jwks["keys"]) {
    EXPECT_EQ(jwk["use"], "sig");
    EXPECT_FALSE(jwk.contains("d")) << "no private part";
    // kid is the RFC 7638 thumbprint of the required members.
    json required = {{"kty", jwk["kty"]}, {"crv", jwk["crv"]}, {"x", jwk["x"]}};
    if (jwk["kty"] == "EC") {
      EXPECT_EQ(jwk["crv"], "P-256");
      EXPECT_EQ(jwk["alg"], "ES256");
      required["y"] = jwk["y"];
    } else {
      EXPECT_EQ(jwk["crv"], "Ed25519");
      EXPECT_EQ(jwk["alg"], "EdDSA");
      EXPECT_FALSE(jwk.contains("y"));
    }
    const std::string canonical = required.dump();
    unsigned char digest[32];
    unsigned int length = 0;
    ASSERT_EQ(EVP_Digest(canonical.data(), canonical.size(), digest, &length,
                         EVP_sha256(), nullptr),
              1);
    EXPECT_EQ(jwk["kid"], Base64UrlEncode(std::string(
                              reinterpret_cast<const char*>(digest), length)));
  }
  // Each grant verifies with the key its kid names, and not with the other.
  for (const std::string& grant : {ec_grant, ed_grant}) {
    for (const json& jwk : jwks["keys"]) {
      const authn::EvpPkeyPtr key = KeyFromJwk(jwk);
      ASSERT_NE(key, nullptr);
      EXPECT_EQ(VerifiesWith(grant, key.get(), jwk["kty"] == "EC"),
                jwk["kid"] == KidOf(grant));
    }
  }
  // Verdict's own JWKS reader takes it as it is.
  absl::StatusOr<authn::JwkSet> parsed =
      authn::ParseJwks(signer->keys().PublicJwks());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->keys.size(), 2u);
}

TEST_F(GrantKeysTest, VerifiesWhileTheSetRotates) {
  AddKey("a.pem");
  AddKey("b.pem");
  SetActive("a.pem");
  const std::unique_ptr<GrantSigner> signer = Signer();
  ASSERT_NE(signer, nullptr);
  const std::string grant = SignOrDie(*signer);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!signer->verifier().Verify(grant, kIssued).ok()) ++failures;
        if (!signer->verifier().Verify(SignOrDie(*signer), kIssued).ok()) {
          ++failures;
        }
        (void)signer->keys().PublicJwks();
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    SetActive(i % 2 == 0 ? "b.pem" : "a.pem");
    ASSERT_TRUE(signer->ReloadKeys().ok());
  }
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace verdict::grants
