#include "server/authn/jwk.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/authn/base64url.h"
#include "server/authn/strict_json.h"

namespace verdict::authn {
namespace {

constexpr std::array<std::string_view, kJwsAlgorithmCount> kAlgorithmNames = {
    "RS256", "RS384", "RS512", "PS256", "PS384",
    "PS512", "ES256", "ES384", "EdDSA"};

constexpr int kMinRsaBits = 2048;

absl::string_view Piece(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// The member `name` of `object` as a string, or nullptr when absent or not a
// string.
const std::string* StringMember(const nlohmann::json& object,
                                std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

absl::StatusOr<std::string> DecodedMember(const nlohmann::json& object,
                                          std::string_view name) {
  const std::string* text = StringMember(object, name);
  if (text == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing or non-string \"", Piece(name), "\""));
  }
  std::optional<std::string> bytes = Base64UrlDecode(*text);
  if (!bytes.has_value() || bytes->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", Piece(name), "\" is not base64url"));
  }
  return *std::move(bytes);
}

absl::StatusOr<EvpPkeyPtr> KeyFromParams(const char* type,
                                         OSSL_PARAM_BLD* builder) {
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(builder));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr ||
      EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) !=
          1) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid public key: ", TakeOpenSslError()));
  }
  EvpPkeyPtr key(raw);
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("public key fails its check: ", TakeOpenSslError()));
  }
  return key;
}

absl::StatusOr<EvpPkeyPtr> RsaKey(const nlohmann::json& jwk) {
  absl::StatusOr<std::string> n = DecodedMember(jwk, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = DecodedMember(jwk, "e");
  if (!e.ok()) return e.status();
  BignumPtr modulus(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                              static_cast<int>(n->size()), nullptr));
  BignumPtr exponent(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                static_cast<int>(e->size()), nullptr));
  if (modulus == nullptr || exponent == nullptr) {
    return absl::InternalError("out of memory");
  }
  if (BN_num_bits(modulus.get()) < kMinRsaBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("RSA modulus under ", kMinRsaBits, " bits"));
  }
  OsslParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (builder == nullptr ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N,
                             modulus.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E,
                             exponent.get()) != 1) {
    return absl::InternalError("out of memory");
  }
  return KeyFromParams("RSA", builder.get());
}

absl::StatusOr<EvpPkeyPtr> EcKey(const nlohmann::json& jwk, KeyType type) {
  const size_t coordinate_bytes = type == KeyType::kEcP256 ? 32 : 48;
  absl::StatusOr<std::string> x = DecodedMember(jwk, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = DecodedMember(jwk, "y");
  if (!y.ok()) return y.status();
  if (x->size() != coordinate_bytes || y->size() != coordinate_bytes) {
    return absl::InvalidArgumentError("EC coordinate of the wrong length");
  }
  // Uncompressed point encoding: 0x04 || x || y.
  std::string point = absl::StrCat("\x04", *x, *y);
  OsslParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (builder == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(
          builder.get(), OSSL_PKEY_PARAM_GROUP_NAME,
          type == KeyType::kEcP256 ? "P-256" : "P-384", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) != 1) {
    return absl::InternalError("out of memory");
  }
  return KeyFromParams("EC", builder.get());
}

absl::StatusOr<EvpPkeyPtr> Ed25519Key(const nlohmann::json& jwk) {
  absl::StatusOr<std::string> x = DecodedMember(jwk, "x");
  if (!x.ok()) return x.status();
  if (x->size() != 32) {
    return absl::InvalidArgumentError("Ed25519 key of the wrong length");
  }
  EvpPkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(x->data()), x->size()));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid Ed25519 key: ", TakeOpenSslError()));
  }
  return key;
}

// The key type of a JWK, or nullopt when it cannot verify a supported
// signature.
std::optional<KeyType> SupportedKeyType(const nlohmann::json& jwk) {
  const std::string* kty = StringMember(jwk, "kty");
  if (kty == nullptr) return std::nullopt;
  if (*kty == "RSA") return KeyType::kRsa;
  const std::string* crv = StringMember(jwk, "crv");
  if (crv == nullptr) return std::nullopt;
  if (*kty == "EC" && *crv == "P-256") return KeyType::kEcP256;
  if (*kty == "EC" && *crv == "P-384") return KeyType::kEcP384;
  if (*kty == "OKP" && *crv == "Ed25519") return KeyType::kEd25519;
  return std::nullopt;
}

bool UsableForVerification(const nlohmann::json& jwk) {
  const auto use = jwk.find("use");
  if (use != jwk.end() && (!use->is_string() || *use != "sig")) return false;
  const auto ops = jwk.find("key_ops");
  if (ops != jwk.end()) {
    if (!ops->is_array()) return false;
    bool verify = false;
    for (const auto& op : *ops)
      verify = verify || (op.is_string() && op == "verify");
    if (!verify) return false;
  }
  return true;
}

const EVP_MD* DigestFor(JwsAlgorithm algorithm, const EVP_MD* sha256,
                        const EVP_MD* sha384, const EVP_MD* sha512) {
  switch (algorithm) {
    case JwsAlgorithm::kRS256:
    case JwsAlgorithm::kPS256:
    case JwsAlgorithm::kES256:
      return sha256;
    case JwsAlgorithm::kRS384:
    case JwsAlgorithm::kPS384:
    case JwsAlgorithm::kES384:
      return sha384;
    case JwsAlgorithm::kRS512:
    case JwsAlgorithm::kPS512:
      return sha512;
    case JwsAlgorithm::kEdDSA:
      return nullptr;
  }
  return nullptr;
}

// JWS carries ECDSA signatures as fixed-width r||s; EVP wants DER.
std::optional<std::string> EcdsaRawToDer(std::string_view raw,
                                         size_t coordinate_bytes) {
  if (raw.size() != 2 * coordinate_bytes) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BignumPtr r(BN_bin2bn(bytes, static_cast<int>(coordinate_bytes), nullptr));
  BignumPtr s(BN_bin2bn(bytes + coordinate_bytes,
                        static_cast<int>(coordinate_bytes), nullptr));
  EcdsaSigPtr signature(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || signature == nullptr ||
      ECDSA_SIG_set0(signature.get(), r.get(), s.get()) != 1) {
    return std::nullopt;
  }
  r.release();  // owned by signature now
  s.release();
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(signature.get(), &der);
  if (length <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), length);
  OPENSSL_free(der);
  return out;
}

}  // namespace

std::optional<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  for (int i = 0; i < kJwsAlgorithmCount; ++i) {
    if (kAlgorithmNames[i] == name) return static_cast<JwsAlgorithm>(i);
  }
  return std::nullopt;
}

std::string_view JwsAlgorithmName(JwsAlgorithm algorithm) {
  return kAlgorithmNames[static_cast<int>(algorithm)];
}

KeyType KeyTypeFor(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kES256:
      return KeyType::kEcP256;
    case JwsAlgorithm::kES384:
      return KeyType::kEcP384;
    case JwsAlgorithm::kEdDSA:
      return KeyType::kEd25519;
    default:
      return KeyType::kRsa;
  }
}

bool KeyAllowsAlgorithm(const Jwk& key, JwsAlgorithm algorithm) {
  return key.type == KeyTypeFor(algorithm) &&
         (!key.alg.has_value() || *key.alg == algorithm);
}

const Jwk* JwkSet::Find(std::string_view kid) const {
  const auto it = by_kid.find(absl::string_view(kid.data(), kid.size()));
  return it == by_kid.end() ? nullptr : &keys[it->second];
}

absl::StatusOr<JwkSet> ParseJwks(std::string_view text) {
  absl::StatusOr<nlohmann::json> document = ParseStrictJsonObject(text);
  if (!document.ok()) return document.status();
  const auto keys = document->find("keys");
  if (keys == document->end() || !keys->is_array()) {
    return absl::InvalidArgumentError("JWKS has no \"keys\" array");
  }
  JwkSet set;
  int index = -1;
  for (const nlohmann::json& entry : *keys) {
    ++index;
    auto fail = [index](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("key ", index, ": ", why));
    };
    if (!entry.is_object()) return fail("not an object");
    for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
      if (entry.contains(secret)) return fail("holds private key material");
    }
    const std::optional<KeyType> type = SupportedKeyType(entry);
    if (!type.has_value() || !UsableForVerification(entry)) continue;
    Jwk jwk;
    jwk.type = *type;
    if (const auto alg = entry.find("alg"); alg != entry.end()) {
      const std::optional<JwsAlgorithm> parsed =
          alg->is_string()
              ? ParseJwsAlgorithm(alg->get_ref<const std::string&>())
              : std::nullopt;
      // An encryption or HMAC alg, or one for another key type: not ours.
      if (!parsed.has_value() || KeyTypeFor(*parsed) != *type) continue;
      jwk.alg = parsed;
    }
    if (const auto kid = entry.find("kid"); kid != entry.end()) {
      if (!kid->is_string()) return fail("\"kid\" is not a string");
      jwk.kid = kid->get<std::string>();
    }
    absl::StatusOr<EvpPkeyPtr> key;
    switch (*type) {
      case KeyType::kRsa:
        key = RsaKey(entry);
        break;
      case KeyType::kEcP256:
      case KeyType::kEcP384:
        key = EcKey(entry, *type);
        break;
      case KeyType::kEd25519:
        key = Ed25519Key(entry);
        break;
    }
    if (!key.ok()) return fail(key.status().message());
    jwk.key = *std::move(key);
    if (!jwk.kid.empty() &&
        !set.by_kid.emplace(jwk.kid, set.keys.size()).second) {
      return fail("duplicate kid");
    }
    set.keys.push_back(std::move(jwk));
  }
  return set;
}

JwsVerifier::JwsVerifier()
    : sha256_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)),
      sha384_(EVP_MD_fetch(nullptr, "SHA2-384", nullptr)),
      sha512_(EVP_MD_fetch(nullptr, "SHA2-512", nullptr)) {}

bool JwsVerifier::Verify(JwsAlgorithm algorithm, const Jwk& key,
                         std::string_view signing_input,
                         std::string_view signature) const {
  if (!KeyAllowsAlgorithm(key, algorithm)) return false;
  const EVP_MD* md =
      DigestFor(algorithm, sha256_.get(), sha384_.get(), sha512_.get());
  if (md == nullptr && algorithm != JwsAlgorithm::kEdDSA) return false;
  std::optional<std::string> der;
  if (algorithm == JwsAlgorithm::kES256 || algorithm == JwsAlgorithm::kES384) {
    der = EcdsaRawToDer(signature, algorithm == JwsAlgorithm::kES256 ? 32 : 48);
    if (!der.has_value()) return false;
    signature = *der;
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, md, nullptr,
                                             key.key.get()) != 1) {
    ERR_clear_error();
    return false;
  }
  if (algorithm == JwsAlgorithm::kPS256 || algorithm == JwsAlgorithm::kPS384 ||
      algorithm == JwsAlgorithm::kPS512) {
    // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as it.
    if (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_ctx, md) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_DIGEST) !=
            1) {
      ERR_clear_error();
      return false;
    }
  } else if (KeyTypeFor(algorithm) == KeyType::kRsa) {
    if (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) != 1) {
      ERR_clear_error();
      return false;
    }
  }
  const int verified = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
      signature.size(),
      reinterpret_cast<const unsigned char*>(signing_input.data()),
      signing_input.size());
  if (verified != 1) ERR_clear_error();
  return verified == 1;
}

}  // namespace verdict::authn
