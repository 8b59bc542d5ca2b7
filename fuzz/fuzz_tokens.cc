#include "fuzz/fuzz_tokens.h"

#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_target.h"
#include "openssl/pem.h"
#include "server/authn/base64url.h"

namespace verdict::fuzz {
namespace {

constexpr char kEd25519Label[] = "verdict fuzz EdDSA key";
constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kQuotableSegment = 32;

std::string SignEd25519(EVP_PKEY* key, std::string_view input) {
  authn::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  std::string signature(64, '\0');
  size_t length = signature.size();
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key) != 1 ||
      EVP_DigestSign(
          ctx.get(), reinterpret_cast<unsigned char*>(signature.data()),
          &length, reinterpret_cast<const unsigned char*>(input.data()),
          input.size()) != 1) {
    FixtureFailed("Ed25519 signing");
  }
  signature.resize(length);
  return signature;
}

}  // namespace

void FixtureFailed(std::string_view what) {
  std::fprintf(stderr, "fuzz fixture: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

authn::EvpPkeyPtr FuzzEd25519Key() {
  unsigned char seed[32];
  unsigned int length = 0;
  if (EVP_Digest(kEd25519Label, sizeof(kEd25519Label) - 1, seed, &length,
                 EVP_sha256(), nullptr) != 1) {
    FixtureFailed("SHA-256");
  }
  authn::EvpPkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                     seed, sizeof(seed)));
  if (key == nullptr) FixtureFailed("Ed25519 key");
  std::string public_key(32, '\0');
  size_t public_length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(
          key.get(), reinterpret_cast<unsigned char*>(public_key.data()),
          &public_length) != 1 ||
      authn::Base64UrlEncode(public_key) != kFuzzEd25519PublicX) {
    FixtureFailed("the derived Ed25519 key is not the expected one");
  }
  return key;
}

std::string PrivateKeyPem(EVP_PKEY* key) {
  authn::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    FixtureFailed("PEM encoding");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::optional<std::string> Resigned(std::string_view token, EVP_PKEY* key) {
  const size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return std::nullopt;
  const size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) return std::nullopt;
  const std::string_view signing_input = token.substr(0, second_dot);
  return std::string(signing_input) + "." +
         authn::Base64UrlEncode(SignEd25519(key, signing_input));
}

void RequireTokenNotQuoted(std::string_view message, std::string_view token) {
  size_t start = 0;
  while (start <= token.size()) {
    size_t end = token.find('.', start);
    if (end == std::string_view::npos) end = token.size();
    const std::string_view segment = token.substr(start, end - start);
    start = end + 1;
    if (segment.size() < kQuotableSegment ||
        segment.find_first_not_of(kBase64UrlAlphabet) != std::string::npos) {
      continue;
    }
    Require(message.find(segment) == std::string::npos,
            "a failure message never contains the token");
  }
}

}  // namespace verdict::fuzz
