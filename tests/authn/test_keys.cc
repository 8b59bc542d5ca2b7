#include "tests/authn/test_keys.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "server/authn/base64url.h"

namespace verdict::authn::testing {
namespace {

// Test setup failing is a broken test environment, not a test result.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test key setup failed: %s: %s\n", what,
                 TakeOpenSslError().c_str());
    std::abort();
  }
}

std::string BignumParam(const EVP_PKEY* key, const char* name, int pad) {
  BIGNUM* raw = nullptr;
  Check(EVP_PKEY_get_bn_param(key, name, &raw) == 1, name);
  BignumPtr bn(raw);
  std::string out(pad > 0 ? pad : BN_num_bytes(bn.get()), '\0');
  Check(BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()),
                     static_cast<int>(out.size())) > 0,
        "BN_bn2binpad");
  return out;
}

const EVP_MD* DigestFor(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kRS256:
    case JwsAlgorithm::kPS256:
    case JwsAlgorithm::kES256:
      return EVP_sha256();
    case JwsAlgorithm::kRS384:
    case JwsAlgorithm::kPS384:
    case JwsAlgorithm::kES384:
      return EVP_sha384();
    case JwsAlgorithm::kRS512:
    case JwsAlgorithm::kPS512:
      return EVP_sha512();
    case JwsAlgorithm::kEdDSA:
      return nullptr;
  }
  return nullptr;
}

void SetTime(ASN1_TIME* field, absl::Time time) {
  Check(ASN1_TIME_set(field, absl::ToTimeT(time)) != nullptr, "ASN1_TIME_set");
}

void AddExtension(X509* cert, X509V3_CTX* ctx, int nid,
                  const std::string& value) {
  X509_EXTENSION* extension =
      X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  Check(extension != nullptr, "X509V3_EXT_conf_nid");
  Check(X509_add_ext(cert, extension, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(extension);
}

}  // namespace

TestKey GenerateKey(KeyKind kind, std::string kid) {
  TestKey key;
  key.kind = kind;
  key.kid = std::move(kid);
  switch (kind) {
    case KeyKind::kRsa2048:
      key.key.reset(EVP_RSA_gen(2048));
      break;
    case KeyKind::kEcP256:
      key.key.reset(EVP_EC_gen("P-256"));
      break;
    case KeyKind::kEcP384:
      key.key.reset(EVP_EC_gen("P-384"));
      break;
    case KeyKind::kEd25519:
      key.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      break;
  }
  Check(key.key != nullptr, "key generation");
  return key;
}

KeyKind KeyKindFor(JwsAlgorithm algorithm) {
  switch (KeyTypeFor(algorithm)) {
    case KeyType::kRsa:
      return KeyKind::kRsa2048;
    case KeyType::kEcP256:
      return KeyKind::kEcP256;
    case KeyType::kEcP384:
      return KeyKind::kEcP384;
    case KeyType::kEd25519:
      return KeyKind::kEd25519;
  }
  return KeyKind::kRsa2048;
}

nlohmann::json PublicJwk(const TestKey& key, std::string_view alg) {
  nlohmann::json jwk;
  switch (key.kind) {
    case KeyKind::kRsa2048:
      jwk["kty"] = "RSA";
      jwk["n"] =
          Base64UrlEncode(BignumParam(key.key.get(), OSSL_PKEY_PARAM_RSA_N, 0));
      jwk["e"] =
          Base64UrlEncode(BignumParam(key.key.get(), OSSL_PKEY_PARAM_RSA_E, 0));
      break;
    case KeyKind::kEcP256:
    case KeyKind::kEcP384: {
      const int size = key.kind == KeyKind::kEcP256 ? 32 : 48;
      jwk["kty"] = "EC";
      jwk["crv"] = key.kind == KeyKind::kEcP256 ? "P-256" : "P-384";
      jwk["x"] = Base64UrlEncode(
          BignumParam(key.key.get(), OSSL_PKEY_PARAM_EC_PUB_X, size));
      jwk["y"] = Base64UrlEncode(
          BignumParam(key.key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size));
      break;
    }
    case KeyKind::kEd25519: {
      std::string raw(32, '\0');
      size_t length = raw.size();
      Check(EVP_PKEY_get_raw_public_key(
                key.key.get(), reinterpret_cast<unsigned char*>(raw.data()),
                &length) == 1,
            "EVP_PKEY_get_raw_public_key");
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = Base64UrlEncode(raw);
      break;
    }
  }
  if (!key.kid.empty()) jwk["kid"] = key.kid;
  if (!alg.empty()) jwk["alg"] = std::string(alg);
  jwk["use"] = "sig";
  return jwk;
}

std::string Jwks(const std::vector<nlohmann::json>& keys) {
  nlohmann::json document;
  document["keys"] = keys;
  return document.dump();
}

std::string Sign(JwsAlgorithm algorithm, const TestKey& key,
                 std::string_view signing_input) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  Check(EVP_DigestSignInit(ctx.get(), &pkey_ctx, DigestFor(algorithm), nullptr,
                           key.key.get()) == 1,
        "EVP_DigestSignInit");
  if (algorithm == JwsAlgorithm::kPS256 || algorithm == JwsAlgorithm::kPS384 ||
      algorithm == JwsAlgorithm::kPS512) {
    Check(EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx,
                                               RSA_PSS_SALTLEN_DIGEST) == 1,
          "PSS");
  }
  size_t length = 0;
  const auto* input =
      reinterpret_cast<const unsigned char*>(signing_input.data());
  Check(EVP_DigestSign(ctx.get(), nullptr, &length, input,
                       signing_input.size()) == 1,
        "EVP_DigestSign size");
  std::string signature(length, '\0');
  Check(EVP_DigestSign(ctx.get(),
                       reinterpret_cast<unsigned char*>(signature.data()),
                       &length, input, signing_input.size()) == 1,
        "EVP_DigestSign");
  signature.resize(length);
  if (algorithm != JwsAlgorithm::kES256 && algorithm != JwsAlgorithm::kES384) {
    return signature;
  }
  const int size = algorithm == JwsAlgorithm::kES256 ? 32 : 48;
  const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
  EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &der, signature.size()));
  Check(ecdsa != nullptr, "d2i_ECDSA_SIG");
  std::string raw(2 * size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), out, size);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), out + size, size);
  return raw;
}

std::string Hmac(std::string_view digest, std::string_view secret,
                 std::string_view input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t length = 0;
  const std::string digest_name(digest);
  Check(EVP_Q_mac(nullptr, "HMAC", nullptr, digest_name.c_str(), nullptr,
                  secret.data(), secret.size(),
                  reinterpret_cast<const unsigned char*>(input.data()),
                  input.size(), out, sizeof(out), &length) != nullptr,
        "EVP_Q_mac");
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string PublicKeyDer(const TestKey& key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key.key.get(), &der);
  Check(length > 0, "i2d_PUBKEY");
  std::string out(reinterpret_cast<const char*>(der), length);
  OPENSSL_free(der);
  return out;
}

std::string SigningInput(const nlohmann::json& header,
                         const nlohmann::json& claims) {
  return Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
}

std::string SignJwt(JwsAlgorithm algorithm, const TestKey& key,
                    nlohmann::json header, const nlohmann::json& claims) {
  if (!header.contains("alg")) {
    header["alg"] = std::string(JwsAlgorithmName(algorithm));
  }
  if (!header.contains("kid") && !key.kid.empty()) header["kid"] = key.kid;
  const std::string input = SigningInput(header, claims);
  return input + "." + Base64UrlEncode(Sign(algorithm, key, input));
}

void ReplaceFile(const std::string& path, std::string_view contents) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out) std::abort();
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) std::abort();
}

std::string TestCert::Pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(bio.get(), cert.get()) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT
  return std::string(data, length);
}

TestCert MakeCert(const CertOptions& options, const TestCert* issuer) {
  TestCert result;
  result.key.reset(EVP_EC_gen("P-256"));
  result.cert.reset(X509_new());
  X509* cert = result.cert.get();
  Check(result.key != nullptr && cert != nullptr, "allocation");
  Check(X509_set_version(cert, X509_VERSION_3) == 1, "X509_set_version");
  unsigned char serial[16];
  Check(RAND_bytes(serial, sizeof(serial)) == 1, "RAND_bytes");
  serial[0] &= 0x7f;
  BignumPtr serial_bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  Check(BN_to_ASN1_INTEGER(serial_bn.get(), X509_get_serialNumber(cert)) !=
            nullptr,
        "serial");
  SetTime(X509_getm_notBefore(cert), options.not_before);
  SetTime(X509_getm_notAfter(cert), options.not_after);
  X509_NAME* name = X509_get_subject_name(cert);
  Check(X509_NAME_add_entry_by_txt(
            name, "CN", MBSTRING_ASC,
            reinterpret_cast<const unsigned char*>(options.common_name.c_str()),
            -1, -1, 0) == 1,
        "CN");
  const X509* signer_cert = issuer != nullptr ? issuer->cert.get() : cert;
  EVP_PKEY* signer_key =
      issuer != nullptr ? issuer->key.get() : result.key.get();
  Check(X509_set_issuer_name(cert, X509_get_subject_name(signer_cert)) == 1,
        "issuer name");
  Check(X509_set_pubkey(cert, result.key.get()) == 1, "X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, const_cast<X509*>(signer_cert), cert, nullptr, nullptr,
                 0);
  AddExtension(cert, &ctx, NID_basic_constraints,
               options.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExtension(cert, &ctx, NID_key_usage,
               options.is_ca ? "critical,keyCertSign,cRLSign"
                             : "critical,digitalSignature");
  AddExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    AddExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always");
  }
  if (!options.uris.empty()) {
    std::string sans;
    for (const std::string& uri : options.uris) {
      if (!sans.empty()) sans += ",";
      sans += "URI:" + uri;
    }
    AddExtension(cert, &ctx, NID_subject_alt_name, sans);
  }
  Check(X509_sign(cert, signer_key, EVP_sha256()) > 0, "X509_sign");
  return result;
}

}  // namespace verdict::authn::testing
