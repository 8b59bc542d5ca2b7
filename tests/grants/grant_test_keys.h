// Test-only helpers for grants: signing keys written as PEM files at test
// time (never committed), a temporary directory, and a typical grant. Shared
// by tests/grants and bench/grants_bench.cc.

#ifndef VERDICT_TESTS_GRANTS_GRANT_TEST_KEYS_H_
#define VERDICT_TESTS_GRANTS_GRANT_TEST_KEYS_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "server/grants/grant.h"
#include "tests/authn/test_keys.h"

namespace verdict::grants::testing {

enum class PemFormat {
  kPkcs8,        // "PRIVATE KEY"
  kTraditional,  // "EC PRIVATE KEY" for EC keys; PKCS#8 for Ed25519
  kEncrypted,    // "ENCRYPTED PRIVATE KEY" (AES-256-CBC, passphrase "secret")
};

// Writes the private key `key` to `path` as PEM.
void WritePrivateKeyPem(const authn::testing::TestKey& key,
                        const std::string& path,
                        PemFormat format = PemFormat::kPkcs8);

// Writes the public half of `key` to `path` as a PEM "PUBLIC KEY".
void WritePublicKeyPem(const authn::testing::TestKey& key,
                       const std::string& path);

// Writes `contents` to `path`, replacing it.
void WriteFile(const std::string& path, std::string_view contents);
std::string ReadFile(const std::string& path);

// A fresh directory under the system temporary directory, removed with
// everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const;

 private:
  std::string path_;
};

// A grant as the service would issue it at `issued_at` for `ttl`: a JWT
// subject with roles, scopes and nested attributes, a task and two scope
// items (one with a resource).
GrantClaims SampleClaims(absl::Time issued_at,
                         absl::Duration ttl = absl::Minutes(15));

}  // namespace verdict::grants::testing

#endif  // VERDICT_TESTS_GRANTS_GRANT_TEST_KEYS_H_
