// `verdict bench`: its latency histogram, and a one-second smoke run of the
// built CLI against a live verdictd (closed and open loop) that must report
// decisions and no failed call, over Authorizer.Check, Envoy ext_authz and
// AuthZEN.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bench/histogram.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/shared_verdictd.h"
#include "tests/testing/verdictd_process.h"

namespace verdict {
namespace {

using ::verdict::bench::LatencyHistogram;
using ::verdict::testing::ProcessResult;
using ::verdict::testing::RunProcess;
using ::verdict::testing::VerdictdProcess;
using ::verdict::testing::VerdictPath;

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (uint64_t v = 1; v <= 100; ++v) histogram.Record(v);
  EXPECT_EQ(histogram.count(), 100u);
  EXPECT_EQ(histogram.min(), 1u);
  EXPECT_EQ(histogram.max(), 100u);
  EXPECT_EQ(histogram.Percentile(0.5), 50u);
  EXPECT_EQ(histogram.Percentile(0.99), 99u);
  EXPECT_EQ(histogram.Percentile(1.0), 100u);
  EXPECT_DOUBLE_EQ(histogram.mean(), 50.5);
}

TEST(LatencyHistogramTest, LargeValuesWithinOnePercent) {
  LatencyHistogram histogram;
  // 1 us .. 10 ms in 10,000 even steps.
  for (uint64_t i = 1; i <= 10000; ++i) histogram.Record(i * 1000);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = q * 10000 * 1000;
    const double reported = static_cast<double>(histogram.Percentile(q));
    EXPECT_GE(reported, exact) << q;
    EXPECT_LE(reported, exact * 1.01) << q;
  }
  EXPECT_EQ(histogram.Percentile(1.0), 10000u * 1000);
}

TEST(LatencyHistogramTest, MergeAddsAndHugeValuesClamp) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.Record(10);
  b.Record(uint64_t{1} << 62);
  a.Merge(b);
  EXPECT_EQ(a.count(), 2u);
  EXPECT_EQ(a.min(), 10u);
  EXPECT_EQ(a.Percentile(0.5), 10u);
  EXPECT_GT(a.Percentile(1.0), uint64_t{1} << 46);
  EXPECT_EQ(LatencyHistogram().Percentile(0.5), 0u);
}

class VerdictBenchTest : public ::verdict::testing::SharedVerdictdTest {
 protected:
  // Runs `verdict bench --server <live> --json args...` and parses the report.
  nlohmann::json Bench(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"bench", "--server", server_->address(),
                                     "--json"};
    full.insert(full.end(), args.begin(), args.end());
    absl::StatusOr<ProcessResult> result =
        RunProcess(VerdictPath(), full, absl::Seconds(30));
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return nlohmann::json();
    EXPECT_EQ(result->exit_code, 0) << result->out << result->err;
    nlohmann::json report =
        nlohmann::json::parse(result->out, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(report.is_object()) << result->out;
    return report;
  }
};

TEST_F(VerdictBenchTest, ClosedLoopReportsThroughputAndNoErrors) {
  const nlohmann::json report =
      Bench({"--duration", "1s", "--warmup", "0s", "--connections", "2",
             "--inflight", "4"});
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["mode"], "closed");
  EXPECT_EQ(report["errors"], 0) << report["first_error"];
  EXPECT_GT(report["decisions_per_second"].get<double>(), 0);
  // The built-in mix against the fixture policies has both outcomes.
  EXPECT_GT(report["allows"].get<int64_t>(), 0);
  EXPECT_GT(report["denies"].get<int64_t>(), 0);
  EXPECT_GT(report["latency_us"]["p99"].get<double>(), 0);
  EXPECT_LE(report["latency_us"]["p50"].get<double>(),
            report["latency_us"]["p99"].get<double>());
}

// 200 calls scheduled in one second: a loaded test machine may hold a few
// back at the inflight cap, never add any.
void ExpectAboutTheScheduledRate(const nlohmann::json& report) {
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["mode"], "open");
  EXPECT_EQ(report["errors"], 0) << report["first_error"];
  const int64_t sent =
      report["decisions"].get<int64_t>() + report["not_sent"].get<int64_t>();
  EXPECT_LE(sent, 201);
  EXPECT_GE(sent, 190);
}

TEST_F(VerdictBenchTest, OpenLoopSendsAboutTheScheduledRate) {
  ExpectAboutTheScheduledRate(
      Bench({"--duration", "1s", "--warmup", "0s", "--rate", "200"}));
}

TEST_F(VerdictBenchTest, SpinningGeneratorKeepsTheScheduleToo) {
  const nlohmann::json report =
      Bench({"--duration", "1s", "--warmup", "0s", "--rate", "200", "--spin"});
  ExpectAboutTheScheduledRate(report);
  EXPECT_GT(report["allows"].get<int64_t>(), 0);
  EXPECT_GT(report["denies"].get<int64_t>(), 0);
}

TEST_F(VerdictBenchTest, DecisionsModePrintsOneLinePerRequest) {
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictPath(), {"bench", "--server", server_->address(), "--decisions"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->err;
  EXPECT_THAT(result->out, ::testing::HasSubstr("allow\n"));
  EXPECT_THAT(result->out, ::testing::HasSubstr("deny\n"));
}

// One verdictd serving the fixture policies on gRPC and, with an `http`
// section, AuthZEN; loopback callers may assert identities.
class GatewayBenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    namespace fs = std::filesystem;
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr ? tmp : "/tmp") / "verdict-gwbench-XXXXXX")
            .string();
    if (mkdtemp(pattern.data()) == nullptr) return;
    dir_ = new fs::path(pattern);
    std::ofstream(*dir_ / "verdictd.yaml")
        << "policies: {dir: "
        << fs::absolute(::verdict::testing::kServicePolicies).string()
        << ", watch: false}\n"
        << "http: {listen: \"127.0.0.1:0\", threads: 2}\n";
    absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
        VerdictdProcess::Start(
            {"--config", (*dir_ / "verdictd.yaml").string()});
    if (!server.ok()) return;
    server_ = server->release();
    const std::string output = server_->output();
    const std::string marker = "AuthZEN on http://";
    const size_t at = output.find(marker);
    if (at == std::string::npos) return;
    http_ = new std::string(output.substr(at + marker.size()));
    *http_ = http_->substr(0, http_->find_first_of("/\n"));
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete http_;
    http_ = nullptr;
    if (dir_ != nullptr) {
      std::error_code ignored;
      std::filesystem::remove_all(*dir_, ignored);
    }
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(http_, nullptr) << server_->output();
  }

  // `verdict bench --api api --server address --json args...`.
  static nlohmann::json Bench(const std::string& api,
                              const std::string& address,
                              const std::vector<std::string>& args) {
    std::vector<std::string> full = {"bench",    "--api", api,
                                     "--server", address, "--json"};
    full.insert(full.end(), args.begin(), args.end());
    absl::StatusOr<ProcessResult> result =
        RunProcess(VerdictPath(), full, absl::Seconds(30));
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return nlohmann::json();
    EXPECT_EQ(result->exit_code, 0) << result->out << result->err;
    return nlohmann::json::parse(result->out, nullptr,
                                 /*allow_exceptions=*/false);
  }

  static void ExpectAllowsAndDenies(const nlohmann::json& report) {
    ASSERT_TRUE(report.is_object());
    EXPECT_EQ(report["errors"], 0) << report["first_error"];
    EXPECT_GT(report["allows"].get<int64_t>(), 0);
    EXPECT_GT(report["denies"].get<int64_t>(), 0);
    EXPECT_GT(report["latency_us"]["p50"].get<double>(), 0);
    EXPECT_LE(report["latency_us"]["p50"].get<double>(),
              report["latency_us"]["p99"].get<double>());
  }

  static inline std::filesystem::path* dir_ = nullptr;
  static inline VerdictdProcess* server_ = nullptr;
  static inline std::string* http_ = nullptr;  // HOST:PORT of AuthZEN
};

TEST_F(GatewayBenchTest, ExtAuthzCountsAllowsAndDenies) {
  // The built-in mix as a gateway sends it: its listing is only
  // authenticated (allowed for the asserted principal), its calls decided
  // on the principal alone.
  ExpectAllowsAndDenies(Bench("ext_authz", server_->address(),
                              {"--duration", "1s", "--warmup", "0s",
                               "--connections", "2", "--inflight", "4"}));
}

TEST_F(GatewayBenchTest, AuthzenCountsAllowsAndDenies) {
  const nlohmann::json closed =
      Bench("authzen", *http_,
            {"--duration", "1s", "--warmup", "0s", "--connections", "2"});
  ExpectAllowsAndDenies(closed);
  EXPECT_EQ(closed["mode"], "closed");
  const nlohmann::json open =
      Bench("authzen", *http_,
            {"--duration", "1s", "--warmup", "0s", "--rate", "200"});
  ASSERT_TRUE(open.is_object());
  EXPECT_EQ(open["mode"], "open");
  EXPECT_EQ(open["errors"], 0) << open["first_error"];
  const int64_t sent =
      open["decisions"].get<int64_t>() + open["not_sent"].get<int64_t>();
  EXPECT_LE(sent, 201);
  EXPECT_GE(sent, 190);
}

TEST_F(GatewayBenchTest, AuthzenDecisionsModeAndErrors) {
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictPath(),
      {"bench", "--api", "authzen", "--server", *http_, "--decisions"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->out << result->err;
  EXPECT_THAT(result->out, ::testing::HasSubstr("allow\n"));
  EXPECT_THAT(result->out, ::testing::HasSubstr("deny\n"));
  // A body without action and resource is refused: an error, not a deny.
  const std::filesystem::path bad = *dir_ / "bad.jsonl";
  std::ofstream(bad) << R"({"subject":{"type":"agent","id":"a"}})"
                     << "\n";
  absl::StatusOr<ProcessResult> refused = RunProcess(
      VerdictPath(), {"bench", "--api", "authzen", "--server", *http_,
                      "--requests", bad.string(), "--decisions"});
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->exit_code, 1) << refused->out << refused->err;
  EXPECT_THAT(refused->out, ::testing::StartsWith("error: HTTP 400"));
}

TEST(VerdictBenchFlagsTest, UnreachableServerCountsErrorsAndExitsOne) {
  // Port 1 on loopback: nothing listens, connections are refused.
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictPath(), {"bench", "--server", "127.0.0.1:1", "--duration", "200ms",
                      "--warmup", "0s", "--json"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1) << result->out << result->err;
  const nlohmann::json report =
      nlohmann::json::parse(result->out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(report.is_object()) << result->out;
  EXPECT_GT(report["errors"].get<int64_t>(), 0);
  EXPECT_EQ(report["decisions"].get<int64_t>(), 0);
  EXPECT_THAT(report["first_error"].get<std::string>(),
              ::testing::StartsWith("code 14"));
}

TEST(VerdictBenchFlagsTest, BadFlagsExitTwo) {
  absl::StatusOr<ProcessResult> result = RunProcess(
      VerdictPath(), {"bench", "--server", "127.0.0.1:1", "--rate", "-5"});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_THAT(result->err, ::testing::HasSubstr("--rate"));
}

}  // namespace
}  // namespace verdict
