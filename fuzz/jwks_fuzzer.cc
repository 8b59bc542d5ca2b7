// Fuzz target: the input is a JWKS document, parsed with ParseJwks as the
// JWT authenticator loads an issuer's key file; every key it accepts is then
// used to verify a fixed signature under each algorithm it allows.
//
// Checks the parser's promises: every accepted key holds a public key, is
// found by its kid, and fits the alg it is bound to.

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "server/authn/jwk.h"

namespace verdict::fuzz {
namespace {

void FuzzOneInput(std::string_view input) {
  absl::StatusOr<authn::JwkSet> set = authn::ParseJwks(input);
  if (!set.ok()) return;
  static const authn::JwsVerifier* const verifier = new authn::JwsVerifier();
  const std::string signature(512, '\x5a');
  for (const authn::Jwk& key : set->keys) {
    Require(key.key != nullptr, "an accepted key holds a public key");
    Require(key.kid.empty() || set->Find(key.kid) == &key,
            "an accepted key is found by its kid");
    Require(!key.alg.has_value() || authn::KeyTypeFor(*key.alg) == key.type,
            "an accepted key's alg fits its type");
    for (int i = 0; i < authn::kJwsAlgorithmCount; ++i) {
      const auto algorithm = static_cast<authn::JwsAlgorithm>(i);
      if (!authn::KeyAllowsAlgorithm(key, algorithm)) continue;
      // Whether a fixed signature verifies under a hostile key is the
      // algorithm's business; this only exercises the verification path.
      for (const size_t length : {size_t{64}, size_t{96}, size_t{256}}) {
        (void)verifier->Verify(algorithm, key, "e30.e30",
                               std::string_view(signature).substr(0, length));
      }
    }
  }
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
