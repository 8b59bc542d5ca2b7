#include "tests/testing/shared_verdictd.h"

#include <memory>

namespace verdict::testing {

void SharedVerdictdTest::SetUpTestSuite() {
  absl::StatusOr<std::unique_ptr<VerdictdProcess>> server =
      VerdictdProcess::Start({"--policies", kServicePolicies});
  if (!server.ok()) {
    startup_error_ = new std::string(server.status().ToString());
    return;
  }
  server_ = server->release();
}

void SharedVerdictdTest::TearDownTestSuite() {
  delete server_;
  server_ = nullptr;
  delete startup_error_;
  startup_error_ = nullptr;
}

void SharedVerdictdTest::SetUp() {
  ASSERT_NE(server_, nullptr) << (startup_error_ ? *startup_error_ : "");
}

}  // namespace verdict::testing
