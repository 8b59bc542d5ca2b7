// Fuzz target: the input is a bearer token presented to a JwtAuthenticator
// configured with two issuers and fixed public keys (Ed25519, EC P-256 and
// RSA 2048; only the Ed25519 key's private half exists here, derived from a
// fixed label, fuzz/fuzz_tokens.h, so runs are deterministic and no secret
// is stored).
//
// Each input is verified as it is, which fuzzes the token's structure,
// base64url, the strict JSON of header and claims, algorithm and key
// selection and the signature checks. Mutations almost never keep a
// signature valid, so when the input has the shape header.payload.signature
// it is verified a second time with its first two segments re-signed by the
// Ed25519 key: a header naming that key and EdDSA then reaches the time,
// audience and claim-mapping checks with fuzzed claims.
//
// Checks the authenticator's promises: a failure says why without quoting
// the credential; a success names a subject, came from a configured issuer
// and has not expired at the verification time.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "fuzz/fuzz_tokens.h"
#include "fuzz/scratch_dir.h"
#include "server/authn/base64url.h"
#include "server/authn/jwt_authenticator.h"
#include "server/authn/openssl_util.h"

namespace verdict::fuzz {
namespace {

constexpr char kIssuer[] = "https://issuer.fuzz.example";
constexpr char kSvidIssuer[] = "spiffe://fuzz.example";

// Public keys only; the EC and RSA private keys signed the seed tokens in
// corpus/jwt once and were then discarded.
constexpr char kIssuerJwks[] =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"XJ4S8dj8Y1VuRd70VvNAewhoo94De8uN8ujhLNYyeZ8","kid":"fuzz-ed","alg":"EdDSA","use":"sig"},)"
    R"({"kty":"EC","crv":"P-256","x":"sJuf7RTONGHoUmaJZN0D4j-nLvUGPCMldR6ugKhDZa4","y":"J0KWkOs0fc8DPex2Sxo5B3_I-DuikLVhx6YoI85RMkk","kid":"fuzz-ec","use":"sig"},)"
    R"({"kty":"RSA","n":"tDhxdOpegHU8Bdn5ebw-LfzFNChIRIFk9cWiEnKIXh2FHYmrMX7klqhAUJGX32hkg_ozegdxkkLEU1FzJhG04qjVV3fi1CwzxQ1eYPd5o9PY-YUYai8T33HKaQCSYo008CX6baBojb6WLDbCnPB_xqAQJ-6yydV7sc9TPfZ58isXm68r8vvPQHu0eT-AjAzPACgz-D7mx0uRanMo6hOXZUaYVGUyRHVq3QiaItOU89cX_9jtWn667_ENsf5RaahiQVMHt9LzDLhmIoIePW6ItHZAZf1kvMXk5EN-_sauPPWGvbAA_fJE4AsMbmDnwQUEnrnHumZhUuhyU6AjqW8g4Q","e":"AQAB","kid":"fuzz-rsa","use":"sig"}]})";
// The JWT-SVID issuer's set: the Ed25519 key alone, without a kid.
constexpr char kSvidJwks[] =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"XJ4S8dj8Y1VuRd70VvNAewhoo94De8uN8ujhLNYyeZ8","alg":"EdDSA","use":"sig"}]})";
struct Fixture {
  std::unique_ptr<authn::JwtAuthenticator> authenticator;
  authn::EvpPkeyPtr ed25519;
};

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    ScratchDir dir;
    authn::JwtAuthenticatorOptions options;
    options.cache_capacity = 0;  // every input verified, independent of others
    authn::JwtIssuerOptions& issuer = options.issuers.emplace_back();
    issuer.issuer = kIssuer;
    issuer.jwks_file = dir.Write("issuer.jwks", kIssuerJwks);
    issuer.audiences = {"verdict", "https://verdict.fuzz.example"};
    issuer.algorithms = {"RS256", "PS256", "ES256", "EdDSA"};
    issuer.claims.roles = "roles";
    issuer.claims.attributes = {"team", "tenant", "cnf"};
    authn::JwtIssuerOptions& svid = options.issuers.emplace_back();
    svid.issuer = kSvidIssuer;
    svid.jwks_file = dir.Write("svid.jwks", kSvidJwks);
    svid.audiences = {"verdict"};
    svid.algorithms = {"EdDSA", "ES256"};
    svid.claims.scopes = "";
    svid.max_lifetime = absl::ZeroDuration();
    auto authenticator = authn::JwtAuthenticator::Create(std::move(options));
    if (!authenticator.ok()) {
      FixtureFailed(std::string(authenticator.status().message()));
    }
    return new Fixture{*std::move(authenticator), FuzzEd25519Key()};
  }();
  return *fixture;
}

void CheckOutcome(const authn::AuthOutcome& outcome, std::string_view token) {
  if (outcome.ok()) {
    const authn::Identity& identity = *outcome.identity;
    Require(!identity.subject.empty(), "a verified token names a subject");
    Require(identity.method == "jwt", "a verified token's method is jwt");
    Require(identity.issuer == kIssuer || identity.issuer == kSvidIssuer,
            "a verified token comes from a configured issuer");
    Require(kFixedNow < identity.expires_at + absl::Seconds(30),
            "a verified token has not expired");
    return;
  }
  Require(!outcome.message.empty(), "a failure says why");
  RequireTokenNotQuoted(outcome.message, token);
}

void FuzzOneInput(std::string_view token) {
  const Fixture& fixture = GetFixture();
  CheckOutcome(fixture.authenticator->Authenticate(token, kFixedNow), token);

  const std::optional<std::string> resigned =
      Resigned(token, fixture.ed25519.get());
  if (!resigned.has_value()) return;
  CheckOutcome(fixture.authenticator->Authenticate(*resigned, kFixedNow),
               *resigned);
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
