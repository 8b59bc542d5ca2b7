// Base64UrlDecode accepts exactly one encoding per byte string: unpadded,
// URL alphabet, zero trailing bits; encode and decode round-trip.

#include "server/authn/base64url.h"

#include <string>

#include "gtest/gtest.h"

namespace verdict::authn {
namespace {

TEST(Base64UrlTest, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    const std::string encoded = Base64UrlEncode(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    const std::optional<std::string> decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(Base64UrlTest, KnownVectors) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlDecode("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(Base64UrlDecode("eyJhbGciOiJFUzI1NiJ9"),
            std::string(R"({"alg":"ES256"})"));
  EXPECT_EQ(Base64UrlDecode(""), std::string());
}

TEST(Base64UrlTest, RefusesEverythingNonCanonical) {
  for (const char* bad : {"-_8=", "+/8", "ab cd", "ab\ncd", "a", "abcde",
                          "ab.c", "Zh",  // 'h' leaves non-zero trailing bits
                          "ZmZ=", "\xc3\xa9"}) {
    EXPECT_FALSE(Base64UrlDecode(bad).has_value()) << bad;
  }
  EXPECT_FALSE(Base64UrlDecode(std::string_view("ab\0d", 4)).has_value());
}

}  // namespace
}  // namespace verdict::authn
