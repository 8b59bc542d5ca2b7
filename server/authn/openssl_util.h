// RAII owners for the OpenSSL objects the authn and grants libraries hold,
// and the SHA-256 their credential caches are keyed by.
//
// Internal to server/authn/, server/grants/ and their tests. Deleters are
// stateless, so each owner is one pointer wide. Thread-safety: that of the
// owned object.

#ifndef VERDICT_SERVER_AUTHN_OPENSSL_UTIL_H_
#define VERDICT_SERVER_AUTHN_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "server/common/digest_cache.h"

namespace verdict::authn {

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* object) const {
    Free(object);
  }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr =
    std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX_free>>;
using EvpMdPtr = std::unique_ptr<EVP_MD, OpenSslDeleter<EVP_MD_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpenSslDeleter<ECDSA_SIG_free>>;
using OsslParamBldPtr =
    std::unique_ptr<OSSL_PARAM_BLD, OpenSslDeleter<OSSL_PARAM_BLD_free>>;
using OsslParamPtr =
    std::unique_ptr<OSSL_PARAM, OpenSslDeleter<OSSL_PARAM_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509StorePtr =
    std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;

// The oldest error on this thread's OpenSSL error queue, as text, and clears
// the queue so that one failure does not leak into the next call's report.
inline std::string TakeOpenSslError() {
  const unsigned long code = ERR_get_error();  // NOLINT(runtime/int)
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  return buffer;
}

// SHA-256 with the digest fetched once (an implicit fetch per call would
// cost more than hashing a token). Thread-safe.
class Sha256Hasher {
 public:
  Sha256Hasher() : sha256_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)) {}

  // All zeros if OpenSSL fails, which DigestCache never caches under.
  Sha256Digest Of(std::string_view bytes) const {
    Sha256Digest digest{};
    unsigned int length = 0;
    if (sha256_ == nullptr ||
        EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length,
                   sha256_.get(), nullptr) != 1) {
      ERR_clear_error();
      digest.fill(0);
    }
    return digest;
  }

 private:
  EvpMdPtr sha256_;
};

}  // namespace verdict::authn

#endif  // VERDICT_SERVER_AUTHN_OPENSSL_UTIL_H_
