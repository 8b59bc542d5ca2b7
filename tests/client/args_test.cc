// client/cli/args: the flag syntax every verdict subcommand shares.

#include "client/cli/args.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace verdict::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::vector<FlagSpec> kSpecs = {
    {"server", "ADDR", false, "address"},
    {"role", "R", true, "a role"},
    {"json", "", false, "json"},
};

TEST(ArgsTest, SpaceAndEqualsFormsRepeatedFlagsAndPositionals) {
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(kSpecs, {"dir", "--server", "a:1", "--role=x", "--role", "y=z",
                         "--json", "--", "--not-a-flag"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("server", "default"), "a:1");
  EXPECT_THAT(args->GetAll("role"), ElementsAre("x", "y=z"));
  EXPECT_TRUE(args->Has("json"));
  EXPECT_THAT(args->positional(), ElementsAre("dir", "--not-a-flag"));
}

TEST(ArgsTest, AbsentFlagsFallBack) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(kSpecs, {});
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE(args->Has("server"));
  EXPECT_EQ(args->Get("server", "127.0.0.1:50051"), "127.0.0.1:50051");
  EXPECT_THAT(args->GetAll("role"), IsEmpty());
  EXPECT_THAT(args->positional(), IsEmpty());
}

TEST(ArgsTest, EmptyValueIsAValue) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(kSpecs, {"--server="});
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(args->Has("server"));
  EXPECT_EQ(args->Get("server", "x"), "");
}

TEST(ArgsTest, Errors) {
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
  };
  for (const Case& c : cases) {
    absl::StatusOr<ParsedArgs> args = ParseArgs(kSpecs, c.args);
    ASSERT_FALSE(args.ok()) << c.message;
    EXPECT_THAT(args.status().message(), HasSubstr(c.message));
  }
}

TEST(ArgsTest, UsageListsEveryFlag) {
  const std::string usage = FlagsUsage(kSpecs);
  EXPECT_THAT(usage, HasSubstr("--server ADDR"));
  EXPECT_THAT(usage, HasSubstr("--role R..."));
  EXPECT_THAT(usage, HasSubstr("--json"));
}

}  // namespace
}  // namespace verdict::cli
