#include "tests/grants/grant_test_keys.h"

#include <openssl/pem.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/authn/openssl_util.h"

namespace verdict::grants::testing {
namespace {

namespace fs = std::filesystem;

// Test setup failing is a broken test environment, not a test result.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "grant test setup failed: %s\n", what);
    std::abort();
  }
}

}  // namespace

void WritePrivateKeyPem(const authn::testing::TestKey& key,
                        const std::string& path, PemFormat format) {
  authn::BioPtr bio(BIO_new(BIO_s_mem()));
  Check(bio != nullptr, "BIO_new");
  int written = 0;
  switch (format) {
    case PemFormat::kPkcs8:
      written = PEM_write_bio_PKCS8PrivateKey(bio.get(), key.key.get(), nullptr,
                                              nullptr, 0, nullptr, nullptr);
      break;
    case PemFormat::kTraditional:
      // Ed25519 has no format of its own before PKCS#8.
      written =
          EVP_PKEY_is_a(key.key.get(), "ED25519")
              ? PEM_write_bio_PKCS8PrivateKey(bio.get(), key.key.get(), nullptr,
                                              nullptr, 0, nullptr, nullptr)
              : PEM_write_bio_PrivateKey_traditional(bio.get(), key.key.get(),
                                                     nullptr, nullptr, 0,
                                                     nullptr, nullptr);
      break;
    case PemFormat::kEncrypted: {
      char passphrase[] = "secret";
      written = PEM_write_bio_PKCS8PrivateKey(
          bio.get(), key.key.get(), EVP_aes_256_cbc(), passphrase,
          sizeof(passphrase) - 1, nullptr, nullptr);
      break;
    }
  }
  Check(written == 1, "PEM_write_bio");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT
  WriteFile(path, std::string_view(data, static_cast<size_t>(length)));
}

void WritePublicKeyPem(const authn::testing::TestKey& key,
                       const std::string& path) {
  authn::BioPtr bio(BIO_new(BIO_s_mem()));
  Check(bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), key.key.get()) == 1,
        "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT
  WriteFile(path, std::string_view(data, static_cast<size_t>(length)));
}

void WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  Check(static_cast<bool>(out), "write file");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

TempDir::TempDir() {
  std::string pattern =
      (fs::temp_directory_path() / "verdict_grants_XXXXXX").string();
  Check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string TempDir::File(std::string_view name) const {
  return (fs::path(path_) / name).string();
}

GrantClaims SampleClaims(absl::Time issued_at, absl::Duration ttl) {
  GrantClaims claims;
  claims.id = "g-0123456789abcdefghij";
  claims.subject = "spiffe://corp.example/agent/crm/r1";
  *claims.roles.Add() = "crm-reader";
  *claims.roles.Add() = "crm-writer";
  *claims.scopes.Add() = "crm.read";
  auto& fields = *claims.attributes.mutable_fields();
  fields["clearance"].set_number_value(2);
  fields["team"].set_string_value("sales");
  auto& nested = *fields["org"].mutable_struct_value()->mutable_fields();
  nested["unit"].set_string_value("emea");
  nested["cost_centers"].mutable_list_value()->add_values()->set_number_value(
      42);
  claims.trust_domain = "corp.example";
  claims.auth_method = "jwt";
  claims.task = Task{"task-7", "export Q3 contacts for the audit", "prod"};
  claims.scope = {
      ScopeItem{"crm", "search_contacts", "", ""},
      ScopeItem{"crm", "export_contacts", "tools/call", "dataset:crm/contacts"},
  };
  claims.issued_at = issued_at;
  claims.expires_at = issued_at + ttl;
  return claims;
}

}  // namespace verdict::grants::testing
