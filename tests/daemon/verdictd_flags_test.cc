// The real verdictd's command line: --help, usage errors and flags over a
// configuration file.

#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/verdictd_process.h"

namespace verdict::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdPath;
using ::verdict::testing::VerdictdProcess;

constexpr char kFixtureDir[] = "tests/testdata/service/policies";

TEST(VerdictdFlagsTest, HelpPrintsUsageToStdoutAndExitsZero) {
  absl::StatusOr<ProcessResult> result = RunProcess(VerdictdPath(), {"--help"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_THAT(result->out, StartsWith("usage: verdictd [--config FILE]"));
  EXPECT_THAT(result->out, HasSubstr("--metrics-listen ADDR"));
  EXPECT_THAT(result->err, IsEmpty());
}

TEST(VerdictdFlagsTest, UsageErrorsExitTwoWithoutServing) {
  for (const char* arg : {"--bogus", "--listen", "extra"}) {
    absl::StatusOr<ProcessResult> result =
        RunProcess(VerdictdPath(), {"--policies", kFixtureDir, arg});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, 2) << arg;
    EXPECT_THAT(result->err, StartsWith("verdictd: ")) << arg;
    EXPECT_THAT(result->err, HasSubstr("run 'verdictd --help' for usage"));
    EXPECT_THAT(result->err, Not(HasSubstr("serving on")));
    EXPECT_THAT(result->out, IsEmpty());
  }
}

TEST(VerdictdFlagsTest, FlagsOverrideTheConfigurationFile) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "verdictd_flags.yaml");
  std::ofstream(path) << "policies: {dir: tests/testdata/no-such-dir}\n"
                         "metrics_listen: 127.0.0.1:0\n";
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start(
          {"--config", path, "--policies", kFixtureDir, "--metrics-listen="});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT((*server)->output(),
              HasSubstr(absl::StrCat("policies in ", kFixtureDir)));
  EXPECT_THAT((*server)->output(), HasSubstr("metrics off"));
  EXPECT_THAT((*server)->metrics_address(), IsEmpty());
  EXPECT_EQ((*server)->Stop(), 0) << (*server)->output();
}

}  // namespace
}  // namespace verdict::daemon
