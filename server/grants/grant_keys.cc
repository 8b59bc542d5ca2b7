#include "server/grants/grant_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "server/authn/base64url.h"
#include "server/authn/key_file.h"

namespace verdict::grants {
namespace {

namespace fs = std::filesystem;
using authn::JwsAlgorithm;
using nlohmann::json;

// Refuses to prompt for a passphrase: the key file must be unencrypted.
int RefusePassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/,
                     void* /*user*/) {
  return -1;
}

bool IsP256(const EVP_PKEY* key) {
  char name[64];
  size_t length = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof(name), &length) != 1) {
    return false;
  }
  int nid = OBJ_sn2nid(name);
  if (nid == NID_undef) nid = EC_curve_nist2nid(name);
  return nid == NID_X9_62_prime256v1;
}

std::optional<std::string> FixedBignumParam(const EVP_PKEY* key,
                                            const char* name, int bytes) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return std::nullopt;
  authn::BignumPtr bignum(raw);
  std::string out(bytes, '\0');
  if (BN_bn2binpad(bignum.get(), reinterpret_cast<unsigned char*>(out.data()),
                   bytes) != bytes) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> Sha256(const EVP_MD* sha256,
                                  std::string_view input) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &length, sha256,
                 nullptr) != 1) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

// The RFC 7638 required members of the public part of `key`, in
// lexicographic order, as (name, value) pairs.
std::optional<std::vector<std::pair<std::string, std::string>>>
RequiredJwkMembers(const EVP_PKEY* key, JwsAlgorithm algorithm) {
  if (algorithm == JwsAlgorithm::kES256) {
    const std::optional<std::string> x =
        FixedBignumParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    const std::optional<std::string> y =
        FixedBignumParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    if (!x.has_value() || !y.has_value()) return std::nullopt;
    return std::vector<std::pair<std::string, std::string>>{
        {"crv", "P-256"},
        {"kty", "EC"},
        {"x", authn::Base64UrlEncode(*x)},
        {"y", authn::Base64UrlEncode(*y)}};
  }
  std::string raw(32, '\0');
  size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(
          key, reinterpret_cast<unsigned char*>(raw.data()), &length) != 1 ||
      length != raw.size()) {
    return std::nullopt;
  }
  return std::vector<std::pair<std::string, std::string>>{
      {"crv", "Ed25519"}, {"kty", "OKP"}, {"x", authn::Base64UrlEncode(raw)}};
}

// A key holding only the public half of `key`, so verification never
// touches signing material.
authn::EvpPkeyPtr PublicHalf(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  if (length <= 0) return nullptr;
  const unsigned char* cursor = der;
  authn::EvpPkeyPtr public_key(d2i_PUBKEY(nullptr, &cursor, length));
  OPENSSL_free(der);
  return public_key;
}

// Where the files of the key set in `dir` are read from: the target of its
// `..data` symlink when it has one (a Kubernetes Secret volume, whose
// visible names are symlinks through `..data`, swapped atomically), so
// every file of one load comes from the same version of the Secret.
fs::path DataDirectory(const std::string& dir) {
  std::error_code error;
  const fs::path data = fs::path(dir) / "..data";
  if (fs::is_symlink(data, error)) {
    const fs::path target = fs::canonical(data, error);
    if (!error && fs::is_directory(target, error)) return target;
  }
  return fs::path(dir);
}

}  // namespace

GrantKey::~GrantKey() = default;

absl::StatusOr<std::unique_ptr<const GrantKey>> GrantKey::FromFile(
    const std::string& path, const std::string& shown_as) {
  const std::string& name = shown_as.empty() ? path : shown_as;
  auto invalid = [&name](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("grants signing key ", name, ": ", why));
  };
  absl::StatusOr<std::string> text = authn::ReadKeyFile(path);
  if (!text.ok()) {
    return absl::Status(
        text.status().code(),
        absl::StrCat(
            "grants signing key: ",
            absl::StrReplaceAll(text.status().message(), {{path, name}})));
  }
  authn::BioPtr bio(
      BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  authn::EvpPkeyPtr private_key(
      bio == nullptr ? nullptr
                     : PEM_read_bio_PrivateKey(bio.get(), nullptr,
                                               RefusePassphrase, nullptr));
  OPENSSL_cleanse(text->data(), text->size());
  if (private_key == nullptr) {
    ERR_clear_error();
    return invalid("not an unencrypted PEM private key");
  }

  std::unique_ptr<GrantKey> key(new GrantKey());
  key->path_ = name;
  JwsAlgorithm algorithm;
  if (EVP_PKEY_is_a(private_key.get(), "ED25519")) {
    algorithm = JwsAlgorithm::kEdDSA;
    key->public_key_.type = authn::KeyType::kEd25519;
  } else if (EVP_PKEY_is_a(private_key.get(), "EC") &&
             IsP256(private_key.get())) {
    algorithm = JwsAlgorithm::kES256;
    key->public_key_.type = authn::KeyType::kEcP256;
  } else {
    ERR_clear_error();
    return invalid(
        "unsupported key type: use EC P-256 (ES256) or Ed25519 (EdDSA)");
  }
  key->sha256_.reset(EVP_MD_fetch(nullptr, "SHA2-256", nullptr));
  authn::EvpPkeyPtr public_key = PublicHalf(private_key.get());
  if (key->sha256_ == nullptr || public_key == nullptr) {
    return invalid(authn::TakeOpenSslError());
  }
  const auto members = RequiredJwkMembers(public_key.get(), algorithm);
  if (!members.has_value()) return invalid(authn::TakeOpenSslError());
  json canonical = json::object();
  for (const auto& [name, value] : *members) canonical[name] = value;
  // nlohmann's objects iterate in key order and dump() adds no whitespace:
  // exactly the RFC 7638 canonical form.
  const std::optional<std::string> digest =
      Sha256(key->sha256_.get(), canonical.dump());
  if (!digest.has_value()) return invalid(authn::TakeOpenSslError());
  const std::string kid = authn::Base64UrlEncode(*digest);
  const std::string alg_name(authn::JwsAlgorithmName(algorithm));

  key->private_key_ = std::move(private_key);
  key->public_key_.kid = kid;
  key->public_key_.alg = algorithm;
  key->public_key_.key = std::move(public_key);
  key->encoded_header_ = authn::Base64UrlEncode(json{
      {"alg", alg_name},
      {"kid", kid},
      {"typ", std::string(kGrantTokenType)}}.dump());
  json jwk = canonical;
  jwk["kid"] = kid;
  jwk["alg"] = alg_name;
  jwk["use"] = "sig";
  key->public_jwk_ = jwk.dump();

  constexpr std::string_view kProbe = "verdict grants signing key self-test";
  const std::optional<std::string> probe = key->Sign(kProbe);
  if (!probe.has_value() || !key->Verify(kProbe, *probe)) {
    ERR_clear_error();
    return invalid("the key fails a sign-and-verify self-test");
  }
  return std::unique_ptr<const GrantKey>(std::move(key));
}

std::optional<std::string> GrantKey::Sign(std::string_view input) const {
  authn::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md =
      algorithm() == JwsAlgorithm::kES256 ? sha256_.get() : nullptr;
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr,
                                           private_key_.get()) != 1) {
    return std::nullopt;
  }
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) != 1) {
    return std::nullopt;
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(),
                     reinterpret_cast<unsigned char*>(signature.data()),
                     &length, data, input.size()) != 1) {
    return std::nullopt;
  }
  signature.resize(length);
  if (algorithm() != JwsAlgorithm::kES256) return signature;
  // OpenSSL writes ECDSA signatures as DER; JWS wants R||S (RFC 7518).
  const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
  authn::EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &der, signature.size()));
  if (ecdsa == nullptr) return std::nullopt;
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), out, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), out + 32, 32) != 32) {
    return std::nullopt;
  }
  return raw;
}

bool GrantKey::Verify(std::string_view input,
                      std::string_view signature) const {
  return jws_.Verify(algorithm(), public_key_, input, signature);
}

absl::StatusOr<std::shared_ptr<const GrantKeySet>> GrantKeySet::FromKeyFile(
    const std::string& path) {
  absl::StatusOr<std::unique_ptr<const GrantKey>> key =
      GrantKey::FromFile(path);
  if (!key.ok()) return key.status();
  std::vector<std::unique_ptr<const GrantKey>> keys;
  keys.push_back(*std::move(key));
  return Build(std::move(keys), path);
}

absl::StatusOr<std::shared_ptr<const GrantKeySet>> GrantKeySet::FromDirectory(
    const std::string& dir) {
  const fs::path data = DataDirectory(dir);
  std::error_code error;
  fs::directory_iterator entries(data, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("grants signing keys directory ",
                                            dir, ": ", error.message()));
  }
  // File names, sorted so that errors and loads do not depend on the order
  // readdir returns.
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : entries) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(".") && name.ends_with(".pem")) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "grants signing keys directory ", dir, " has no *.pem key file"));
  }
  std::vector<std::unique_ptr<const GrantKey>> keys;
  for (const std::string& name : names) {
    // Named as the operator wrote it, not by Kubernetes' timestamped
    // directory behind ..data.
    absl::StatusOr<std::unique_ptr<const GrantKey>> key = GrantKey::FromFile(
        (data / name).string(), (fs::path(dir) / name).string());
    if (!key.ok()) return key.status();
    keys.push_back(*std::move(key));
  }

  const std::string active_path = (fs::path(dir) / kActiveKeyFile).string();
  absl::StatusOr<std::string> active =
      authn::ReadKeyFile((data / kActiveKeyFile).string());
  if (!active.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(active_path,
                     " cannot be read: it must hold the file name of the key "
                     "that signs new grants"));
  }
  const std::string active_name(absl::StripAsciiWhitespace(*active));
  if (active_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        active_path,
        " is empty: it must hold the file name of the key that signs new "
        "grants"));
  }
  const auto named = std::find(names.begin(), names.end(), active_name);
  if (active_name.find('/') != std::string::npos || named == names.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        active_path, " names \"",
        // Bounded: `active` may be any file, up to 1 MiB.
        absl::CHexEscape(absl::string_view(active_name).substr(0, 256)),
        "\", which is not a *.pem key file of ", dir));
  }
  return Build(std::move(keys), (fs::path(dir) / active_name).string());
}

absl::StatusOr<std::shared_ptr<const GrantKeySet>> GrantKeySet::Build(
    std::vector<std::unique_ptr<const GrantKey>> keys,
    const std::string& active_path) {
  std::sort(keys.begin(), keys.end(),
            [](const auto& a, const auto& b) { return a->kid() < b->kid(); });
  std::shared_ptr<GrantKeySet> set(new GrantKeySet());
  std::vector<std::string> jwks;
  for (size_t i = 0; i < keys.size(); ++i) {
    const GrantKey& key = *keys[i];
    if (i > 0 && keys[i - 1]->kid() == key.kid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("grants signing keys ", keys[i - 1]->path(), " and ",
                       key.path(), " are the same key (kid ", key.kid(), ")"));
    }
    set->by_kid_.emplace(key.kid(), i);
    set->uses_[static_cast<int>(key.algorithm())] = true;
    if (key.path() == active_path) set->active_ = i;
    jwks.push_back(key.public_jwk());
  }
  set->public_jwks_ =
      absl::StrCat(R"({"keys":[)", absl::StrJoin(jwks, ","), "]}");
  set->keys_ = std::move(keys);
  return std::shared_ptr<const GrantKeySet>(std::move(set));
}

const GrantKey* GrantKeySet::Find(std::string_view kid) const {
  const auto it = by_kid_.find(absl::string_view(kid.data(), kid.size()));
  return it == by_kid_.end() ? nullptr : keys_[it->second].get();
}

bool GrantKeySet::SameKeysAs(const GrantKeySet& other) const {
  if (keys_.size() != other.keys_.size() ||
      active().kid() != other.active().kid()) {
    return false;
  }
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i]->kid() != other.keys_[i]->kid()) return false;
  }
  return true;
}

GrantKeys::GrantKeys(GrantKeySource source,
                     std::shared_ptr<const GrantKeySet> keys)
    : source_(std::move(source)), published_(std::move(keys)) {}

absl::StatusOr<std::unique_ptr<GrantKeys>> GrantKeys::Load(
    GrantKeySource source) {
  if (source.key_file.empty() == source.keys_dir.empty()) {
    return absl::InvalidArgumentError(
        "grants: exactly one of a signing key file and a signing keys "
        "directory");
  }
  absl::StatusOr<std::shared_ptr<const GrantKeySet>> keys =
      source.keys_dir.empty() ? GrantKeySet::FromKeyFile(source.key_file)
                              : GrantKeySet::FromDirectory(source.keys_dir);
  if (!keys.ok()) return keys.status();
  return std::unique_ptr<GrantKeys>(
      new GrantKeys(std::move(source), *std::move(keys)));
}

absl::StatusOr<std::shared_ptr<const GrantKeySet>> GrantKeys::Read() const {
  return source_.keys_dir.empty()
             ? GrantKeySet::FromKeyFile(source_.key_file)
             : GrantKeySet::FromDirectory(source_.keys_dir);
}

absl::StatusOr<bool> GrantKeys::Reload() {
  absl::MutexLock lock(&reload_mu_);
  absl::StatusOr<std::shared_ptr<const GrantKeySet>> fresh = Read();
  if (!fresh.ok()) {
    reload_failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::Status(
        fresh.status().code(),
        absl::StrCat(fresh.status().message(), " (previous keys kept)"));
  }
  if ((*fresh)->SameKeysAs(*published_.Latest())) return false;
  published_.Publish(*std::move(fresh));
  return true;
}

std::string GrantKeys::WatchedDirectory() const {
  if (!source_.keys_dir.empty()) return source_.keys_dir;
  const fs::path parent = fs::path(source_.key_file).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace verdict::grants
