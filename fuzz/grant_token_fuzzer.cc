// Fuzz target: the input is a grant token presented to the GrantVerifier of
// a GrantSigner whose key is fuzz/fuzz_tokens.h's fixed Ed25519 key.
//
// Each input is verified as it is (size cap, structure, base64url, strict
// JSON header, algorithm, typ, crit, kid, signature), and, when it has the
// shape header.payload.signature, again with its first two segments
// re-signed by the key, so that fuzzed claims reach the claim checks.
//
// Checks the verifier's promises: a failure says why without quoting the
// token, and carries the claims only for a time problem; a success is live
// at the verification time with a valid task and scope.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "fuzz/fuzz_tokens.h"
#include "fuzz/scratch_dir.h"
#include "server/grants/grant.h"
#include "server/grants/grant_token.h"

namespace verdict::fuzz {
namespace {

struct Fixture {
  std::unique_ptr<grants::GrantSigner> signer;
  authn::EvpPkeyPtr key;
};

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    ScratchDir dir;
    authn::EvpPkeyPtr key = FuzzEd25519Key();
    // No cache: every input is verified, independently of the others.
    absl::StatusOr<std::unique_ptr<grants::GrantSigner>> signer =
        grants::GrantSigner::FromKeyFile(
            dir.Write("grants.pem", PrivateKeyPem(key.get())),
            /*cache_capacity=*/0);
    if (!signer.ok()) FixtureFailed(std::string(signer.status().message()));
    return new Fixture{*std::move(signer), std::move(key)};
  }();
  return *fixture;
}

void CheckOutcome(const grants::GrantOutcome& outcome, std::string_view token) {
  if (outcome.ok()) {
    const grants::GrantClaims& claims = outcome.grant->claims();
    Require(!claims.id.empty() && !claims.subject.empty(),
            "a verified grant has an id and a subject");
    Require(outcome.grant->not_before() <= kFixedNow &&
                kFixedNow < claims.expires_at,
            "a verified grant is live");
    Require(grants::ValidateTask(claims.task).ok(),
            "a verified grant's task is valid");
    Require(grants::ValidateScope(claims.scope).ok(),
            "a verified grant's scope is valid");
    return;
  }
  Require(!outcome.message.empty(), "a failure says why");
  RequireTokenNotQuoted(outcome.message, token);
  const bool time_problem =
      outcome.code == model::ReasonCode::kGrantExpired ||
      outcome.code == model::ReasonCode::kTokenNotYetValid;
  Require(outcome.claims == nullptr || time_problem,
          "only a grant that failed on time describes its claims");
}

void FuzzOneInput(std::string_view token) {
  const Fixture& fixture = GetFixture();
  const grants::GrantVerifier& verifier = fixture.signer->verifier();
  CheckOutcome(verifier.Verify(token, kFixedNow), token);
  const std::optional<std::string> resigned =
      Resigned(token, fixture.key.get());
  if (!resigned.has_value()) return;
  CheckOutcome(verifier.Verify(*resigned, kFixedNow), *resigned);
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
