// Fuzz target: the input is an X.509-SVID presented to an
// X509SvidAuthenticator that trusts one fixed root for the trust domain
// fuzz.example (public certificate only; the seed chains in corpus/x509_svid
// were issued under it once and its key discarded).
//
// The input is verified as it is, a PEM chain. Mutating base64 mostly breaks
// the encoding, so an input without a PEM header is also verified wrapped as
// one PEM certificate: a DER seed then fuzzes the certificate structure our
// checks read (SANs, basic constraints, key usage, validity).
//
// Checks the authenticator's promises: a success is a SPIFFE ID of the
// configured trust domain that has not expired at the verification time; a
// failure says why.

#include <openssl/pem.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "fuzz/scratch_dir.h"
#include "server/authn/openssl_util.h"
#include "server/authn/x509_svid_authenticator.h"

namespace verdict::fuzz {
namespace {

constexpr char kTrustDomain[] = "fuzz.example";

// CN "fuzz root", EC P-256, valid 2025-01-01 to 2036-01-01.
constexpr char kRootPem[] = R"(-----BEGIN CERTIFICATE-----
MIIBbDCCARKgAwIBAgIUBQ35X+RBStE72n0F41n/DaZZ8wkwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJZnV6eiByb290MB4XDTI1MDEwMTAwMDAwMFoXDTM2MDEwMTAw
MDAwMFowFDESMBAGA1UEAwwJZnV6eiByb290MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEPuWs++5BkLpo6Lju8MiJdUU2n/VYpJLTglr9xJtIIXZPjL7q3wQgmeN4
drt4TvycFEf12YXfM/e1gzJd4tRN+KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFNMBRis3fByRMibzjsq8a/A2q6bfMAoGCCqG
SM49BAMCA0gAMEUCIQCOfbjJnfKi0gzc5/3+1cZUPD8Yeir0WhmjNSuaZh+OcwIg
S2KIDF85Z4TLHWVUH3yY4TvaJ9BALawTlV0JPUR7uxs=
-----END CERTIFICATE-----
)";

const authn::X509SvidAuthenticator& Authenticator() {
  static const authn::X509SvidAuthenticator* const authenticator = [] {
    ScratchDir dir;
    authn::X509SvidAuthenticatorOptions options;
    options.cache_capacity = 0;  // every input verified, independent of others
    options.trust_domains.push_back(
        {kTrustDomain, dir.Write("bundle.pem", kRootPem)});
    auto created = authn::X509SvidAuthenticator::Create(std::move(options));
    if (!created.ok()) {
      std::fprintf(stderr, "x509 fuzzer fixture: %s\n",
                   std::string(created.status().message()).c_str());
      std::abort();
    }
    return created->release();
  }();
  return *authenticator;
}

// `der` (not empty) as one PEM CERTIFICATE block.
std::string PemCertificate(std::string_view der) {
  authn::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio(bio.get(), "CERTIFICATE", "",
                    reinterpret_cast<const unsigned char*>(der.data()),
                    static_cast<long>(der.size())) <= 0) {  // NOLINT
    std::abort();
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT
  return std::string(data, length);
}

void Check(const authn::AuthOutcome& outcome) {
  if (!outcome.ok()) {
    Require(!outcome.message.empty(), "a failure says why");
    return;
  }
  const authn::Identity& identity = *outcome.identity;
  Require(identity.subject.starts_with("spiffe://fuzz.example/"),
          "a verified SVID is a SPIFFE ID of the configured trust domain");
  Require(identity.trust_domain == kTrustDomain && identity.method == "x509",
          "a verified SVID names its trust domain and method");
  Require(kFixedNow <= identity.expires_at,
          "a verified SVID has not expired at the verification time");
}

void FuzzOneInput(std::string_view input) {
  const authn::X509SvidAuthenticator& authenticator = Authenticator();
  Check(authenticator.Authenticate(input, kFixedNow));
  if (!input.empty() && input.find("-----BEGIN") == std::string_view::npos) {
    Check(authenticator.Authenticate(PemCertificate(input), kFixedNow));
  }
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
