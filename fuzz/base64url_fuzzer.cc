// Fuzz target: the input is a JWS segment, decoded with Base64UrlDecode; and
// the input as bytes, encoded with Base64UrlEncode.
//
// Checks the codec's promise that every byte string has exactly one accepted
// encoding: decoding an accepted text and encoding the result gives the text
// back, and encoding any bytes gives a text that decodes to them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "server/authn/base64url.h"

namespace verdict::fuzz {
namespace {

void FuzzOneInput(std::string_view input) {
  const std::optional<std::string> decoded = authn::Base64UrlDecode(input);
  if (decoded.has_value()) {
    Require(authn::Base64UrlEncode(*decoded) == input,
            "an accepted encoding is the canonical one");
  }
  const std::string encoded = authn::Base64UrlEncode(input);
  const std::optional<std::string> round_trip = authn::Base64UrlDecode(encoded);
  Require(round_trip.has_value() && *round_trip == input,
          "encoded bytes decode to themselves");
}

}  // namespace
}  // namespace verdict::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  verdict::fuzz::FuzzOneInput(verdict::fuzz::AsText(data, size));
  return 0;
}
