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

TEST(CompactJwsTest, SplitsThreeCanonicalSegments) {
  std::string_view error;
  const std::optional<CompactJws> jws =
      DecodeCompactJws("e30.eyJhIjoxfQ.AQID", &error);
  ASSERT_TRUE(jws.has_value()) << error;
  EXPECT_EQ(jws->signing_input, "e30.eyJhIjoxfQ");
  EXPECT_EQ(jws->header, "{}");
  EXPECT_EQ(jws->payload, R"({"a":1})");
  EXPECT_EQ(jws->signature, "\x01\x02\x03");
  EXPECT_TRUE(DecodeCompactJws("e30.e30.", &error).has_value());
}

TEST(CompactJwsTest, RefusesOtherShapesWithoutQuotingThem) {
  for (const char* token : {"", "e30", "e30.e30", "e30.e30.e30.e30"}) {
    std::string_view error;
    EXPECT_FALSE(DecodeCompactJws(token, &error).has_value()) << token;
    EXPECT_EQ(error, "is not a compact JWS (three segments)");
  }
  std::string_view error;
  EXPECT_FALSE(DecodeCompactJws("e30=.e30.AQID", &error).has_value());
  EXPECT_EQ(error, "segment is not canonical base64url");
}

}  // namespace
}  // namespace verdict::authn
