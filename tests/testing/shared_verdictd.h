// SharedVerdictdTest: a fixture whose tests share one real verdictd serving
// tests/testdata/service/policies, started once per test suite.
//
// gtest reports a failure in SetUpTestSuite as skipped tests, so a start
// failure is kept and fails each test in SetUp() instead. Fixtures that
// override SetUp() call SharedVerdictdTest::SetUp() first and return if it
// failed (HasFatalFailure()).

#ifndef VERDICT_TESTS_TESTING_SHARED_VERDICTD_H_
#define VERDICT_TESTS_TESTING_SHARED_VERDICTD_H_

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/verdictd_process.h"

namespace verdict::testing {

inline constexpr char kServicePolicies[] = "tests/testdata/service/policies";

class SharedVerdictdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static inline VerdictdProcess* server_ = nullptr;

 private:
  static inline std::string* startup_error_ = nullptr;
};

}  // namespace verdict::testing

#endif  // VERDICT_TESTS_TESTING_SHARED_VERDICTD_H_
