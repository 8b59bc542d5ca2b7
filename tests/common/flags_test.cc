// server/common/flags: the flag syntax of verdictd and every verdict
// subcommand.

#include "server/common/flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::vector<FlagSpec> kSpecs = {
    {"server", "ADDR", "address"},
    {"role", "R", "a role", Repeated::kCollect},
    {"json", "", "json"},
    {"listen", "ADDR", "overridable", Repeated::kLastWins},
};

TEST(FlagsTest, SpaceAndEqualsFormsRepeatedFlagsAndPositionals) {
  absl::StatusOr<ParsedFlags> args =
      ParseFlags(kSpecs, {"dir", "--server", "a:1", "--role=x", "--role", "y=z",
                          "--json", "--", "--not-a-flag"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("server", "default"), "a:1");
  EXPECT_THAT(args->GetAll("role"), ElementsAre("x", "y=z"));
  EXPECT_TRUE(args->Has("json"));
  EXPECT_THAT(args->positional(), ElementsAre("dir", "--not-a-flag"));
}

TEST(FlagsTest, AbsentFlagsFallBack) {
  absl::StatusOr<ParsedFlags> args = ParseFlags(kSpecs, {});
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE(args->Has("server"));
  EXPECT_EQ(args->Get("server", "127.0.0.1:50051"), "127.0.0.1:50051");
  EXPECT_THAT(args->GetAll("role"), IsEmpty());
  EXPECT_THAT(args->positional(), IsEmpty());
}

TEST(FlagsTest, EmptyValueIsAValue) {
  absl::StatusOr<ParsedFlags> args = ParseFlags(kSpecs, {"--server="});
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(args->Has("server"));
  EXPECT_EQ(args->Get("server", "x"), "");
}

TEST(FlagsTest, ALaterLastWinsFlagReplacesTheEarlierOne) {
  absl::StatusOr<ParsedFlags> args = ParseFlags(
      kSpecs, {"--listen", "127.0.0.1:0", "-listen=unix:/s", "--listen", "b"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("listen", "x"), "b");
  EXPECT_THAT(args->GetAll("listen"), ElementsAre("b"));

  args = ParseFlags(kSpecs, {"--listen", "a", "--listen="});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_TRUE(args->Has("listen"));
  EXPECT_EQ(args->Get("listen", "x"), "");
}

TEST(FlagsTest, Errors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--sever", "a"}, "unknown flag --sever"},
      {{"--server"}, "--server needs a value"},
      {{"--json=true"}, "--json takes no value"},
      {{"--server", "a", "--server", "b"}, "--server given more than once"},
      {{"-x"}, "unknown flag -x"},
      {{"--listen"}, "--listen needs a value (ADDR)"},
      {{"--listen_x=1"}, "unknown flag --listen_x=1"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ParsedFlags> args = ParseFlags(kSpecs, c.args);
    ASSERT_FALSE(args.ok()) << c.message;
    EXPECT_THAT(args.status().message(), HasSubstr(c.message));
  }
}

TEST(FlagsTest, UsageListsEveryFlag) {
  const std::string usage = FlagsUsage(kSpecs);
  EXPECT_THAT(usage, HasSubstr("--server ADDR"));
  EXPECT_THAT(usage, HasSubstr("--role R..."));
  EXPECT_THAT(usage, HasSubstr("--json"));
  EXPECT_THAT(usage, HasSubstr("--listen ADDR  "));
  EXPECT_THAT(usage, Not(HasSubstr("--listen ADDR...")));
}

}  // namespace
}  // namespace verdict
