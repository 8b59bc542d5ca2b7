// server/daemon/command_line: verdictd's flags and how they override the
// configuration file.

#include "server/daemon/command_line.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config.h"

namespace verdict::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

// A configuration with a non-default value for every setting a flag can
// override.
config::Config Configured() {
  config::Config config;
  config.policies.dir = "/etc/verdict/policies";
  config.listen = "127.0.0.1:6000";
  config.metrics_listen = "127.0.0.1:6001";
  config.audit.path = "/var/log/verdict/decisions.log";
  return config;
}

config::Config Overridden(const std::vector<std::string>& args) {
  absl::StatusOr<CommandLine> command_line = ParseCommandLine(args);
  EXPECT_TRUE(command_line.ok()) << command_line.status();
  config::Config config = Configured();
  if (command_line.ok()) ApplyOverrides(*command_line, &config);
  return config;
}

TEST(CommandLineTest, NoFlagsKeepsTheConfiguration) {
  absl::StatusOr<CommandLine> command_line = ParseCommandLine({});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  EXPECT_FALSE(command_line->help);
  EXPECT_EQ(command_line->config_file, "");
  EXPECT_EQ(command_line->metrics_listen, std::nullopt);

  const config::Config config = Overridden({});
  EXPECT_EQ(config.policies.dir, "/etc/verdict/policies");
  EXPECT_EQ(config.listen, "127.0.0.1:6000");
  EXPECT_EQ(config.metrics_listen, "127.0.0.1:6001");
  EXPECT_EQ(config.audit.path, "/var/log/verdict/decisions.log");
}

TEST(CommandLineTest, EveryFlagOverridesItsSetting) {
  absl::StatusOr<CommandLine> command_line =
      ParseCommandLine({"--config", "verdictd.yaml", "--policies", "p",
                        "--listen=unix:/run/v.sock", "--metrics-listen",
                        "127.0.0.1:0", "--audit-log", "/tmp/decisions.log"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  EXPECT_EQ(command_line->config_file, "verdictd.yaml");

  config::Config config = Configured();
  ApplyOverrides(*command_line, &config);
  EXPECT_EQ(config.policies.dir, "p");
  EXPECT_EQ(config.listen, "unix:/run/v.sock");
  EXPECT_EQ(config.metrics_listen, "127.0.0.1:0");
  EXPECT_EQ(config.audit.path, "/tmp/decisions.log");
}

TEST(CommandLineTest, AnEmptyMetricsListenTurnsMetricsOff) {
  absl::StatusOr<CommandLine> command_line =
      ParseCommandLine({"--metrics-listen="});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  EXPECT_THAT(command_line->metrics_listen, Optional(std::string()));
  EXPECT_EQ(Overridden({"--metrics-listen="}).metrics_listen, "");
  EXPECT_EQ(Overridden({"--metrics-listen", ""}).metrics_listen, "");
}

// Unlike --metrics-listen, these have no "off": empty means not given.
TEST(CommandLineTest, EmptyPoliciesListenAndAuditLogKeepTheConfiguration) {
  const config::Config config =
      Overridden({"--policies=", "--listen=", "--audit-log="});
  EXPECT_EQ(config.policies.dir, "/etc/verdict/policies");
  EXPECT_EQ(config.listen, "127.0.0.1:6000");
  EXPECT_EQ(config.audit.path, "/var/log/verdict/decisions.log");
}

// Wrappers (the tests' VerdictdProcess, scripts) put defaults first and let
// later flags override them.
TEST(CommandLineTest, ALaterFlagOverridesAnEarlierOne) {
  const config::Config config =
      Overridden({"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                  "--listen", "unix:/run/v.sock", "--metrics-listen="});
  EXPECT_EQ(config.listen, "unix:/run/v.sock");
  EXPECT_EQ(config.metrics_listen, "");
}

TEST(CommandLineTest, Help) {
  absl::StatusOr<CommandLine> command_line = ParseCommandLine({"--help"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  EXPECT_TRUE(command_line->help);
  const std::string usage = Usage();
  for (const char* flag :
       {"--config FILE", "--policies DIR", "--listen ADDR",
        "--metrics-listen ADDR", "--audit-log PATH", "--help", "Exit status"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
}

TEST(CommandLineTest, UsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--bogus"}, "unknown flag --bogus"},
      {{"--metrics_listen=x"}, "unknown flag --metrics_listen=x"},
      {{"--listen"}, "--listen needs a value (ADDR)"},
      {{"--help=yes"}, "--help takes no value"},
      {{"--policies", "p", "extra"}, "unexpected argument extra"},
      {{"--", "--listen"}, "unexpected argument --listen"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CommandLine> command_line = ParseCommandLine(c.args);
    ASSERT_FALSE(command_line.ok()) << c.message;
    EXPECT_EQ(command_line.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(command_line.status().message(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace verdict::daemon
