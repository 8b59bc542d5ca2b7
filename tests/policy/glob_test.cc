// Glob: literal, `*` and `?` semantics (UTF-8 aware), the virtual "kind:id"
// concatenation, agreement with a brute-force reference on random inputs,
// and linear-time behaviour on patterns that make naive matchers explode.

#include "server/policy/glob.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace verdict::policy {
namespace {

Glob MustCompile(std::string_view pattern) {
  absl::StatusOr<Glob> glob = Glob::Compile(pattern);
  EXPECT_TRUE(glob.ok()) << pattern;
  return *std::move(glob);
}

bool Match(std::string_view pattern, std::string_view text) {
  return MustCompile(pattern).Matches(text);
}

TEST(GlobTest, EmptyPatternIsAnError) {
  absl::StatusOr<Glob> glob = Glob::Compile("");
  ASSERT_FALSE(glob.ok());
  EXPECT_NE(glob.status().message().find("empty_glob"),
            absl::string_view::npos);
}

TEST(GlobTest, LiteralMatchesOnlyItselfCaseSensitively) {
  const Glob glob = MustCompile("search_contacts");
  EXPECT_TRUE(glob.is_literal());
  EXPECT_FALSE(glob.matches_all());
  EXPECT_EQ(glob.literal_prefix(), "search_contacts");
  EXPECT_TRUE(glob.Matches("search_contacts"));
  EXPECT_FALSE(glob.Matches("search_contact"));
  EXPECT_FALSE(glob.Matches("search_contactsX"));
  EXPECT_FALSE(glob.Matches("Search_contacts"));
  EXPECT_FALSE(glob.Matches(""));
}

TEST(GlobTest, StarMatchesAnyRunIncludingEmpty) {
  EXPECT_TRUE(Match("get_*", "get_"));
  EXPECT_TRUE(Match("get_*", "get_contact/by id"));
  EXPECT_FALSE(Match("get_*", "ge"));
  EXPECT_FALSE(Match("get_*", "xget_a"));
  EXPECT_TRUE(Match("*", ""));
  EXPECT_TRUE(Match("*", "anything at all"));
  EXPECT_TRUE(Match("*_export", "crm_export"));
  EXPECT_FALSE(Match("*_export", "crm_exports"));
  EXPECT_TRUE(Match("a*b*c", "abc"));
  EXPECT_TRUE(Match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(Match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(Match("spiffe://corp.example/agent/crm/*",
                    "spiffe://corp.example/agent/crm/r1"));
  EXPECT_FALSE(Match("spiffe://corp.example/agent/crm/*",
                     "spiffe://corp.example/agent/hr/r1"));
}

TEST(GlobTest, ManyStarsCollapse) {
  const Glob glob = MustCompile("***");
  EXPECT_TRUE(glob.matches_all());
  EXPECT_TRUE(glob.Matches(""));
  EXPECT_TRUE(Match("**a**", "a"));
  EXPECT_TRUE(Match("**a**", "xxaxx"));
  EXPECT_FALSE(Match("**a**", "xxbxx"));
  EXPECT_TRUE(Match("*a*b*c*d*", "0a1b2c3d4"));
  EXPECT_FALSE(Match("*a*b*c*d*", "0a1c2b3d4"));
}

TEST(GlobTest, QuestionMarkIsOneCodePoint) {
  EXPECT_TRUE(Match("a?c", "abc"));
  EXPECT_FALSE(Match("a?c", "ac"));
  EXPECT_FALSE(Match("a?c", "abbc"));
  EXPECT_TRUE(Match("a?c",
                    "a\xC3\xA9"
                    "c"));  // é: 2 bytes
  EXPECT_TRUE(Match("a?c",
                    "a\xE6\x97\xA5"
                    "c"));  // 日: 3 bytes
  EXPECT_TRUE(Match("a?c",
                    "a\xF0\x9F\x98\x80"
                    "c"));  // emoji: 4 bytes
  EXPECT_FALSE(Match("a??c",
                     "a\xC3\xA9"
                     "c"));
  EXPECT_TRUE(Match("??", "\xE6\x97\xA5\xE6\x9C\xAC"));  // 日本
  EXPECT_FALSE(Match("?", ""));
  EXPECT_TRUE(Match("*?", "\xC3\xA9"));
  EXPECT_FALSE(Match("*??", "\xC3\xA9"));
}

TEST(GlobTest, LiteralPrefixStopsAtFirstWildcard) {
  EXPECT_EQ(MustCompile("get_*").literal_prefix(), "get_");
  EXPECT_EQ(MustCompile("ab?d*").literal_prefix(), "ab");
  EXPECT_EQ(MustCompile("*x").literal_prefix(), "");
  EXPECT_FALSE(MustCompile("get_*").is_literal());
  EXPECT_FALSE(MustCompile("get_*").matches_all());
}

TEST(GlobTest, ConcatenationMatchesLikeTheBuiltString) {
  const Glob glob = MustCompile("dataset:crm/*");
  EXPECT_TRUE(glob.Matches("dataset", ':', "crm/contacts"));
  EXPECT_TRUE(glob.Matches("dataset", ':', "crm/"));
  EXPECT_FALSE(glob.Matches("dataset", ':', "hr/contacts"));
  EXPECT_FALSE(glob.Matches("datase", ':', "tcrm/x"));
  EXPECT_FALSE(glob.Matches("data", ':', ""));
  EXPECT_TRUE(
      MustCompile("file:/etc/passwd").Matches("file", ':', "/etc/passwd"));
  EXPECT_FALSE(
      MustCompile("file:/etc/passwd").Matches("file", ':', "/etc/passw"));
  EXPECT_TRUE(MustCompile("*:secret").Matches("vault", ':', "secret"));
  EXPECT_TRUE(MustCompile("db?x").Matches("db", ':', "x"));
  EXPECT_TRUE(MustCompile("*").Matches("", ':', ""));
}

// Reference: dynamic programming over code points.
std::vector<std::string> CodePoints(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() &&
           (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80)
      ++n;
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

bool ReferenceMatch(std::string_view pattern, std::string_view text) {
  const std::vector<std::string> p = CodePoints(pattern);
  const std::vector<std::string> t = CodePoints(text);
  std::vector<std::vector<bool>> dp(p.size() + 1,
                                    std::vector<bool>(t.size() + 1, false));
  dp[0][0] = true;
  for (size_t i = 1; i <= p.size(); ++i) {
    for (size_t j = 0; j <= t.size(); ++j) {
      if (p[i - 1] == "*") {
        dp[i][j] = dp[i - 1][j] || (j > 0 && dp[i][j - 1]);
      } else if (j > 0) {
        dp[i][j] =
            dp[i - 1][j - 1] && (p[i - 1] == "?" || p[i - 1] == t[j - 1]);
      }
    }
  }
  return dp[p.size()][t.size()];
}

TEST(GlobTest, AgreesWithReferenceOnRandomInputs) {
  const std::vector<std::string> pattern_atoms = {"a", "b", "\xC3\xA9", "*",
                                                  "?"};
  const std::vector<std::string> text_atoms = {"a", "b", "\xC3\xA9",
                                               "\xE6\x97\xA5"};
  std::mt19937 rng(20261126);
  for (int round = 0; round < 20000; ++round) {
    std::string pattern;
    const int pattern_length = 1 + static_cast<int>(rng() % 7);
    for (int i = 0; i < pattern_length; ++i) {
      pattern += pattern_atoms[rng() % pattern_atoms.size()];
    }
    std::string text;
    const int text_length = static_cast<int>(rng() % 9);
    for (int i = 0; i < text_length; ++i) {
      text += text_atoms[rng() % text_atoms.size()];
    }
    const Glob glob = MustCompile(pattern);
    ASSERT_EQ(glob.Matches(text), ReferenceMatch(pattern, text))
        << "pattern " << pattern << " text " << text;
    if (!text.empty()) {
      const size_t cut = rng() % text.size();
      ASSERT_EQ(glob.Matches(std::string_view(text).substr(0, cut), text[cut],
                             std::string_view(text).substr(cut + 1)),
                glob.Matches(text))
          << "pattern " << pattern << " text " << text << " cut " << cut;
    }
  }
}

TEST(GlobTest, PathologicalPatternsFinishFast) {
  const std::string text(200000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(Match("a*a*a*a*a*a*a*a*b", text));
  EXPECT_FALSE(Match("*a*a*a*a*a*a*a*a*?b", text));
  EXPECT_TRUE(Match("a*a*a*a*a*a*a*a*", text));
  EXPECT_FALSE(MustCompile("a*a*a*a*b").Matches(text, ':', text));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // A backtracking matcher takes astronomically long here; a linear one a
  // few milliseconds. The bound is loose for slow sanitizer builds.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

}  // namespace
}  // namespace verdict::policy
